import { QueryFailedError } from 'typeorm';
import { DatabaseOutageMonitor } from './database-outage.monitor';

/**
 * The fields of a database error that can carry a value, as each driver names them:
 * PostgreSQL's `detail` (`Failing row contains (..., <token>, ...)`) and `where` (the context, which
 * can quote a statement), MariaDB/MySQL's `sql` (the statement with its values written into it)
 * and `sqlMessage` (e.g. `Incorrect string value: '...'`). TypeORM copies them from the driver's
 * error onto its own, so both are redacted.
 */
const VALUE_FIELDS = ['detail', 'where', 'sql', 'sqlMessage'] as const;

/** Errors already redacted: redacting twice would count the one placeholder as the parameters. */
const alreadyRedacted = new WeakSet<object>();

/** What a redacted field says instead: where to look for what is left. */
const REDACTED_FIELD = '[redacted: it can quote the values of the statement; see query and code]';

/**
 * Strips every value from a TypeORM `QueryFailedError`, in place: a caller that logs the error
 * object (`console.error(error)`, `util.inspect`) would otherwise print the tokens of the failed
 * write, plaintext or sealed. The bound `parameters` become their count
 * (`"[N parameters redacted]"`); the {@link VALUE_FIELDS} of the error and of its `driverError`
 * are replaced; on MariaDB/MySQL, whose message is the server's `sqlMessage`, the quoted literals
 * of the message are replaced too. What stays says what went wrong without a value: the SQL with
 * placeholders (`query`), the error `code`, the constraint, table and column names.
 *
 * @returns `error` itself, so that `throw redactQueryFailure(error)` keeps its class.
 */
export function redactQueryFailure(error: unknown): unknown {
  if (!(error instanceof QueryFailedError) || alreadyRedacted.has(error)) {
    return error;
  }
  alreadyRedacted.add(error);
  if (Array.isArray(error.parameters) && error.parameters.length > 0) {
    const count = error.parameters.length;
    Object.defineProperty(error, 'parameters', {
      value: [`[${count} parameter${count === 1 ? '' : 's'} redacted]`],
      enumerable: true,
    });
  }
  const driverError = error.driverError as unknown;
  for (const holder of [error, driverError]) {
    if (typeof holder !== 'object' || holder === null) {
      continue;
    }
    const fields = holder as Record<string, unknown>;
    for (const field of VALUE_FIELDS) {
      if (typeof fields[field] === 'string' && fields[field] !== '') {
        Object.defineProperty(holder, field, { value: REDACTED_FIELD, enumerable: true, writable: true });
      }
    }
  }
  if (isMysqlError(driverError)) {
    for (const holder of [error, driverError]) {
      const { message, stack } = holder;
      const redacted = redactQuotedLiterals(message);
      Object.defineProperty(holder, 'message', { value: redacted, enumerable: false, writable: true });
      // The stack's first line repeats the message; util.inspect prints the stack.
      if (typeof stack === 'string') {
        Object.defineProperty(holder, 'stack', {
          value: stack.split(message).join(redacted),
          enumerable: false,
          writable: true,
        });
      }
    }
  }
  return error;
}

/** mysql2's errors carry `sqlState` and a numeric `errno`; PostgreSQL's and SQLite's do not. */
function isMysqlError(error: unknown): error is Error {
  return error instanceof Error && typeof (error as { sqlState?: unknown }).sqlState === 'string';
}

/** MariaDB/MySQL messages quote values in single quotes (`Duplicate entry 'x' for key ...`). */
function redactQuotedLiterals(message: string): string {
  return message.replace(/'(?:[^'\\]|\\.|'')*'/g, "'[redacted]'");
}

/**
 * Method decorator for the public async methods of a store: a `QueryFailedError` that leaves the
 * method has its parameters stripped ({@link redactQueryFailure}).
 *
 * When the instance has an `outages` property holding a {@link DatabaseOutageMonitor}, every call
 * is reported to it: an outage of the database (connection refused or lost, server shutdown,
 * a query or pool timeout) leaves the method as `DatabaseUnavailableError`, a damaged SQLite file
 * as `DatabaseCorruptError`, and the outage's start and end are logged once each. Everything else
 * passes as it is. With `bounded`, a call that takes longer than the monitor's `callLimitMs`
 * (`DATABASE_QUERY_TIMEOUT_MS` plus `DATABASE_CONNECT_TIMEOUT_MS` on a server database) rejects then
 * with `DatabaseUnavailableError` (`CALL_TIMEOUT`), whatever the driver is still waiting for: for the
 * single-key calls on the path of every token request, never for batches.
 */
export function RedactsQueryFailures(options: { bounded?: boolean } = {}): MethodDecorator {
  return (_target, _name, descriptor) => {
    const method = descriptor.value as unknown;
    if (typeof method !== 'function') {
      throw new TypeError('@RedactsQueryFailures() decorates methods only');
    }
    const redacting = async function (this: unknown, ...args: unknown[]): Promise<unknown> {
      const outages = (this as { outages?: unknown } | undefined)?.outages;
      const monitor = outages instanceof DatabaseOutageMonitor ? outages : undefined;
      let timer: NodeJS.Timeout | undefined;
      try {
        const call = (method as (...args: unknown[]) => Promise<unknown>).apply(this, args);
        const limitMs = options.bounded ? monitor?.callLimitMs : undefined;
        const result =
          limitMs === undefined || monitor === undefined
            ? await call
            : await Promise.race([
                call,
                new Promise<never>((_resolve, reject) => {
                  timer = setTimeout(() => reject(monitor.callTimedOut()), limitMs);
                }),
              ]);
        monitor?.succeeded();
        return result;
      } catch (error) {
        const redacted = redactQueryFailure(error);
        throw monitor ? monitor.fail(redacted) : redacted;
      } finally {
        clearTimeout(timer);
      }
    };
    Object.defineProperty(redacting, 'name', { value: (method as { name: string }).name });
    (descriptor as PropertyDescriptor).value = redacting;
  };
}
