import { existsSync } from 'node:fs';
import { DataSource, Table } from 'typeorm';
import { DatabaseConfig } from '../config/database.config';
import { translateDatabaseFailure } from './database-failure';
import {
  DATABASE_ENGINE_NAMES,
  DatabaseConnectionError,
  DatabaseCorruptError,
  DatabaseEngine,
  DatabaseUnavailableError,
} from './database.errors';
import { serverDataSourceOptions } from './server-database';
import { sqliteOpenError } from './sqlite-database';
import { SERVER_MIGRATIONS } from './migrations';

/** The answer of {@link probeDatabase} or {@link checkDatabase}: healthy or not, in one line. */
export interface DatabaseProbeResult {
  readonly ok: boolean;
  readonly line: string;
}

/** How long `agent-core health` gives the database to answer. */
export const HEALTH_TIMEOUT_MS = 1_000;

/**
 * Does the database answer a query within `timeoutMs`? Opens one connection of its own (no pool,
 * no migrations, no boot retries) and runs `SELECT 1`: what a liveness or readiness probe needs,
 * and cheap enough to run every few seconds.
 */
export async function probeDatabase(
  config: DatabaseConfig,
  timeoutMs = HEALTH_TIMEOUT_MS,
): Promise<DatabaseProbeResult> {
  const name = describe(config);
  if (config.type === 'better-sqlite3' && config.database !== ':memory:' && !existsSync(config.database)) {
    return { ok: false, line: `unavailable: ${name} does not exist` };
  }
  const started = Date.now();
  const dataSource = openDataSource(config, timeoutMs);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
  const answered = (async () => {
    await dataSource.initialize();
    await dataSource.query('SELECT 1');
    return 'answered' as const;
  })();
  try {
    const outcome = await Promise.race([answered, timedOut]);
    if (outcome === 'timeout') {
      answered.catch(() => undefined);
      return { ok: false, line: `unavailable: ${name} did not answer within ${timeoutMs} ms` };
    }
    return { ok: true, line: `ok: ${name} answered in ${Date.now() - started} ms` };
  } catch (error) {
    return { ok: false, line: `unavailable: ${name}: ${reasonOf(error, engineOf(config), config.location)}` };
  } finally {
    clearTimeout(timer);
    void answered.finally(() => (dataSource.isInitialized ? dataSource.destroy() : undefined)).catch(() => undefined);
  }
}

/** What {@link checkDatabase} found wrong with the schema, or `undefined` when it is every entity's. */
type SchemaProblem =
  { readonly kind: 'no-tables'; readonly line: string } | { readonly kind: 'incomplete'; readonly line: string };

/**
 * A deeper check than {@link probeDatabase}, for an operator: on SQLite, SQLite's
 * `integrity_check` over the whole file (https://www.sqlite.org/pragma.html#pragma_integrity_check);
 * on a server, that it answers and that every migration of this version has run. On both, that
 * every table and column the entities declare is there: a file that is empty or belongs to
 * something else (no agent-core table at all) is `noTables`, which the CLI tells apart (exit 3)
 * from a damaged or incomplete one.
 */
export async function checkDatabase(config: DatabaseConfig): Promise<DatabaseProbeResult & { noTables?: boolean }> {
  let name = describe(config);
  if (config.type === 'better-sqlite3' && config.database !== ':memory:' && !existsSync(config.database)) {
    return { ok: false, line: `failed: ${name} does not exist` };
  }
  const dataSource = openDataSource(config, undefined, await entitiesToCheck());
  try {
    await dataSource.initialize();
    name = await describeConnected(config, dataSource);
    if (config.type === 'better-sqlite3') {
      const rows = await dataSource.query<{ integrity_check: string }[]>('PRAGMA integrity_check(20)');
      const problems = rows.map((row) => row.integrity_check).filter((result) => result !== 'ok');
      if (problems.length > 0) {
        const error = new DatabaseCorruptError(config.database, 'INTEGRITY_CHECK', problems.slice(0, 3).join('; '));
        return { ok: false, line: `failed: ${error.message}` };
      }
    }
    const schema = await schemaProblem(dataSource, name);
    if (schema?.kind === 'no-tables') {
      return { ok: false, noTables: true, line: schema.line };
    }
    if (config.type !== 'better-sqlite3' && (await dataSource.showMigrations())) {
      return {
        ok: false,
        line: `failed: ${name} answers, but its schema is behind this version: start the service once to migrate it`,
      };
    }
    if (schema) {
      return { ok: false, line: schema.line };
    }
    return config.type === 'better-sqlite3'
      ? { ok: true, line: `ok: ${name} passed SQLite's integrity check and has every agent-core table and column` }
      : { ok: true, line: `ok: ${name} answers and its schema is up to date` };
  } catch (error) {
    return { ok: false, line: `failed: ${name}: ${reasonOf(error, engineOf(config), config.location)}` };
  } finally {
    if (dataSource.isInitialized) {
      await dataSource.destroy();
    }
  }
}

/** Every entity of agent-core. Loaded late: `health` needs none of it. */
async function entitiesToCheck(): Promise<readonly Entity[]> {
  const { DATABASE_ENTITIES } = await import('./database.module');
  return DATABASE_ENTITIES;
}

/**
 * How {@link checkDatabase} names a database it has connected to: a `mysql://` URL may lead to
 * MariaDB or to MySQL, so the server's `VERSION()` says which.
 */
async function describeConnected(config: DatabaseConfig, dataSource: DataSource): Promise<string> {
  if (config.type !== 'mysql') {
    return describe(config);
  }
  const [row] = await dataSource.query<{ version: string }[]>('SELECT VERSION() AS version');
  const engine: DatabaseEngine = /mariadb/i.test(row?.version ?? '') ? 'mariadb' : 'mysql';
  return `${DATABASE_ENGINE_NAMES[engine]} database ${config.location}`;
}

/**
 * Compares the tables of the database with what the entities declare: `no-tables` when none of
 * them is there (an empty file, another application's database, the wrong DATABASE_PATH),
 * `incomplete` naming each missing table and column otherwise.
 */
async function schemaProblem(dataSource: DataSource, name: string): Promise<SchemaProblem | undefined> {
  const expected = dataSource.entityMetadatas.map((metadata) => ({
    table: metadata.tableName,
    columns: metadata.columns.map((column) => column.databaseName),
  }));
  const runner = dataSource.createQueryRunner();
  let found: Table[];
  try {
    found = await runner.getTables(expected.map(({ table }) => table));
  } finally {
    await runner.release();
  }
  const byName = new Map(found.map((table) => [table.name.split('.').pop() ?? table.name, table]));
  const tableNames = expected.map(({ table }) => table).join(', ');
  if (expected.every(({ table }) => !byName.has(table))) {
    return {
      kind: 'no-tables',
      line: `failed: ${name} has no agent-core tables (${tableNames}): it is empty or another application's database. Check DATABASE_PATH / DATABASE_URL, or restore a backup`,
    };
  }
  const missing: string[] = [];
  for (const { table, columns } of expected) {
    const actual = byName.get(table);
    if (!actual) {
      missing.push(`table ${table}`);
      continue;
    }
    const present = new Set(actual.columns.map((column) => column.name));
    missing.push(...columns.filter((column) => !present.has(column)).map((column) => `column ${table}.${column}`));
  }
  if (missing.length === 0) {
    return undefined;
  }
  return {
    kind: 'incomplete',
    line: `failed: ${name} lacks ${missing.join(', ')}: restore a backup, or let the service create them (SQLite: start it once; a server: run the migrations)`,
  };
}

function openDataSource(
  config: DatabaseConfig,
  timeoutMs: number | undefined,
  entities: readonly Entity[] = [],
): DataSource {
  if (config.type === 'better-sqlite3') {
    return new DataSource({
      type: 'better-sqlite3',
      database: config.database,
      fileMustExist: config.database !== ':memory:',
      timeout: timeoutMs ?? 5_000,
      entities: [...entities],
    });
  }
  const limits =
    timeoutMs === undefined ? {} : { connectTimeoutMs: timeoutMs, queryTimeoutMs: timeoutMs, connectRetryMs: 0 };
  return new DataSource({
    ...serverDataSourceOptions({ ...config, ...limits, poolSize: 1 }, entities),
    migrations: [...SERVER_MIGRATIONS[config.type]],
  });
}

/** A database class's constructor, as TypeORM's `entities` takes it. */
type Entity = new () => unknown;

/** The database in words; a `mysql://` URL, before the server has said which it is, is "MariaDB/MySQL". */
function describe(config: DatabaseConfig): string {
  const engine = engineOf(config);
  return `${engine === 'mysql' ? 'MariaDB/MySQL' : DATABASE_ENGINE_NAMES[engine]} database ${config.location}`;
}

function engineOf(config: DatabaseConfig): DatabaseEngine {
  if (config.type === 'better-sqlite3') {
    return 'sqlite';
  }
  return config.dialect === 'postgres' ? 'postgres' : config.dialect;
}

/** The reason in words: our outage or corruption wording when the error is one, the driver's message otherwise. */
function reasonOf(error: unknown, engine: DatabaseEngine, location: string): string {
  const opened = engine === 'sqlite' ? sqliteOpenError(location, error) : error;
  if (opened instanceof DatabaseConnectionError) {
    return opened.message;
  }
  const translated = translateDatabaseFailure(opened, engine, location);
  if (translated instanceof DatabaseCorruptError) {
    return translated.message;
  }
  if (translated instanceof DatabaseUnavailableError) {
    return `${translated.reason} (${translated.code})`;
  }
  return error instanceof Error ? error.message : String(error);
}
