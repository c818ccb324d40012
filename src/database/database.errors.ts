// Thrown while the configuration loads; defined in config/ with every other configuration error.
export { DatabaseConfigError } from '../config/config.errors';

/**
 * The database server could not be reached or refused the login at boot. The message names the
 * engine, host, port, database and user, and the driver's reason; never the password.
 */
export class DatabaseConnectionError extends Error {
  override readonly name = 'DatabaseConnectionError';

  constructor(
    /** `host:port` of the server that failed. */
    readonly address: string,
    message: string,
  ) {
    super(message);
  }
}

/** The engine behind a connection, as errors and logs name it. */
export type DatabaseEngine = 'postgres' | 'mysql' | 'mariadb' | 'sqlite';

/** The human name of each engine, for messages. */
export const DATABASE_ENGINE_NAMES: Readonly<Record<DatabaseEngine, string>> = {
  postgres: 'PostgreSQL',
  mysql: 'MySQL',
  mariadb: 'MariaDB',
  sqlite: 'SQLite',
};

/** Where the documentation explains how to recover a damaged SQLite file. */
export const SQLITE_RECOVERY_README = 'docs/operations.md, section "Recovering a damaged SQLite database"';

/**
 * The database could not serve a call: the connection was refused or lost, the server is
 * shutting down or starting up, a query or the wait for a pooled connection ran out of time, or
 * the server has no connection left. It is what every public method of the store rejects with for
 * those faults, whatever the engine, so a caller can tell "the database is away, try again" from
 * a bug without knowing `pg` or `mysql2` error codes.
 *
 * A write that rejects with it may or may not have been applied (the connection can drop after
 * the commit): retry it as a whole (the conditional upsert makes a retried rotation safe). The
 * message names the engine and the kind of fault; it never holds a token, a password or a
 * statement's values; on SQLite it names the file. The driver's error is `cause`, with its bound
 * values already redacted.
 */
export class DatabaseUnavailableError extends Error {
  override readonly name = 'DatabaseUnavailableError';

  constructor(
    /** Which engine failed. */
    readonly engine: DatabaseEngine,
    /** The driver's code (`ECONNREFUSED`, `57P01`, `PROTOCOL_CONNECTION_LOST`, `SQLITE_BUSY`...) or ours (`QUERY_TIMEOUT`, `POOL_TIMEOUT`). */
    readonly code: string,
    /** True when the same call can succeed once the database answers again; false when someone must act first (e.g. a full disk). */
    readonly retryable: boolean,
    /** What went wrong, in words: e.g. "the connection was refused". */
    readonly reason: string,
    options: {
      cause: unknown;
      /** The SQLite file, named in the message as the errors raised at open name it. */
      path?: string;
    },
  ) {
    super(
      `The ${DATABASE_ENGINE_NAMES[engine]} database ${options.path === undefined ? '' : `${options.path} `}is unavailable: ${reason} (${code}). ` +
        (retryable ? 'Retry the call once it answers again.' : 'It needs an operator before a retry can succeed.'),
      options,
    );
  }
}

/**
 * The SQLite file is damaged (`SQLITE_CORRUPT`) or is not a SQLite database (`SQLITE_NOTADB`):
 * no call can be trusted on it. The message names the file and points to docs/operations.md's recovery
 * section; `agent-core check` runs SQLite's integrity check on it.
 */
export class DatabaseCorruptError extends Error {
  override readonly name = 'DatabaseCorruptError';

  constructor(
    /** The path of the damaged file. */
    readonly path: string,
    /** SQLite's code: `SQLITE_CORRUPT` or `SQLITE_NOTADB`, or `INTEGRITY_CHECK` for a failed `agent-core check`. */
    readonly code: string,
    detail: string,
    options: { cause?: unknown } = {},
  ) {
    super(
      `The SQLite database ${path} is damaged: ${detail} (${code}). Stop every process that uses it and follow ${SQLITE_RECOVERY_README}.`,
      options,
    );
  }
}
