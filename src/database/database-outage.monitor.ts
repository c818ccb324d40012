import { EventEmitter } from 'node:events';
import { Logger, Provider } from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { translateDatabaseFailure } from './database-failure';
import {
  DATABASE_ENGINE_NAMES,
  DatabaseCorruptError,
  DatabaseEngine,
  DatabaseUnavailableError,
} from './database.errors';

/** An outage in progress: since when, why it started, and how many calls it has failed so far. */
export interface DatabaseOutage {
  readonly since: Date;
  readonly code: string;
  readonly failedCalls: number;
}

/** What {@link DatabaseOutageMonitor.snapshot} reports, e.g. for a metrics endpoint. */
export interface DatabaseOutageSnapshot {
  readonly engine: DatabaseEngine;
  /** The outage in progress, or `undefined` while the database answers. */
  readonly current: DatabaseOutage | undefined;
  /** Outages that started since this process opened the database. */
  readonly outagesStarted: number;
  /** Calls that failed with {@link DatabaseUnavailableError}, in all outages together. */
  readonly failedCalls: number;
}

/** What {@link DatabaseOutageMonitor} emits when an outage ends. */
export interface DatabaseOutageEnded {
  readonly code: string;
  readonly durationMs: number;
  readonly failedCalls: number;
}

const monitors = new WeakMap<DataSource, DatabaseOutageMonitor>();

/**
 * Watches the calls made on one database connection and tells when it stops and starts
 * answering: the first call that fails with {@link DatabaseUnavailableError} logs one warning,
 * the next call that succeeds logs one line with how long the outage lasted and how many calls
 * it failed. A service under load during an outage makes thousands of failing calls a second;
 * the log gets two lines.
 *
 * It is also where the store turns a driver's error into ours ({@link fail}), and where others
 * (a metrics endpoint, a retry that waits for the database) read the state: {@link snapshot},
 * and the `outageStarted` / `outageEnded` events. One monitor per `DataSource`: {@link of}.
 */
export class DatabaseOutageMonitor extends EventEmitter<{
  outageStarted: [DatabaseOutage];
  outageEnded: [DatabaseOutageEnded];
}> {
  private readonly logger = new Logger('Database');
  private outage: { since: number; code: string; failedCalls: number } | undefined;
  private outagesStarted = 0;
  private failedCalls = 0;
  /** An I/O error on this SQLite connection: what SQLite reports afterwards is not evidence of a damaged file. */
  private sqliteIoError = false;

  constructor(
    readonly engine: DatabaseEngine,
    /** Where the database is, for the log: a file path or `host:port/database` (never a password). */
    readonly location: string,
  ) {
    super();
  }

  /**
   * The longest a bounded store call may take before it rejects with {@link DatabaseUnavailableError}
   * (`CALL_TIMEOUT`), whatever the driver does: `DATABASE_QUERY_TIMEOUT_MS` plus
   * `DATABASE_CONNECT_TIMEOUT_MS` on a server database, `undefined` (no limit) on SQLite.
   */
  callLimitMs: number | undefined;

  /** The monitor of `dataSource`'s connection, created on first use. */
  static of(dataSource: DataSource): DatabaseOutageMonitor {
    let monitor = monitors.get(dataSource);
    if (!monitor) {
      monitor = new DatabaseOutageMonitor(engineOf(dataSource), locationOf(dataSource));
      monitor.callLimitMs = callLimitOf(dataSource);
      monitors.set(dataSource, monitor);
    }
    return monitor;
  }

  /** The error of a bounded call that ran out of {@link callLimitMs}, counted like any outage. */
  callTimedOut(): DatabaseUnavailableError {
    const error = new DatabaseUnavailableError(
      this.engine,
      'CALL_TIMEOUT',
      true,
      'the call ran out of time (DATABASE_QUERY_TIMEOUT_MS plus DATABASE_CONNECT_TIMEOUT_MS)',
      { cause: undefined },
    );
    this.record(error);
    return error;
  }

  /** The state now, for metrics and health reports. */
  snapshot(): DatabaseOutageSnapshot {
    const { outage } = this;
    return {
      engine: this.engine,
      current: outage && { since: new Date(outage.since), code: outage.code, failedCalls: outage.failedCalls },
      outagesStarted: this.outagesStarted,
      failedCalls: this.failedCalls,
    };
  }

  /** A call succeeded: ends the outage in progress, if there is one. */
  succeeded(): void {
    const { outage } = this;
    if (!outage) {
      return;
    }
    this.outage = undefined;
    const durationMs = Date.now() - outage.since;
    this.logger.log(
      `${this.name()} answers again after ${(durationMs / 1000).toFixed(1)} s; ${outage.failedCalls} call(s) failed during the outage (${outage.code})`,
    );
    this.emit('outageEnded', { code: outage.code, durationMs, failedCalls: outage.failedCalls });
  }

  /**
   * A call failed with `error`: returns what the call rejects with ({@link DatabaseUnavailableError},
   * {@link DatabaseCorruptError}, or `error` itself when it is neither), and counts an outage.
   * An error that is already ours was counted by the call that made it and passes unchanged.
   */
  fail(error: unknown): unknown {
    if (error instanceof DatabaseUnavailableError || error instanceof DatabaseCorruptError) {
      return error;
    }
    let translated = translateDatabaseFailure(error, this.engine, this.location);
    if (translated instanceof DatabaseCorruptError && this.sqliteIoError) {
      // After an I/O error SQLite's page cache can disagree with the file and report SQLITE_CORRUPT
      // for a file that is intact: the fault is still the disk's, so it stays an I/O error.
      translated = new DatabaseUnavailableError(
        'sqlite',
        'SQLITE_IOERR',
        true,
        'the disk reported an I/O error earlier on this connection; restart the process to reopen the file, and run "agent-core check" if it persists',
        { cause: error, path: this.location },
      );
    }
    if (translated instanceof DatabaseUnavailableError) {
      if (translated.code.startsWith('SQLITE_IOERR')) {
        this.sqliteIoError = true;
      }
      this.record(translated);
    }
    return translated;
  }

  private record(error: DatabaseUnavailableError): void {
    this.failedCalls++;
    if (this.outage) {
      this.outage.failedCalls++;
      return;
    }
    this.outage = { since: Date.now(), code: error.code, failedCalls: 1 };
    this.outagesStarted++;
    this.logger.warn(
      `${this.name()} is unavailable: ${error.reason} (${error.code}). Calls fail with DatabaseUnavailableError until it answers again.`,
    );
    this.emit('outageStarted', { since: new Date(this.outage.since), code: error.code, failedCalls: 1 });
  }

  private name(): string {
    return `${DATABASE_ENGINE_NAMES[this.engine]} database ${this.location}`;
  }
}

function engineOf(dataSource: DataSource): DatabaseEngine {
  switch (dataSource.options.type) {
    case 'postgres':
      return 'postgres';
    case 'mariadb':
      return 'mariadb';
    case 'mysql':
      return 'mysql';
    default:
      return 'sqlite';
  }
}

/** The query limit plus the connect limit of a server database's options; `undefined` without both. */
function callLimitOf(dataSource: DataSource): number | undefined {
  const options = dataSource.options as {
    type: string;
    extra?: { query_timeout?: unknown };
    connectTimeoutMS?: unknown;
    maxQueryExecutionTime?: unknown;
    connectTimeout?: unknown;
  };
  const [query, connect] =
    options.type === 'postgres'
      ? [options.extra?.query_timeout, options.connectTimeoutMS]
      : [options.maxQueryExecutionTime, options.connectTimeout];
  return typeof query === 'number' && typeof connect === 'number' ? query + connect : undefined;
}

function locationOf(dataSource: DataSource): string {
  const options = dataSource.options as { host?: string; port?: number; database?: unknown };
  if (options.host !== undefined) {
    return `${options.host}:${options.port ?? ''}/${String(options.database)}`;
  }
  return String(options.database);
}

/** Provides the {@link DatabaseOutageMonitor} of the application's TypeORM connection (one per connection, whoever asks). */
export const DATABASE_OUTAGE_MONITOR_PROVIDER: Provider = {
  provide: DatabaseOutageMonitor,
  inject: [getDataSourceToken()],
  useFactory: (dataSource: DataSource) => DatabaseOutageMonitor.of(dataSource),
};
