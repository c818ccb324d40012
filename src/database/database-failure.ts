import { DatabaseCorruptError, DatabaseEngine, DatabaseUnavailableError } from './database.errors';

/** An outage the driver reports, in words, and whether the same call can succeed later without anyone acting. */
interface OutageKind {
  readonly reason: string;
  readonly retryable: boolean;
}

const refused: OutageKind = { reason: 'the connection was refused or could not be opened', retryable: true };
const lost: OutageKind = { reason: 'the connection was lost', retryable: true };
const shutdown: OutageKind = { reason: 'the server is shutting down', retryable: true };
const startup: OutageKind = { reason: 'the server is starting up', retryable: true };
const queryTimeout: OutageKind = { reason: 'the query ran out of time (DATABASE_QUERY_TIMEOUT_MS)', retryable: true };
const poolTimeout: OutageKind = {
  reason: 'no pooled connection became free in time (DATABASE_CONNECT_TIMEOUT_MS)',
  retryable: true,
};
const tooMany: OutageKind = { reason: 'the server has no connection left for this login', retryable: true };

/**
 * Driver codes that mean "the database is away", not "the call is wrong": Node's socket errors,
 * PostgreSQL's SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html),
 * mysql2's and MariaDB's codes, and SQLite's result codes (https://www.sqlite.org/rescode.html).
 */
const OUTAGE_CODES: Readonly<Record<string, OutageKind>> = {
  ECONNREFUSED: refused,
  ENOTFOUND: refused,
  EAI_AGAIN: refused,
  EHOSTUNREACH: refused,
  ENETUNREACH: refused,
  ETIMEDOUT: refused,
  ECONNRESET: lost,
  EPIPE: lost,
  // PostgreSQL: class 08 is "connection exception"; 57P01-57P03 shutdown, crash, startup; 53300 too many connections.
  '08000': lost,
  '08003': lost,
  '08006': lost,
  '08001': refused,
  '08004': refused,
  '57P01': shutdown,
  '57P02': shutdown,
  '57P03': startup,
  '53300': tooMany,
  // statement_timeout (57014 is also a cancel request, which this service only sends through the timeout).
  '57014': queryTimeout,
  // mysql2 and MariaDB/MySQL.
  PROTOCOL_CONNECTION_LOST: lost,
  PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR: lost,
  PROTOCOL_ENQUEUE_AFTER_QUIT: lost,
  PROTOCOL_SEQUENCE_TIMEOUT: queryTimeout,
  ER_CONNECTION_KILLED: lost,
  ER_SERVER_SHUTDOWN: shutdown,
  ER_CON_COUNT_ERROR: tooMany,
  ER_TOO_MANY_USER_CONNECTIONS: tooMany,
  ER_STATEMENT_TIMEOUT: queryTimeout,
  ER_QUERY_TIMEOUT: queryTimeout,
  ER_QUERY_INTERRUPTED: lost,
  // Our own: the wait for a pooled connection (see server-database.ts).
  POOL_TIMEOUT: poolTimeout,
  // SQLite: another process holds the write lock past the busy timeout; the disk failed or is full.
  SQLITE_BUSY: { reason: 'another process held the write lock past the busy timeout', retryable: true },
  SQLITE_IOERR: { reason: 'the disk reported an I/O error', retryable: true },
  SQLITE_FULL: { reason: 'the disk is full', retryable: false },
  SQLITE_CANTOPEN: { reason: 'the file cannot be opened', retryable: false },
  SQLITE_READONLY: { reason: 'the file is read-only', retryable: false },
};

/**
 * Messages of `pg` and `pg-pool` errors that carry no code, by the code we give them.
 * (https://github.com/brianc/node-postgres: client.js, pool's connect timeout.)
 */
const PG_MESSAGES: readonly (readonly [RegExp, string, OutageKind])[] = [
  [/^timeout exceeded when trying to connect$/, 'POOL_TIMEOUT', poolTimeout],
  [/^Query read timeout$/, 'QUERY_TIMEOUT', queryTimeout],
  [/^Connection terminated/, 'CONNECTION_TERMINATED', lost],
  [/connection error and is not queryable|Client was closed and is not queryable/, 'CONNECTION_TERMINATED', lost],
  [/^Can't add new command when connection is in closed state$/, 'PROTOCOL_CONNECTION_LOST', lost],
];

/** The driver's error inside TypeORM's `QueryFailedError` (`driverError`), or the error itself. */
function driverError(error: unknown): unknown {
  const inner = (error as { driverError?: unknown } | null)?.driverError;
  return inner ?? error;
}

function codeOf(error: unknown): string | undefined {
  if (error instanceof AggregateError && error.errors.length > 0) {
    return codeOf(error.errors[0]);
  }
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * The outage code and kind of a driver error, or `undefined` when it is not an outage (a
 * constraint violation, a bad statement, a closed `DataSource`: those stay as they are).
 * SQLite's extended codes (`SQLITE_IOERR_WRITE`, `SQLITE_BUSY_SNAPSHOT`) count as their family.
 */
export function outageOf(error: unknown): { code: string; kind: OutageKind } | undefined {
  const inner = driverError(error);
  const code = codeOf(inner) ?? codeOf(error);
  if (code !== undefined) {
    const family = /^SQLITE_[A-Z]+/.exec(code)?.[0] ?? code;
    const kind = OUTAGE_CODES[family];
    if (kind) {
      return { code, kind };
    }
  }
  const message = inner instanceof Error ? inner.message : '';
  for (const [pattern, ourCode, kind] of PG_MESSAGES) {
    if (pattern.test(message)) {
      return { code: ourCode, kind };
    }
  }
  return undefined;
}

/** True for SQLite's "this file is damaged / is not a database" codes. */
export function isSqliteCorruption(error: unknown): boolean {
  const code = codeOf(driverError(error)) ?? codeOf(error);
  return code !== undefined && /^SQLITE_(CORRUPT|NOTADB)(_|$)/.test(code);
}

/** The SQLite result code of an error, if it has one. */
export function sqliteCodeOf(error: unknown): string | undefined {
  const code = codeOf(driverError(error)) ?? codeOf(error);
  return code?.startsWith('SQLITE_') ? code : undefined;
}

/**
 * What a failed database call rejects with: {@link DatabaseUnavailableError} for an outage,
 * {@link DatabaseCorruptError} for a damaged SQLite file (both name the SQLite file `path`), the error itself
 * otherwise. An error that is already one of ours passes as it is.
 */
export function translateDatabaseFailure(error: unknown, engine: DatabaseEngine, path?: string): unknown {
  if (error instanceof DatabaseUnavailableError || error instanceof DatabaseCorruptError) {
    return error;
  }
  if (engine === 'sqlite' && isSqliteCorruption(error)) {
    const code = sqliteCodeOf(error) ?? 'SQLITE_CORRUPT';
    const detail = code.startsWith('SQLITE_NOTADB') ? 'it is not a SQLite database' : 'SQLite found damaged pages';
    return new DatabaseCorruptError(path ?? '(unknown file)', code, detail, { cause: error });
  }
  const outage = outageOf(error);
  if (outage === undefined) {
    return error;
  }
  return new DatabaseUnavailableError(engine, outage.code, outage.kind.retryable, outage.kind.reason, {
    cause: error,
    path: engine === 'sqlite' ? path : undefined,
  });
}
