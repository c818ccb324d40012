import { DataSource, DataSourceOptions, MigrationExecutor, QueryRunner } from 'typeorm';
import { ServerDatabaseConfig, ServerDatabaseType } from '../config/database.config';
import { DatabaseConnectionError } from './database.errors';
import { SERVER_MIGRATIONS } from './migrations';
import { isMariaDb } from './migrations/mysql/server-flavor';
import { RedactingTypeOrmLogger } from './redacting-typeorm-logger';
import { serverEntitySchema } from './server-entity-schema';

/** The human name of each server engine, for messages. */
const ENGINE_NAMES: Readonly<Record<ServerDatabaseType, string>> = { postgres: 'PostgreSQL', mysql: 'MariaDB/MySQL' };

/** How long a booting process waits for another one that is migrating the same database. */
export const MIGRATION_LOCK_TIMEOUT_S = 120;

/** `pg_advisory_lock` key that serializes agent-core's migrations within one PostgreSQL database. */
const POSTGRES_MIGRATION_LOCK = 0x61676e74; // "agnt"

/** TypeORM options of a server database, by driver: PostgreSQL, or MariaDB/MySQL (`mysql` or `mariadb`). */
export type ServerDataSourceOptions = Extract<DataSourceOptions, { type: 'postgres' | 'mysql' | 'mariadb' }>;

/** True for the options of a server database, which {@link openServerDatabase} connects and migrates. */
export function isServerDatabase(options: DataSourceOptions): options is ServerDataSourceOptions {
  return options.type === 'postgres' || options.type === 'mysql' || options.type === 'mariadb';
}

/**
 * The TypeORM options of a server database: the entities mapped to the engine's types by
 * {@link serverEntitySchema}, that engine's {@link SERVER_MIGRATIONS}, and never `synchronize`.
 *
 * - PostgreSQL: uuids from the built-in `gen_random_uuid()` (PostgreSQL 13+), so no extension
 *   is installed.
 * - MariaDB/MySQL: times are written and read as UTC (`timezone: 'Z'`), so replicas in different
 *   time zones agree; `FOUND_ROWS` (already mysql2's default, set here on purpose) makes an
 *   UPDATE report the rows it *matched*, not only those it changed, as PostgreSQL and SQLite do:
 *   the repo's compare-and-swap relies on it when the new values equal the stored ones.
 */
export function serverDataSourceOptions(
  config: ServerDatabaseConfig,
  entities: readonly (new () => unknown)[],
): ServerDataSourceOptions {
  const common = {
    host: config.host,
    port: config.port,
    username: config.username,
    password: config.password,
    database: config.database,
    entities: entities.map((entity) => serverEntitySchema(entity, config.type)),
    migrations: [...SERVER_MIGRATIONS[config.type]],
    synchronize: false,
    migrationsRun: false,
    poolSize: config.poolSize,
    logging: config.logging,
    // TypeORM's own loggers print the query parameters, and those are the tokens.
    logger: new RedactingTypeOrmLogger(config.logging),
  };
  if (config.type === 'postgres') {
    return {
      ...common,
      type: 'postgres',
      connectTimeoutMS: config.connectTimeoutMs,
      uuidExtension: 'pgcrypto',
      installExtensions: false,
    };
  }
  return {
    ...common,
    type: config.dialect === 'mariadb' ? 'mariadb' : 'mysql',
    connectTimeout: config.connectTimeoutMs,
    timezone: 'Z',
    charset: 'utf8mb4',
    flags: ['FOUND_ROWS'],
  };
}

/**
 * Connects to a server database and brings its schema up to date before anything else uses it.
 *
 * Pending migrations run under a database-wide lock (`pg_advisory_lock` / `GET_LOCK`), so
 * replicas that boot together migrate once, one after the other.
 *
 * @throws DatabaseConnectionError when the server cannot be reached or refuses the login: the
 *   message names the engine, host, port, database and user, never the password.
 */
export async function openServerDatabase(options: ServerDataSourceOptions): Promise<DataSource> {
  const type = options.type === 'postgres' ? 'postgres' : 'mysql';
  let dataSource = await connect(type, options);
  if (options.type === 'mysql' && (await isMariaDb(dataSource))) {
    // TypeORM reads MariaDB's catalogue (e.g. `DEFAULT NULL`) right only as `mariadb`, whatever the URL said.
    await dataSource.destroy();
    dataSource = await connect(type, { ...options, type: 'mariadb' });
  }
  try {
    await runMigrationsExclusively(dataSource, type, String(options.database));
  } catch (error) {
    await dataSource.destroy();
    throw error;
  }
  return dataSource;
}

async function connect(type: ServerDatabaseType, options: DataSourceOptions): Promise<DataSource> {
  const dataSource = new DataSource(options);
  try {
    return await dataSource.initialize();
  } catch (error) {
    throw connectionError(type, options, error);
  }
}

async function runMigrationsExclusively(
  dataSource: DataSource,
  type: ServerDatabaseType,
  database: string,
): Promise<void> {
  const runner = dataSource.createQueryRunner('master');
  try {
    await lockMigrations(runner, type, database);
    try {
      await new MigrationExecutor(dataSource, runner).executePendingMigrations();
    } finally {
      await (type === 'postgres'
        ? runner.query(`SELECT pg_advisory_unlock($1)`, [POSTGRES_MIGRATION_LOCK])
        : runner.query(`SELECT RELEASE_LOCK(?)`, [mysqlLockName(database)]));
    }
  } finally {
    await runner.release();
  }
}

async function lockMigrations(runner: QueryRunner, type: ServerDatabaseType, database: string): Promise<void> {
  if (type === 'postgres') {
    await runner.query(`SET lock_timeout = '${MIGRATION_LOCK_TIMEOUT_S}s'`);
    await runner.query(`SELECT pg_advisory_lock($1)`, [POSTGRES_MIGRATION_LOCK]);
    await runner.query(`SET lock_timeout = DEFAULT`);
    return;
  }
  const [row] = (await runner.query(`SELECT GET_LOCK(?, ?) AS locked`, [
    mysqlLockName(database),
    MIGRATION_LOCK_TIMEOUT_S,
  ])) as { locked: number | string | null }[];
  if (Number(row?.locked) !== 1) {
    throw new Error(
      `Timed out after ${MIGRATION_LOCK_TIMEOUT_S}s waiting for another process to finish migrating database "${database}"`,
    );
  }
}

/** `GET_LOCK` names are server-wide (64 characters at most), so the database name is part of it. */
function mysqlLockName(database: string): string {
  return `agent-core:migrations:${database}`.slice(0, 64);
}

type ConnectionOptions = { host?: string; port?: number; username?: string; password?: unknown; database?: unknown };

function connectionError(
  type: ServerDatabaseType,
  options: ConnectionOptions,
  error: unknown,
): DatabaseConnectionError {
  const address = `${options.host ?? 'localhost'}:${options.port ?? ''}`;
  const password = typeof options.password === 'string' ? options.password : '';
  const reason = password ? driverReason(error).split(password).join('***') : driverReason(error);
  return new DatabaseConnectionError(
    address,
    `Cannot connect to ${ENGINE_NAMES[type]} at ${address} (database "${String(options.database)}", user "${options.username ?? '(driver default)'}"): ${reason}. ` +
      'Check DATABASE_URL, that the server is running and reachable, and that it accepts this login.',
  );
}

/** The driver's own words for a failure; Node's `AggregateError` (one per resolved address) has an empty message. */
function driverReason(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    return driverReason(error.errors[0]);
  }
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return error.message || (typeof code === 'string' ? code : error.name);
  }
  return String(error);
}
