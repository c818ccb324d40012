import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, Repository } from 'typeorm';
import { DatabaseOutageMonitor } from '../database/database-outage.monitor';
import { BoundedCall, DatabaseRepo } from '../database/database-repo';
import { AtlassianOauthRefreshHealthEntity, AtlassianOauthStateEntity } from '../database/entities';

/** State ids looked up per query by {@link AtlassianOauthRefreshHealthRepo.listCurrent}: well under every engine's bound-parameter limit. */
const IDS_PER_QUERY = 500;

/**
 * Stores and loads the refresh health of a `(platform, tenantId)`: one row per key whose last
 * refresh failed (see {@link AtlassianOauthRefreshHealthEntity}). No rules here: the token
 * service decides what a row means.
 */
@Injectable()
export class AtlassianOauthRefreshHealthRepo extends DatabaseRepo {
  constructor(
    @InjectRepository(AtlassianOauthRefreshHealthEntity)
    private readonly repository: Repository<AtlassianOauthRefreshHealthEntity>,
    @InjectRepository(AtlassianOauthStateEntity)
    private readonly states: Repository<AtlassianOauthStateEntity>,
    /** The connection's outages: every method's database failure is translated and redacted (`DatabaseRepo`). */
    outages: DatabaseOutageMonitor,
  ) {
    super(outages);
  }

  /** The key's row, or `null` when its last refresh did not fail. */
  @BoundedCall()
  get(platform: string, tenantId: string): Promise<AtlassianOauthRefreshHealthEntity | null> {
    return this.repository.findOneBy({ platform, tenantId });
  }

  /** Every row: the keys whose last refresh failed (a small table: a key that refreshes fine has none). */
  list(): Promise<AtlassianOauthRefreshHealthEntity[]> {
    return this.repository.find({ order: { platform: 'ASC', tenantId: 'ASC' } });
  }

  /**
   * The rows that still apply: those recorded on the state stored now for their key (same `id` and
   * `updatedAt`), in key order. A row left behind by a state that was written since (a reconnect,
   * a `put`, another process's refresh) is not one of them. Reads the health table and the `id` and
   * `updatedAt` of the states it names, never a token column, so it stays cheap on a large table.
   */
  async listCurrent(): Promise<AtlassianOauthRefreshHealthEntity[]> {
    const rows = await this.list();
    const updatedAt = new Map<string, number>();
    const ids = [...new Set(rows.map((row) => row.stateId))];
    for (let start = 0; start < ids.length; start += IDS_PER_QUERY) {
      const states = await this.states.find({
        select: { id: true, updatedAt: true },
        where: { id: In(ids.slice(start, start + IDS_PER_QUERY)) },
      });
      for (const state of states) {
        updatedAt.set(state.id, state.updatedAt.getTime());
      }
    }
    return rows.filter((row) => updatedAt.get(row.stateId) === row.stateUpdatedAt.getTime());
  }

  /** Replaces the key's row with `row` (one `INSERT ... ON CONFLICT` / `ON DUPLICATE KEY` statement). */
  @BoundedCall()
  async save(row: AtlassianOauthRefreshHealthEntity): Promise<void> {
    await this.repository.upsert(row, { conflictPaths: ['platform', 'tenantId'] });
  }

  /** Removes the key's row, if any. */
  @BoundedCall()
  async clear(platform: string, tenantId: string): Promise<void> {
    await this.repository.delete({ platform, tenantId });
  }
}
