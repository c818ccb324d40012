import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { LessThan, Repository } from 'typeorm';
import { DatabaseOutageMonitor } from '../database/database-outage.monitor';
import { BoundedCall, DatabaseRepo } from '../database/database-repo';
import { AtlassianOauthRefreshLeaseEntity } from '../database/entities';
import { AtlassianOauthStateKey } from './atlassian-oauth-state.types';

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
@Injectable()
export class AtlassianOauthRefreshLeaseRepo extends DatabaseRepo {
  constructor(
    @InjectRepository(AtlassianOauthRefreshLeaseEntity)
    private readonly repository: Repository<AtlassianOauthRefreshLeaseEntity>,
    /** The connection's outages: every method's database failure is translated and redacted (`DatabaseRepo`). */
    outages: DatabaseOutageMonitor,
  ) {
    super(outages);
  }

  /**
   * Takes the lease of `key` for `leaseMs` if it is free or has lapsed.
   *
   * With `look` (the default, for a caller polling while someone else holds it) a read comes
   * first: it decides nothing, it only spares a waiter the write that is bound to fail while a live
   * lease exists. Without it (a caller that expects the lease to be free) the lease is taken in one
   * statement when it is: an `INSERT` that does nothing on a conflict (`ON CONFLICT DO NOTHING`,
   * `INSERT IGNORE`, `INSERT OR IGNORE`: no error in the server's log). Either way, who gets it is
   * decided by that `INSERT` or by an `UPDATE ... WHERE expires_at < now` that only a lapsed
   * lease matches.
   *
   * @returns the holder id to release it with, or `null` when someone else holds it.
   */
  @BoundedCall()
  async tryAcquire(key: AtlassianOauthStateKey, leaseMs: number, look = true): Promise<string | null> {
    const holder = newHolderId();
    const now = new Date();
    const expiresAt = new Date(now.getTime() + leaseMs);
    if (look) {
      const seen = await this.repository.findOne({ where: key, select: { expiresAt: true } });
      if (seen && seen.expiresAt.getTime() >= now.getTime()) {
        return null;
      }
    }
    if (await this.insertIfAbsent({ ...key, holder, expiresAt })) {
      return holder;
    }
    const { affected } = await this.repository.update({ ...key, expiresAt: LessThan(now) }, { holder, expiresAt });
    return affected === 1 ? holder : null;
  }

  /**
   * Hands the lease that `from` holds to a new holder for `leaseMs`, whether or not it has lapsed:
   * for a process that took the lease, could not give it back (the database was away), and now
   * wants it again. Nobody else can hold it meanwhile, since `from` is still the holder.
   *
   * @returns the new holder id, or `null` when `from` no longer holds it (it was released or taken over).
   */
  @BoundedCall()
  async takeOver(key: AtlassianOauthStateKey, from: string, leaseMs: number): Promise<string | null> {
    const holder = newHolderId();
    const { affected } = await this.repository.update(
      { ...key, holder: from },
      { holder, expiresAt: new Date(Date.now() + leaseMs) },
    );
    return affected === 1 ? holder : null;
  }

  /**
   * The keys whose lease lapsed without being given back, oldest first: their holder died (or could
   * not reach the database) while it held the lease, perhaps after Atlassian had answered its refresh.
   */
  @BoundedCall()
  async findLapsed(limit: number): Promise<AtlassianOauthStateKey[]> {
    const rows = await this.repository.find({
      where: { expiresAt: LessThan(new Date()) },
      select: { platform: true, tenantId: true },
      order: { expiresAt: 'ASC' },
      take: limit,
    });
    return rows.map(({ platform, tenantId }) => ({ platform, tenantId }));
  }

  /** Removes `key`'s lease only if it has lapsed (a key whose state is gone has nothing to settle). */
  @BoundedCall()
  async deleteLapsed(key: AtlassianOauthStateKey): Promise<void> {
    await this.repository.delete({ ...key, expiresAt: LessThan(new Date()) });
  }

  /** Gives the lease back, only if `holder` still holds it: a lease taken over after it lapsed stays with its new holder. */
  @BoundedCall()
  async release(key: AtlassianOauthStateKey, holder: string): Promise<void> {
    await this.repository.delete({ ...key, holder });
  }

  /** Inserts the lease row unless the key has one: `true` when this call inserted it. One statement, no error on a conflict. */
  private async insertIfAbsent(values: AtlassianOauthRefreshLeaseEntity): Promise<boolean> {
    const { connection } = this.repository.manager;
    const returning = connection.driver.options.type === 'postgres';
    const insert = this.repository.createQueryBuilder().insert().values(values).orIgnore();
    if (returning) {
      insert.returning(['holder']);
    }
    const [sql, parameters] = insert.getQueryAndParameters();
    const runner = connection.createQueryRunner();
    try {
      const result = await runner.query(sql, parameters, true);
      // PostgreSQL reports no count for an INSERT: the returned row says it was inserted.
      return returning ? (result.records as unknown[]).length === 1 : result.affected === 1;
    } finally {
      await runner.release();
    }
  }
}

/** Who holds a lease: host and process (for a human reading the table), and a unique part per acquisition. */
function newHolderId(): string {
  return `${hostname().slice(0, 64)}:${process.pid}:${randomUUID()}`;
}
