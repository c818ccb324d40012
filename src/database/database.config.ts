import { resolve } from 'node:path';

/** Where the embedded SQLite database lives when nothing else is configured. */
export const DEFAULT_DATABASE_PATH = 'data/agent-core.sqlite';

/** The database settings of agent-core, resolved once from the environment. */
export interface DatabaseConfig {
  /** Absolute path of the SQLite file, or `:memory:`. */
  readonly database: string;
  /** TypeORM query logging (`DATABASE_LOGGING=true`). */
  readonly logging: boolean;
}

/**
 * Reads the database configuration: the one place that looks at `process.env` for it.
 *
 * - `DATABASE_PATH` names the SQLite file (relative paths resolve from the working directory).
 * - Otherwise `NODE_ENV=test` gives `:memory:`, as plan BJ-5 says.
 * - Otherwise the file is {@link DEFAULT_DATABASE_PATH}.
 */
export function loadDatabaseConfig(env: NodeJS.ProcessEnv = process.env): DatabaseConfig {
  const path = env.DATABASE_PATH?.trim();
  let database: string;
  if (path) {
    database = path === ':memory:' ? path : resolve(path);
  } else if (env.NODE_ENV === 'test') {
    database = ':memory:';
  } else {
    database = resolve(DEFAULT_DATABASE_PATH);
  }
  return { database, logging: env.DATABASE_LOGGING === 'true' };
}
