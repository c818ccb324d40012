import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { AtlassianOauthRefreshHealthEntity } from '../../database/entities';

/**
 * Stores and loads the refresh health of a `(platform, tenantId)`: one row per key whose last
 * refresh failed (see {@link AtlassianOauthRefreshHealthEntity}). No rules here: the token
 * service decides what a row means.
 */
@Injectable()
export class AtlassianOauthRefreshHealthRepo {
  constructor(
    @InjectRepository(AtlassianOauthRefreshHealthEntity)
    private readonly repository: Repository<AtlassianOauthRefreshHealthEntity>,
  ) {}

  /** The key's row, or `null` when its last refresh did not fail. */
  get(platform: string, tenantId: string): Promise<AtlassianOauthRefreshHealthEntity | null> {
    return this.repository.findOneBy({ platform, tenantId });
  }

  /** Every row: the keys whose last refresh failed (a small table: a key that refreshes fine has none). */
  list(): Promise<AtlassianOauthRefreshHealthEntity[]> {
    return this.repository.find({ order: { platform: 'ASC', tenantId: 'ASC' } });
  }

  /** Replaces the key's row with `row` (one `INSERT ... ON CONFLICT` / `ON DUPLICATE KEY` statement). */
  async save(row: AtlassianOauthRefreshHealthEntity): Promise<void> {
    await this.repository.upsert(row, { conflictPaths: ['platform', 'tenantId'] });
  }

  /** Removes the key's row, if any. */
  async clear(platform: string, tenantId: string): Promise<void> {
    await this.repository.delete({ platform, tenantId });
  }
}
