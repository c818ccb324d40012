import { AtlassianApiCloudIds } from './atlassian-api-cloud-ids';
import { AtlassianSiteRepo } from './atlassian-site.repo';
import { AtlassianSitesService } from './atlassian-sites.service';

/** How long this process reuses the cloud id a call's site resolved to. */
export const CLOUD_ID_CACHE_MS = 5_000;
/** Past this many cached keys the cache starts over (expired entries are not swept one by one). */
const MAX_CACHED = 10_000;

/**
 * A call's `site` resolved by {@link AtlassianSitesService.site}, reused for
 * {@link CLOUD_ID_CACHE_MS} in this process: the stored sites are read once per tenant and site
 * every few seconds, not on every call (`npm run bench`: the read cost about a tenth of a call to
 * a local server). Only a resolved site is kept: a miss or an ambiguous choice asks again every
 * time. Any replacement of sites in this process (`connect`, `refreshSites`, the keep-alive) drops
 * the whole cache at once; a replacement by another process is seen within the few seconds.
 */
export class CachedCloudIds implements AtlassianApiCloudIds {
  private readonly cached = new Map<string, { cloudId: string; until: number }>();
  private seenReplacements: number;

  constructor(
    private readonly sites: AtlassianSitesService,
    private readonly repo: AtlassianSiteRepo,
  ) {
    this.seenReplacements = repo.replacements;
  }

  async cloudId(platform: string, tenantId: string, site?: string): Promise<string> {
    if (this.repo.replacements !== this.seenReplacements || this.cached.size >= MAX_CACHED) {
      this.cached.clear();
      this.seenReplacements = this.repo.replacements;
    }
    const key = `${platform}\u0000${tenantId}\u0000${site ?? ''}`;
    const now = Date.now();
    const hit = this.cached.get(key);
    if (hit !== undefined && hit.until > now) {
      return hit.cloudId;
    }
    const replacements = this.repo.replacements;
    const { cloudId } = await this.sites.site(platform, tenantId, site);
    // A replacement while this one was read: it may be stale already, so it is not kept.
    if (this.repo.replacements === replacements) {
      this.cached.set(key, { cloudId, until: now + CLOUD_ID_CACHE_MS });
    }
    return cloudId;
  }
}
