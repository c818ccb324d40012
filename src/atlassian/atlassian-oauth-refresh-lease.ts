import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { LessThan, Repository } from 'typeorm';
import { AtlassianOauthRefreshLeaseEntity } from '../database/entities';
import { isUniqueViolation } from '../database/unique-violation';

/** The `(platform, tenantId)` a lease guards. */
export interface LeaseKey {
  platform: string;
  tenantId: string;
}

/**
 * The database-held refresh lease of {@link AtlassianOauthRefreshLeaseEntity}: at most one holder
 * per key across every process sharing the database.
 *
 * Both ways of taking the lease are a single statement that the database decides: an `INSERT`
 * that the primary key refuses while a lease row exists, and an `UPDATE ... WHERE expires_at < now`
 * that matches only a lapsed lease, so of two callers taking over the same lapsed lease, exactly
 * one changes a row. Expiry times come from the callers' clocks, so replicas on several hosts
 * need synchronized clocks (NTP); a skew of `s` ms shortens or lengthens a lease by `s`.
 */
export class RefreshLeases {
  constructor(private readonly repository: Repository<AtlassianOauthRefreshLeaseEntity>) {}

  /**
   * Takes the lease of `key` for `leaseMs` if it is free or has lapsed.
   *
   * @returns the holder id to release it with, or `null` when someone else holds it.
   */
  async tryAcquire(key: LeaseKey, leaseMs: number): Promise<string | null> {
    const holder = `${hostname().slice(0, 64)}:${process.pid}:${randomUUID()}`;
    const now = new Date();
    const expiresAt = new Date(now.getTime() + leaseMs);
    // This read decides nothing; it only spares a waiter the write that is bound to fail while a
    // live lease exists (a refused INSERT still takes SQLite's write lock and logs an error on
    // PostgreSQL). Who gets the lease is decided by the INSERT or the conditional UPDATE below.
    const seen = await this.repository.findOne({ where: key, select: { expiresAt: true } });
    if (seen && seen.expiresAt.getTime() >= now.getTime()) {
      return null;
    }
    if (!seen) {
      try {
        await this.repository.insert({ ...key, holder, expiresAt });
        return holder;
      } catch (error) {
        if (!isUniqueViolation(error)) {
          throw error;
        }
      }
    }
    const { affected } = await this.repository.update({ ...key, expiresAt: LessThan(now) }, { holder, expiresAt });
    return affected === 1 ? holder : null;
  }

  /** Gives the lease back, only if `holder` still holds it: a lease taken over after it lapsed stays with its new holder. */
  async release(key: LeaseKey, holder: string): Promise<void> {
    await this.repository.delete({ ...key, holder });
  }
}

/** One string per `(platform, tenantId)`, unambiguous whatever characters the two contain. */
export function leaseKeyId({ platform, tenantId }: LeaseKey): string {
  return JSON.stringify([platform, tenantId]);
}

/**
 * First-come, first-served turns per key within one process, so that of N concurrent callers
 * only the one whose turn it is polls the database; the others wait in memory.
 */
export class InProcessTurns {
  private readonly tails = new Map<string, Promise<void>>();

  /**
   * Waits for the turn on `key` until `deadline` (epoch ms).
   *
   * @returns the function that ends the turn (call it exactly once, also on failure), or `null`
   *   when the deadline passed first; the place in the queue is then given up.
   */
  async take(key: LeaseKey, deadline: number): Promise<(() => void) | null> {
    const id = leaseKeyId(key);
    const previous = this.tails.get(id) ?? Promise.resolve();
    let end!: () => void;
    const ended = new Promise<void>((resolve) => (end = resolve));
    const tail = previous.then(() => ended);
    this.tails.set(id, tail);
    void tail.then(() => {
      if (this.tails.get(id) === tail) {
        this.tails.delete(id);
      }
    });

    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<false>(
      (resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()))),
    );
    const turn = await Promise.race([previous.then(() => true), expired]);
    clearTimeout(timer);
    if (!turn) {
      end();
      return null;
    }
    return end;
  }
}
