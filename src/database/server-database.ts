import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import { DataSource, DataSourceOptions, MigrationExecutor, QueryRunner } from 'typeorm';
import { ServerDatabaseConfig, ServerDatabaseType } from '../config/database.config';
import { outageOf } from './database-failure';
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

/** The first pause between two boot attempts, doubled up to {@link MAX_CONNECT_RETRY_PAUSE_MS}. */
const FIRST_CONNECT_RETRY_PAUSE_MS = 500;
const MAX_CONNECT_RETRY_PAUSE_MS = 5_000;

/** What {@link openServerDatabase} needs beyond TypeORM's options: how long boot retries. */
const bootRetries = new WeakMap<object, number>();

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
  let options: ServerDataSourceOptions;
  if (config.type === 'postgres') {
    options = {
      ...common,
      type: 'postgres',
      // pg-pool's connectionTimeoutMillis bounds both opening a connection and waiting for a free one.
      connectTimeoutMS: config.connectTimeoutMs,
      uuidExtension: 'pgcrypto',
      installExtensions: false,
      // statement_timeout: the server cancels the statement (57014); query_timeout: pg gives up on
      // a server that does not answer at all (frozen, network gone), which the server cannot do.
      extra: { statement_timeout: config.queryTimeoutMs, query_timeout: config.queryTimeoutMs },
    };
  } else {
    options = {
      ...common,
      type: config.dialect === 'mariadb' ? 'mariadb' : 'mysql',
      connectTimeout: config.connectTimeoutMs,
      timezone: 'Z',
      charset: 'utf8mb4',
      flags: ['FOUND_ROWS'],
      // mysql2's per-query timeout on the client; the server's own limit and the wait for a
      // pooled connection (connectTimeout, as on PostgreSQL), which mysql2 has no option for, are
      // added by limitMysqlPool.
      enableQueryTimeout: true,
      maxQueryExecutionTime: config.queryTimeoutMs,
    };
  }
  bootRetries.set(options, config.connectRetryMs);
  return options;
}

/**
 * The same options, keeping how long boot retries (which TypeORM's options have no place for):
 * for a caller that adds or changes options of {@link serverDataSourceOptions}' result.
 */
export function withServerOptions<T extends object>(
  options: ServerDataSourceOptions,
  changes: T,
): ServerDataSourceOptions & T {
  const changed = { ...options, ...changes };
  const retryMs = bootRetries.get(options);
  if (retryMs !== undefined) {
    bootRetries.set(changed, retryMs);
  }
  return changed;
}

/**
 * Connects to a server database and brings its schema up to date before anything else uses it.
 *
 * A server that refuses or does not answer yet (it is starting beside this process) is tried
 * again with a backoff of 0.5 to 5 s for as long as `DATABASE_CONNECT_RETRY_MS` allows, with one
 * log line per failed attempt; a refused login or a missing database fails at once.
 *
 * Pending migrations run under a database-wide lock (`pg_advisory_lock` / `GET_LOCK`), so
 * replicas that boot together migrate once, one after the other. They run on a connection of
 * their own without the query time limit, since waiting for another replica's migration may take
 * longer; the connection the service then uses has every limit.
 *
 * @throws DatabaseConnectionError when the server cannot be reached or refuses the login: the
 *   message names the engine, host, port, database and user, never the password.
 */
export async function openServerDatabase(options: ServerDataSourceOptions): Promise<DataSource> {
  const type = options.type === 'postgres' ? 'postgres' : 'mysql';
  let driver = options.type;
  let migrating = await connectWithRetries(type, unlimited(options), bootRetries.get(options) ?? 0);
  try {
    if (options.type === 'mysql' && (await isMariaDb(migrating))) {
      // TypeORM reads MariaDB's catalogue (e.g. `DEFAULT NULL`) right only as `mariadb`, whatever the URL said.
      driver = 'mariadb';
      await migrating.destroy();
      migrating = await connect(type, unlimited({ ...options, type: 'mariadb' as const }));
    }
    await runMigrationsExclusively(migrating, type, String(options.database));
  } finally {
    if (migrating.isInitialized) {
      await migrating.destroy();
    }
  }
  const limited = { ...options, type: driver } as ServerDataSourceOptions;
  const dataSource = await connect(type, limited);
  if (limited.type !== 'postgres') {
    limitMysqlPool(dataSource, limited.type, limited.maxQueryExecutionTime, limited.connectTimeout);
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

/** {@link connect}, tried again while the server refuses or does not answer, for up to `retryMs`. */
async function connectWithRetries(
  type: ServerDatabaseType,
  options: ServerDataSourceOptions,
  retryMs: number,
): Promise<DataSource> {
  const logger = new Logger('Database');
  const giveUpAt = Date.now() + retryMs;
  for (let attempt = 1, pause = FIRST_CONNECT_RETRY_PAUSE_MS; ; attempt++, pause *= 2) {
    const dataSource = new DataSource(options);
    try {
      return await dataSource.initialize();
    } catch (error) {
      const outage = outageOf(error);
      const wait = Math.min(pause, MAX_CONNECT_RETRY_PAUSE_MS, giveUpAt - Date.now());
      if (!outage?.kind.retryable || wait <= 0) {
        throw connectionError(type, options, error);
      }
      logger.warn(
        `Cannot connect to ${ENGINE_NAMES[type]} at ${options.host ?? 'localhost'}:${options.port ?? ''} yet ` +
          `(attempt ${attempt}: ${outage.code}); trying again in ${(wait / 1000).toFixed(1)} s, ` +
          `for up to ${Math.round(retryMs / 1000)} s in all (DATABASE_CONNECT_RETRY_MS)`,
      );
      await sleep(wait);
    }
  }
}

/** The options without the query time limit, for migrations (see {@link openServerDatabase}). */
function unlimited(options: ServerDataSourceOptions): ServerDataSourceOptions {
  if (options.type === 'postgres') {
    return { ...options, extra: {} };
  }
  return { ...options, enableQueryTimeout: false, maxQueryExecutionTime: undefined };
}

/** mysql2's pool, as far as {@link limitMysqlPool} uses it. */
interface MysqlPool {
  on(event: 'acquire', listener: (connection: MysqlPoolConnection) => void): void;
  getConnection(callback: (error: Error | null, connection?: MysqlPoolConnection) => void): void;
}
interface MysqlPoolConnection {
  query(sql: string, callback: (error: Error | null) => void): void;
  release(): void;
}

/**
 * What mysql2 has no option for: the server's own statement limit on every pooled connection
 * (MariaDB's `max_statement_time` in seconds, MySQL's `max_execution_time` in ms, which covers
 * SELECTs only), set once when a connection is first handed out, before its first query; and a
 * limit on waiting for a free connection, which fails with code `POOL_TIMEOUT`.
 */
function limitMysqlPool(
  dataSource: DataSource,
  driver: 'mysql' | 'mariadb',
  queryTimeoutMs: number | undefined,
  acquireTimeoutMs: number | undefined,
): void {
  const pool = (dataSource.driver as unknown as { pool: MysqlPool }).pool;
  if (queryTimeoutMs !== undefined) {
    const limit =
      driver === 'mariadb'
        ? `SET SESSION max_statement_time = ${queryTimeoutMs / 1000}`
        : `SET SESSION max_execution_time = ${queryTimeoutMs}`;
    const limited = new WeakSet<MysqlPoolConnection>();
    pool.on('acquire', (connection) => {
      if (!limited.has(connection)) {
        limited.add(connection);
        // Queued before the caller's first query on this connection; a failure shows on that query.
        connection.query(limit, () => undefined);
      }
    });
  }
  if (acquireTimeoutMs !== undefined) {
    const getConnection = pool.getConnection.bind(pool);
    pool.getConnection = (callback) => {
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        const error = new Error(`No pooled connection became free within ${acquireTimeoutMs} ms`);
        callback(Object.assign(error, { code: 'POOL_TIMEOUT' }));
      }, acquireTimeoutMs);
      getConnection((error, connection) => {
        clearTimeout(timer);
        if (!timedOut) {
          callback(error, connection);
        } else if (connection) {
          connection.release();
        }
      });
    };
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
