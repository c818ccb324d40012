import { existsSync } from 'node:fs';
import { DataSource } from 'typeorm';
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

/**
 * A deeper check than {@link probeDatabase}, for an operator: on SQLite, SQLite's
 * `integrity_check` over the whole file (https://www.sqlite.org/pragma.html#pragma_integrity_check);
 * on a server, that it answers and that every migration of this version has run.
 */
export async function checkDatabase(config: DatabaseConfig): Promise<DatabaseProbeResult> {
  const name = describe(config);
  if (config.type === 'better-sqlite3' && config.database !== ':memory:' && !existsSync(config.database)) {
    return { ok: false, line: `failed: ${name} does not exist` };
  }
  const dataSource = openDataSource(config, undefined);
  try {
    await dataSource.initialize();
    if (config.type === 'better-sqlite3') {
      const rows = await dataSource.query<{ integrity_check: string }[]>('PRAGMA integrity_check(20)');
      const problems = rows.map((row) => row.integrity_check).filter((result) => result !== 'ok');
      if (problems.length > 0) {
        const error = new DatabaseCorruptError(config.database, 'INTEGRITY_CHECK', problems.slice(0, 3).join('; '));
        return { ok: false, line: `failed: ${error.message}` };
      }
      return { ok: true, line: `ok: ${name} passed SQLite's integrity check` };
    }
    if (await dataSource.showMigrations()) {
      return {
        ok: false,
        line: `failed: ${name} answers, but its schema is behind this version: start the service once to migrate it`,
      };
    }
    return { ok: true, line: `ok: ${name} answers and its schema is up to date` };
  } catch (error) {
    return { ok: false, line: `failed: ${name}: ${reasonOf(error, engineOf(config), config.location)}` };
  } finally {
    if (dataSource.isInitialized) {
      await dataSource.destroy();
    }
  }
}

function openDataSource(config: DatabaseConfig, timeoutMs: number | undefined): DataSource {
  if (config.type === 'better-sqlite3') {
    return new DataSource({
      type: 'better-sqlite3',
      database: config.database,
      fileMustExist: config.database !== ':memory:',
      timeout: timeoutMs ?? 5_000,
    });
  }
  const limits =
    timeoutMs === undefined ? {} : { connectTimeoutMs: timeoutMs, queryTimeoutMs: timeoutMs, connectRetryMs: 0 };
  return new DataSource({
    ...serverDataSourceOptions({ ...config, ...limits, poolSize: 1 }, []),
    migrations: [...SERVER_MIGRATIONS[config.type]],
  });
}

function describe(config: DatabaseConfig): string {
  return `${DATABASE_ENGINE_NAMES[engineOf(config)]} database ${config.location}`;
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
