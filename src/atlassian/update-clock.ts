/** How many keys the clock remembers before it forgets those whose last stamp is in the past. */
const PRUNE_AT = 10_000;

/**
 * Hands out `updatedAt` stamps that advance on every write of a key within this process.
 *
 * The stored times have millisecond precision (SQLite's `datetime` text, MariaDB's
 * `datetime(3)`, a JavaScript `Date`), so two writes of one key within the same millisecond
 * would otherwise store the same `updatedAt`. A stamp is the wall clock, or one millisecond past
 * the key's previous stamp when the clock has not moved on since. Only keys written in the same
 * millisecond ever run ahead of the wall clock, by a millisecond a write; no tokens are kept.
 */
export class UpdateClock {
  private readonly last = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  /** The next `updatedAt` of `key`: later than every stamp this clock gave the key before. */
  stamp(key: string): Date {
    const now = this.now();
    const previous = this.last.get(key);
    const next = previous !== undefined && previous >= now ? previous + 1 : now;
    if (this.last.size >= PRUNE_AT) {
      this.forgetBefore(now);
    }
    this.last.set(key, next);
    return new Date(next);
  }

  /** Keys whose last stamp is before `now` need no memory: the wall clock has passed them. */
  private forgetBefore(now: number): void {
    for (const [key, stamp] of this.last) {
      if (stamp < now) {
        this.last.delete(key);
      }
    }
  }
}
