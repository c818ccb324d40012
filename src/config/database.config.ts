import { resolve } from 'node:path';
import { registerAs } from '@nestjs/config';
import { z } from 'zod';
import { DatabaseConfigError } from './config.errors';
import {
  Environment,
  flag,
  nodeEnvironment,
  nonNegativeInteger,
  optionalText,
  positiveInteger,
  validateEnvironment,
} from './environment';

/** Where the embedded SQLite database lives when nothing else is configured. */
export const DEFAULT_DATABASE_PATH = 'data/agent-core.sqlite';

/** Connections per process to a server database unless `DATABASE_POOL_SIZE` says otherwise. */
export const DEFAULT_POOL_SIZE = 10;

/** How long connecting to a server database may take unless `DATABASE_CONNECT_TIMEOUT_MS` says otherwise. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/**
 * How long one query may run unless `DATABASE_QUERY_TIMEOUT_MS` says otherwise. Every query of
 * the store is a single-row lookup or write that takes milliseconds; five seconds only cuts off a
 * hung or frozen server, so a caller gets an error it can act on instead of waiting forever.
 */
export const DEFAULT_QUERY_TIMEOUT_MS = 5_000;

/**
 * How long a booting process keeps trying to reach a server database that is not up yet, unless
 * `DATABASE_CONNECT_RETRY_MS` says otherwise: long enough for a server started beside it (compose,
 * Kubernetes) to accept connections, short enough that a wrong address still fails the boot.
 */
export const DEFAULT_CONNECT_RETRY_MS = 30_000;

/** The TypeORM driver of a server database: `postgres` (through `pg`) or `mysql` (MariaDB and MySQL, through `mysql2`). */
export type ServerDatabaseType = 'postgres' | 'mysql';

/** URL scheme of `DATABASE_URL` -> the server database it selects, and that server's default port. */
const SERVER_SCHEMES: Readonly<
  Record<string, { type: ServerDatabaseType; dialect: ServerDatabaseConfig['dialect']; defaultPort: number }>
> = {
  'postgres:': { type: 'postgres', dialect: 'postgres', defaultPort: 5432 },
  'postgresql:': { type: 'postgres', dialect: 'postgres', defaultPort: 5432 },
  'mysql:': { type: 'mysql', dialect: 'mysql', defaultPort: 3306 },
  'mariadb:': { type: 'mysql', dialect: 'mariadb', defaultPort: 3306 },
};

/** What every engine's configuration has. */
interface CommonDatabaseConfig {
  /** TypeORM query logging (`DATABASE_LOGGING=true`); token values are never logged. */
  readonly logging: boolean;
}

/** The embedded SQLite database: the default engine, which needs no server. */
export interface SqliteDatabaseConfig extends CommonDatabaseConfig {
  readonly type: 'better-sqlite3';
  /** Absolute path of the SQLite file, or `:memory:`. */
  readonly database: string;
  /** What to tell a human about where the data is: the file path. */
  readonly location: string;
}

/** A PostgreSQL, MariaDB or MySQL server, chosen by `DATABASE_URL`. */
export interface ServerDatabaseConfig extends CommonDatabaseConfig {
  /** Which server family, and so which set of migrations. */
  readonly type: ServerDatabaseType;
  /**
   * The TypeORM driver type the URL asks for: `mariadb://` is `mariadb`. A `mysql://` URL that
   * turns out to reach a MariaDB server is switched to `mariadb` when it connects.
   */
  readonly dialect: 'postgres' | 'mysql' | 'mariadb';
  readonly host: string;
  readonly port: number;
  /** The database (schema, on MariaDB/MySQL) name from the URL's path. */
  readonly database: string;
  /** The login; unset lets the driver pick its default (e.g. `PGUSER`). */
  readonly username: string | undefined;
  /** The password from the URL. Never log it; {@link location} is the printable form. */
  readonly password: string | undefined;
  /** `DATABASE_URL` with the password replaced by `***`: safe to print. */
  readonly location: string;
  /** Maximum connections in this process's pool (`DATABASE_POOL_SIZE`). */
  readonly poolSize: number;
  /**
   * How long opening a connection, or waiting for a free one of the pool, may take, in
   * milliseconds (`DATABASE_CONNECT_TIMEOUT_MS`).
   */
  readonly connectTimeoutMs: number;
  /**
   * How long one query may take, in milliseconds (`DATABASE_QUERY_TIMEOUT_MS`): enforced by the
   * server (`statement_timeout`, `max_statement_time`) and by the driver, so a frozen server is
   * cut off too.
   */
  readonly queryTimeoutMs: number;
  /**
   * How long boot keeps retrying a server that refuses or does not answer, in milliseconds
   * (`DATABASE_CONNECT_RETRY_MS`; `0` fails at the first refusal).
   */
  readonly connectRetryMs: number;
}

/** The `database` namespace of the configuration: which engine, where, and how to connect. */
export type DatabaseConfig = SqliteDatabaseConfig | ServerDatabaseConfig;

/** The variables the database is configured by, as they must look. */
const databaseEnvironment = z
  .object({
    NODE_ENV: nodeEnvironment,
    DATABASE_URL: optionalText,
    DATABASE_PATH: optionalText,
    DATABASE_POOL_SIZE: positiveInteger(DEFAULT_POOL_SIZE),
    DATABASE_CONNECT_TIMEOUT_MS: positiveInteger(DEFAULT_CONNECT_TIMEOUT_MS),
    DATABASE_QUERY_TIMEOUT_MS: positiveInteger(DEFAULT_QUERY_TIMEOUT_MS),
    DATABASE_CONNECT_RETRY_MS: nonNegativeInteger(DEFAULT_CONNECT_RETRY_MS),
    DATABASE_LOGGING: flag,
  })
  .refine((env) => !(env.DATABASE_URL && env.DATABASE_PATH), {
    path: ['DATABASE_PATH'],
    message: 'cannot be combined with DATABASE_URL: set one of them',
  });

/**
 * Reads the `database` namespace from `env`.
 *
 * - `DATABASE_URL` selects a server: `postgres://` or `postgresql://` is PostgreSQL,
 *   `mysql://` or `mariadb://` is MariaDB/MySQL, as `scheme://user:password@host:port/database`
 *   (user and password percent-encoded). `DATABASE_POOL_SIZE` and `DATABASE_CONNECT_TIMEOUT_MS`
 *   tune the connection pool, `DATABASE_QUERY_TIMEOUT_MS` bounds every query, and
 *   `DATABASE_CONNECT_RETRY_MS` how long boot waits for a server that is not up yet.
 * - Without it, SQLite: `DATABASE_PATH` names the file (relative paths resolve from the working
 *   directory); otherwise `NODE_ENV=test` gives `:memory:`, so every test module starts empty;
 *   otherwise the file is {@link DEFAULT_DATABASE_PATH}.
 *
 * @throws DatabaseConfigError for a malformed or unsupported `DATABASE_URL` (the message never
 *   contains its password), for `DATABASE_URL` together with `DATABASE_PATH`, or for a pool
 *   setting that is not a positive integer.
 */
export function readDatabaseConfig(env: Environment): DatabaseConfig {
  const vars = validateEnvironment(
    databaseEnvironment,
    env,
    (variable, problem) => new DatabaseConfigError(variable, problem),
  );
  const logging = vars.DATABASE_LOGGING;
  if (vars.DATABASE_URL) {
    return {
      ...parseServerUrl(vars.DATABASE_URL),
      poolSize: vars.DATABASE_POOL_SIZE,
      connectTimeoutMs: vars.DATABASE_CONNECT_TIMEOUT_MS,
      queryTimeoutMs: vars.DATABASE_QUERY_TIMEOUT_MS,
      connectRetryMs: vars.DATABASE_CONNECT_RETRY_MS,
      logging,
    };
  }
  const path = vars.DATABASE_PATH;
  let database: string;
  if (path) {
    database = path === ':memory:' ? path : resolve(path);
  } else if (vars.NODE_ENV === 'test') {
    database = ':memory:';
  } else {
    database = resolve(DEFAULT_DATABASE_PATH);
  }
  return { type: 'better-sqlite3', database, location: database, logging };
}

/**
 * The `database` namespace, for `ConfigModule`: read from `process.env` once when the application
 * boots, injected as `@Inject(databaseConfig.KEY)`. Called with an environment, it reads that one.
 */
export const databaseConfig = registerAs('database', (env: Environment = process.env) => readDatabaseConfig(env));

/**
 * `url` with its password replaced by `***`, for messages and logs. A string that is not a URL
 * comes back as a placeholder rather than as itself, since where its password sits is unknown.
 */
export function redactDatabaseUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '<unparsable database URL>';
  }
  if (parsed.password) {
    parsed.password = '***';
  }
  return parsed.toString();
}

type ServerAddress = Omit<
  ServerDatabaseConfig,
  keyof CommonDatabaseConfig | 'poolSize' | 'connectTimeoutMs' | 'queryTimeoutMs' | 'connectRetryMs'
>;

function parseServerUrl(url: string): ServerAddress {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DatabaseConfigError(
      'DATABASE_URL',
      'is not a valid URL (expected scheme://user:password@host:port/database)',
    );
  }
  const scheme = SERVER_SCHEMES[parsed.protocol];
  if (!scheme) {
    throw new DatabaseConfigError(
      'DATABASE_URL',
      `has the unsupported scheme "${parsed.protocol}//" (use postgres://, postgresql://, mysql:// or mariadb://)`,
    );
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) {
    throw new DatabaseConfigError('DATABASE_URL', 'must name a host');
  }
  const database = decodeUrlPart(parsed.pathname.replace(/^\//, ''));
  if (!database || database.includes('/')) {
    throw new DatabaseConfigError(
      'DATABASE_URL',
      'must name exactly one database as its path, e.g. postgres://user@host:5432/agent_core',
    );
  }
  return {
    type: scheme.type,
    dialect: scheme.dialect,
    host,
    port: parsed.port ? Number(parsed.port) : scheme.defaultPort,
    database,
    username: parsed.username ? decodeUrlPart(parsed.username) : undefined,
    password: parsed.password ? decodeUrlPart(parsed.password) : undefined,
    location: redactDatabaseUrl(url),
  };
}

function decodeUrlPart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new DatabaseConfigError('DATABASE_URL', 'has a malformed percent-encoding in its user, password or database');
  }
}
