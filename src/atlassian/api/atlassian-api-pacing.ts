/**
 * Paces this process's calls to Atlassian to at most `ratePerSecond` (one call every
 * `1000 / ratePerSecond` ms, no burst: over any window of W ms at most `1 + W * ratePerSecond / 1000`
 * calls go out), and when calls wait, serves the tenants in turn: one call of each waiting tenant,
 * in the order they started waiting, then round again. A tenant that floods waits behind itself;
 * a tenant with one call waits for at most one call of each other waiting tenant.
 *
 * Why: Atlassian's app-wide points quota is shared by every tenant of the app. Answering its 429
 * (a pause of every call until the window turns) keeps the app within the quota but stops every
 * tenant for the rest of the window, so one flooding tenant costs every other tenant its calls.
 * Pacing below the quota keeps the 429 from coming; the turns keep the paced rate fair.
 */
export class AtlassianApiPacer {
  private readonly intervalMs: number;
  /** When the next call may go out (`performance.now()` time). */
  private nextAt = -Infinity;
  /** The waiting calls per tenant; the map's order is the round. */
  private readonly waiting = new Map<string, Waiter[]>();
  private timer: NodeJS.Timeout | undefined;

  constructor(ratePerSecond: number) {
    if (!(ratePerSecond > 0) || !Number.isFinite(ratePerSecond)) {
      throw new RangeError('AtlassianApiPacer: ratePerSecond must be a finite number above 0');
    }
    this.intervalMs = 1_000 / ratePerSecond;
  }

  /** How many calls wait for their turn now. */
  get queued(): number {
    let count = 0;
    for (const waiters of this.waiting.values()) {
      count += waiters.length;
    }
    return count;
  }

  /**
   * Resolves when a call of `tenant` (any key naming the tenant) may be sent. When `signal` aborts
   * first the call gives up its place and this rejects with the signal's reason.
   */
  turn(tenant: string, signal: AbortSignal): Promise<void> {
    if (signal.aborted) {
      return Promise.reject(signal.reason as Error);
    }
    const now = performance.now();
    if (this.waiting.size === 0 && now >= this.nextAt) {
      this.nextAt = now + this.intervalMs;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve: () => {
          signal.removeEventListener('abort', waiter.abort);
          resolve();
        },
        abort: () => {
          this.remove(tenant, waiter);
          reject(signal.reason as Error);
        },
      };
      signal.addEventListener('abort', waiter.abort, { once: true });
      const waiters = this.waiting.get(tenant);
      if (waiters === undefined) {
        this.waiting.set(tenant, [waiter]);
      } else {
        waiters.push(waiter);
      }
      this.schedule();
    });
  }

  /** Lets the next tenant's first waiting call go once its time has come. */
  private schedule(): void {
    if (this.timer !== undefined || this.waiting.size === 0) {
      return;
    }
    const delay = Math.max(0, this.nextAt - performance.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.release();
      this.schedule();
    }, delay);
  }

  private release(): void {
    // A timer may fire up to a millisecond early: then it is set again for the rest.
    if (performance.now() < this.nextAt) {
      return;
    }
    const first = this.waiting.entries().next();
    if (first.done === true) {
      return;
    }
    const [tenant, waiters] = first.value;
    const waiter = waiters.shift() as Waiter;
    // The tenant goes to the end of the round, or leaves it when it has no call left.
    this.waiting.delete(tenant);
    if (waiters.length > 0) {
      this.waiting.set(tenant, waiters);
    }
    // Never two calls closer than the interval, even after a late timer: the rate is a ceiling.
    this.nextAt = Math.max(this.nextAt, performance.now()) + this.intervalMs;
    waiter.resolve();
  }

  private remove(tenant: string, waiter: Waiter): void {
    const waiters = this.waiting.get(tenant);
    if (waiters === undefined) {
      return;
    }
    const index = waiters.indexOf(waiter);
    if (index >= 0) {
      waiters.splice(index, 1);
    }
    if (waiters.length === 0) {
      this.waiting.delete(tenant);
    }
    if (this.waiting.size === 0 && this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}

interface Waiter {
  resolve: () => void;
  abort: () => void;
}
