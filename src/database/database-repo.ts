import { DatabaseOutageMonitor } from './database-outage.monitor';
import { redactQueryFailure } from './query-failure-redaction';

/**
 * The base class of every repo: what a database failure looks like when it leaves one is decided
 * here, once, not by each method.
 *
 * The constructor replaces every method of the subclass (its own and those it inherits, up to this
 * class) with a guarded one on the instance: whatever the method throws or rejects with passes
 * {@link redactQueryFailure} (no bound value, no quoted literal of a token survives) and then the
 * connection's {@link DatabaseOutageMonitor}, so that an outage (connection refused or lost, a
 * query or pool timeout, SQLite busy past its timeout or a full disk) leaves as
 * `DatabaseUnavailableError` and a damaged SQLite file as `DatabaseCorruptError`; every other
 * error keeps its class. A method added later is guarded without anyone remembering to: no
 * decorator per method, no constructor parameter that must exist by name.
 *
 * Chosen over a TypeORM-level hook (a wrapped query runner) because not every statement goes
 * through TypeORM's query runner: the prepared lookups and SQLite's re-encryption batch call the
 * driver directly. Guarding the method boundary covers every path a repo has. A method that
 * returns no promise keeps returning synchronously.
 *
 * A method marked {@link BoundedCall} also has a time limit: the monitor's `callLimitMs`.
 */
export abstract class DatabaseRepo {
  protected constructor(outages: DatabaseOutageMonitor) {
    guardMethods(this, outages);
  }
}

/** The mark {@link BoundedCall} leaves on a method. */
const BOUNDED = Symbol('BoundedCall');

/**
 * Marks a repo method whose call must end within the connection's `callLimitMs`
 * (`DATABASE_QUERY_TIMEOUT_MS` plus `DATABASE_CONNECT_TIMEOUT_MS` on a server database): after it,
 * the call rejects with `DatabaseUnavailableError` (`CALL_TIMEOUT`), whatever the driver is still
 * waiting for. For the single-key calls on the path of every token request, never for batches.
 * Put it above any other decorator of the method.
 */
export function BoundedCall(): MethodDecorator {
  return (_target, _name, descriptor) => {
    if (typeof descriptor.value !== 'function') {
      throw new TypeError('@BoundedCall() decorates methods only');
    }
    Object.defineProperty(descriptor.value, BOUNDED, { value: true });
  };
}

/** `call` raced against `limitMs`, when there is a limit: the monitor's timeout error after it. */
function bounded(call: PromiseLike<unknown>, limitMs: number | undefined, outages: DatabaseOutageMonitor) {
  if (limitMs === undefined) {
    return Promise.resolve(call);
  }
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    call,
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(outages.callTimedOut()), limitMs);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** What `error` becomes when it leaves a repo: redacted, then translated by the connection's monitor. */
function leaving(error: unknown, outages: DatabaseOutageMonitor): unknown {
  return outages.fail(redactQueryFailure(error));
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** Every method name of `repo`'s class chain below {@link DatabaseRepo}, each once, nearest class first. */
export function repoMethodNames(repo: DatabaseRepo): string[] {
  const names = new Set<string>();
  for (
    let prototype = Object.getPrototypeOf(repo) as object | null;
    prototype !== null && prototype !== DatabaseRepo.prototype;
    prototype = Object.getPrototypeOf(prototype) as object | null
  ) {
    for (const name of Object.getOwnPropertyNames(prototype)) {
      const descriptor = Object.getOwnPropertyDescriptor(prototype, name);
      if (name !== 'constructor' && typeof descriptor?.value === 'function') {
        names.add(name);
      }
    }
  }
  return [...names];
}

function guardMethods(repo: DatabaseRepo, outages: DatabaseOutageMonitor): void {
  const methods = repo as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of repoMethodNames(repo)) {
    const method = methods[name];
    if (typeof method !== 'function') {
      continue;
    }
    const limited = (method as unknown as Record<symbol, unknown>)[BOUNDED] === true;
    const guarded = function (this: unknown, ...args: unknown[]): unknown {
      let result: unknown;
      try {
        result = method.apply(this, args);
      } catch (error) {
        throw leaving(error, outages);
      }
      if (!isPromiseLike(result)) {
        return result;
      }
      return bounded(result, limited ? outages.callLimitMs : undefined, outages).then(
        (value) => {
          outages.succeeded();
          return value;
        },
        (error: unknown) => {
          throw leaving(error, outages);
        },
      );
    };
    Object.defineProperty(guarded, 'name', { value: name });
    Object.defineProperty(repo, name, { value: guarded, writable: true, configurable: true, enumerable: false });
  }
}
