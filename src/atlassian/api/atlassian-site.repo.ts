import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityManager, In, Not, Repository } from 'typeorm';
import { DatabaseOutageMonitor } from '../../database/database-outage.monitor';
import { DatabaseRepo } from '../../database/database-repo';
import { AtlassianOauthStateEntity, AtlassianSiteEntity } from '../../database/entities';
import { isServerDatabase } from '../../database/server-database';
import { AtlassianOauthStateKey, stateKeyId } from '../atlassian-oauth-state.types';
import { requireKeyPart, validateKey } from '../atlassian-oauth-state.validation';

/** One site as `accessible-resources` lists it, checked: what {@link AtlassianSiteRepo.replace} stores. */
export type AtlassianSiteValues = Pick<AtlassianSiteEntity, 'cloudId' | 'url' | 'name' | 'scopes' | 'avatarUrl'>;

/** What {@link AtlassianSiteRepo.replace} did to a key's set of sites. */
export interface AtlassianSiteReplacement {
  /** The key's sites now, ordered by `url`, then `cloudId`. */
  readonly sites: AtlassianSiteEntity[];
  /** Cloud ids stored now and not before, sorted. */
  readonly added: string[];
  /** Cloud ids stored before and not now, sorted. */
  readonly removed: string[];
  /** False when nothing was stored because the key has no state (deleted meanwhile). */
  readonly stored: boolean;
}

const CONFLICT_PATHS = ['platform', 'tenantId', 'cloudId'];

/**
 * Stores and loads the sites each `(platform, tenantId)`'s grant reaches ({@link AtlassianSiteEntity}).
 * No rules and no HTTP here: `AtlassianSitesService` reads `accessible-resources` and decides.
 *
 * Every method validates the key first (`AtlassianOauthStateValidationError` naming the field),
 * and rejects with `DatabaseUnavailableError` when the database is away.
 */
@Injectable()
export class AtlassianSiteRepo extends DatabaseRepo {
  /**
   * How many times this process has replaced a key's sites: a cache of what `list` returned
   * (the API client's cloud ids) is stale once it changes.
   */
  replacements = 0;

  constructor(
    @InjectRepository(AtlassianSiteEntity)
    private readonly repository: Repository<AtlassianSiteEntity>,
    /** The connection's outages: every method's database failure is translated and redacted (`DatabaseRepo`). */
    outages: DatabaseOutageMonitor,
  ) {
    super(outages);
  }

  /** The key's stored sites, ordered by `url`, then `cloudId`; `[]` when none is stored. */
  async list(platform: string, tenantId: string): Promise<AtlassianSiteEntity[]> {
    return listOf(this.repository, validateKey(platform, tenantId));
  }

  /**
   * Replaces the key's whole set of sites with `sites`, in one transaction: a site not in `sites`
   * is deleted, the others are inserted or updated, all stamped `updatedAt: at`. Readers see the
   * old set or the new one, never a mix.
   *
   * The key's state row is read first in the same transaction (locked `FOR UPDATE` on a server
   * database, so replacements of one key and the state's deletion take turns): when it is gone,
   * nothing is stored, so a refresh that raced a deletion cannot bring the sites back.
   */
  async replace(
    platform: string,
    tenantId: string,
    sites: readonly AtlassianSiteValues[],
    at: Date,
  ): Promise<AtlassianSiteReplacement> {
    const key = validateKey(platform, tenantId);
    this.replacements += 1;
    return this.repository.manager.transaction(async (manager) => {
      const repository = manager.getRepository(AtlassianSiteEntity);
      if (!(await lockState(manager, key))) {
        return { sites: [], added: [], removed: [], stored: false };
      }
      const before = new Set((await repository.find({ where: key, select: { cloudId: true } })).map((s) => s.cloudId));
      const ids = sites.map((site) => site.cloudId);
      await repository.delete(ids.length === 0 ? key : { ...key, cloudId: Not(In(ids)) });
      if (sites.length > 0) {
        const rows = sites.map((site) => Object.assign(new AtlassianSiteEntity(), { ...site, ...key, updatedAt: at }));
        await repository.upsert(rows, { conflictPaths: CONFLICT_PATHS });
      }
      const now = new Set(ids);
      return {
        sites: await listOf(repository, key),
        added: [...now].filter((id) => !before.has(id)).sort(),
        removed: [...before].filter((id) => !now.has(id)).sort(),
        stored: true,
      };
    });
  }

  /**
   * How many sites each stored key has, as a map from `stateKeyId(key)`; a key without sites is
   * absent. `platform` limits it to one platform.
   */
  async countByKey(options: { platform?: string } = {}): Promise<Map<string, number>> {
    const query = this.repository
      .createQueryBuilder('site')
      .select('site.platform', 'platform')
      .addSelect('site.tenantId', 'tenantId')
      .addSelect('COUNT(*)', 'count')
      .groupBy('site.platform')
      .addGroupBy('site.tenantId');
    if (options.platform !== undefined) {
      query.where('site.platform = :platform', { platform: requireKeyPart('platform', options.platform) });
    }
    const rows = await query.getRawMany<{ platform: string; tenantId: string; count: string | number }>();
    return new Map(rows.map((row) => [stateKeyId(row), Number(row.count)]));
  }
}

/** The key's sites ordered by `url`, then `cloudId`, by code unit: the same order on every engine, whatever its collation. */
async function listOf(
  repository: Repository<AtlassianSiteEntity>,
  key: AtlassianOauthStateKey,
): Promise<AtlassianSiteEntity[]> {
  const sites = await repository.find({ where: { ...key } });
  return sites.sort((a, b) => compare(a.url, b.url) || compare(a.cloudId, b.cloudId));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Whether the key has a state, read (and on a server database locked) inside the caller's transaction. */
async function lockState(manager: EntityManager, key: AtlassianOauthStateKey): Promise<boolean> {
  const state = await manager.getRepository(AtlassianOauthStateEntity).findOne({
    where: { ...key },
    select: { id: true },
    ...(isServerDatabase(manager.connection.options) && { lock: { mode: 'pessimistic_write' as const } }),
  });
  return state !== null;
}
