/**
 * Paces this process's calls to Atlassian to at most `ratePerSecond` on average, and when calls
 * wait, serves the tenants in turn: one call of each waiting tenant, in the order they started
 * waiting, then round again. A tenant that floods waits behind itself.
 *
 * The pace is a GCRA (a token bucket kept as one time): a call may go one interval
 * (`1000 / ratePerSecond` ms) after the one before. A tenant's only waiting call (a tenant that is
 * not flooding) may also use a burst of up to one second's calls (`floor(ratePerSecond)`, at least
 * 1) ahead of that schedule, so that the calls of quiet tenants that arrive together go out
 * together; a flooding tenant's calls (more than one waiting) never use the burst, and wait until
 * it has been paid back. Over any window of W ms at most `floor(ratePerSecond) + W *
 * ratePerSecond / 1000` calls go out.
 *
 * Why: Atlassian's app-wide points quota is shared by every tenant of the app. Answering its 429
 * (a pause of every call until the window turns) keeps the app within the quota but stops every
 * tenant for the rest of the window, so one flooding tenant costs every other tenant its calls.
 * Pacing below the quota keeps the 429 from coming; the turns and the burst keep it fair.
 */
export class AtlassianApiPacer {
  private readonly intervalMs: number;
  /** How far ahead of the schedule a tenant's only waiting call may go: the burst less one call. */
  private readonly toleranceMs: number;
  /** When the next call may go out at the steady pace (`performance.now()` time). */
  private nextAt = -Infinity;
  /** The waiting calls per tenant; the map's order is the round. */
  private readonly waiting = new Map<string, Waiter[]>();
  private timer: NodeJS.Timeout | undefined;

  /**
   * @param ratePerSecond the average pace, above 0
   * @param burst calls a tenant's only waiting call may go ahead of the pace with, itself included:
   *   a whole number from 1 (1: no burst), one second's calls by default
   */
  constructor(ratePerSecond: number, burst: number = Math.max(1, Math.floor(ratePerSecond))) {
    if (!(ratePerSecond > 0) || !Number.isFinite(ratePerSecond)) {
      throw new RangeError('AtlassianApiPacer: ratePerSecond must be a finite number above 0');
    }
    if (!Number.isSafeInteger(burst) || burst < 1) {
      throw new RangeError('AtlassianApiPacer: burst must be a whole number from 1');
    }
    this.intervalMs = 1_000 / ratePerSecond;
    this.toleranceMs = (burst - 1) * this.intervalMs;
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
    // A call of a tenant with none waiting goes at once when the burst allows it and no other
    // tenant's single call waits before it (those go first, in their order).
    const now = performance.now();
    if (!this.waiting.has(tenant) && !this.singleCallWaits() && this.allows(now, true)) {
      this.sent(now);
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
      this.release();
    });
  }

  /** Whether a call may go at `now`: at the steady pace, or within the burst for a tenant's only waiting call. */
  private allows(now: number, single: boolean): boolean {
    return now >= this.nextAt - (single ? this.toleranceMs : 0);
  }

  private sent(now: number): void {
    this.nextAt = Math.max(this.nextAt, now) + this.intervalMs;
  }

  private singleCallWaits(): boolean {
    for (const waiters of this.waiting.values()) {
      if (waiters.length === 1) {
        return true;
      }
    }
    return false;
  }

  /**
   * Lets every waiting call whose time has come go, in the round's order (a tenant's only call may
   * go within the burst while a flooding tenant before it waits for the steady pace), then sets a
   * timer for the next one.
   */
  private release(): void {
    for (;;) {
      const now = performance.now();
      let chosen: [string, Waiter[]] | undefined;
      for (const entry of this.waiting) {
        if (this.allows(now, entry[1].length === 1)) {
          chosen = entry;
          break;
        }
      }
      if (chosen === undefined) {
        break;
      }
      const [tenant, waiters] = chosen;
      const waiter = waiters.shift() as Waiter;
      // The tenant goes to the end of the round, or leaves it when it has no call left.
      this.waiting.delete(tenant);
      if (waiters.length > 0) {
        this.waiting.set(tenant, waiters);
      }
      this.sent(now);
      waiter.resolve();
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.waiting.size === 0) {
      return;
    }
    const at = this.singleCallWaits() ? this.nextAt - this.toleranceMs : this.nextAt;
    // A timer may fire up to a millisecond early: `release` then sets it again for the rest.
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.release();
      },
      Math.max(0, at - performance.now()),
    );
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
    // What may go next has changed (a flooding tenant may now have a single call).
    this.release();
  }
}

interface Waiter {
  resolve: () => void;
  abort: () => void;
}
