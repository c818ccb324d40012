import { QueryFailedError } from 'typeorm';
import { DatabaseOutageMonitor } from './database-outage.monitor';

/**
 * Strips the bound values from a TypeORM `QueryFailedError`, in place: TypeORM keeps them in its
 * `parameters` property, so a caller that logs the error object (`console.error(error)`,
 * `util.inspect`) would print the tokens of the failed write, plaintext or sealed. The count
 * stays, as `"[N parameters redacted]"`; the SQL text with placeholders (`query`) and the driver's
 * message stay too. MySQL's `sql` (the statement with its values inlined) is redacted as well.
 *
 * @returns `error` itself, so that `throw redactQueryFailure(error)` keeps its class.
 */
export function redactQueryFailure(error: unknown): unknown {
  if (!(error instanceof QueryFailedError)) {
    return error;
  }
  if (Array.isArray(error.parameters) && error.parameters.length > 0) {
    const count = error.parameters.length;
    Object.defineProperty(error, 'parameters', {
      value: [`[${count} parameter${count === 1 ? '' : 's'} redacted]`],
      enumerable: true,
    });
  }
  // mysql2 reports the statement with the values written into it, as `sql`; TypeORM copies it
  // from the driver's error onto its own. `query` (placeholders only) says the same safely.
  for (const holder of [error, error.driverError as unknown]) {
    if (typeof holder === 'object' && holder !== null && typeof (holder as { sql?: unknown }).sql === 'string') {
      Object.defineProperty(holder, 'sql', {
        value: '[redacted: the statement with its values; see query]',
        enumerable: true,
      });
    }
  }
  return error;
}

/**
 * Method decorator for the public async methods of a store: a `QueryFailedError` that leaves the
 * method has its parameters stripped ({@link redactQueryFailure}).
 *
 * When the instance has an `outages` property holding a {@link DatabaseOutageMonitor}, every call
 * is reported to it: an outage of the database (connection refused or lost, server shutdown,
 * a query or pool timeout) leaves the method as `DatabaseUnavailableError`, a damaged SQLite file
 * as `DatabaseCorruptError`, and the outage's start and end are logged once each. Everything else
 * passes as it is.
 */
export function RedactsQueryFailures(): MethodDecorator {
  return (_target, _name, descriptor) => {
    const method = descriptor.value as unknown;
    if (typeof method !== 'function') {
      throw new TypeError('@RedactsQueryFailures() decorates methods only');
    }
    const redacting = async function (this: unknown, ...args: unknown[]): Promise<unknown> {
      const outages = (this as { outages?: unknown } | undefined)?.outages;
      const monitor = outages instanceof DatabaseOutageMonitor ? outages : undefined;
      try {
        const result = await (method as (...args: unknown[]) => Promise<unknown>).apply(this, args);
        monitor?.succeeded();
        return result;
      } catch (error) {
        const redacted = redactQueryFailure(error);
        throw monitor ? monitor.fail(redacted) : redacted;
      }
    };
    Object.defineProperty(redacting, 'name', { value: (method as { name: string }).name });
    (descriptor as PropertyDescriptor).value = redacting;
  };
}
