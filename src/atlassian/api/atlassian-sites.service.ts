import { Injectable } from '@nestjs/common';
import { AtlassianSiteEntity } from '../../database/entities';
import { AtlassianOauthStateNotFoundError, AtlassianOauthStateValidationError } from '../atlassian-oauth-state.errors';
import { stateKeyId } from '../atlassian-oauth-state.types';
import { validateKey } from '../atlassian-oauth-state.validation';
import { AtlassianOauthTokenService } from '../tokens/atlassian-oauth-token.service';
import { AtlassianSiteRepo } from './atlassian-site.repo';
import { AtlassianSiteSync } from './atlassian-site-sync';
import { AtlassianSiteAmbiguousError, AtlassianSiteNotFoundError } from './atlassian-sites.errors';
import { chooseSite } from './site-selection';

/**
 * Which Atlassian sites (cloud ids) a tenant's grant reaches, and which one a call goes to.
 *
 * Every REST call of a 3LO grant goes to `https://api.atlassian.com/ex/<platform>/<cloudId>/...`;
 * the cloud id comes from Atlassian's `accessible-resources`. One grant reaches every site the
 * consenting account admitted the app to, 0, 1 or many, and a site admitted later joins the same
 * grant: so the list is stored per key (`atlassian_site`), read again on demand, and a site is
 * chosen exactly, never by prefix or substring.
 *
 * Provided by `AtlassianApiModule`.
 */
@Injectable()
export class AtlassianSitesService {
  /** The `refreshSites` in flight per key: callers that miss at once share one request. */
  private readonly inFlight = new Map<string, Promise<AtlassianSiteEntity[]>>();

  constructor(
    private readonly tokens: AtlassianOauthTokenService,
    private readonly sync: AtlassianSiteSync,
    private readonly repo: AtlassianSiteRepo,
  ) {}

  /**
   * Reads the sites the key's grant reaches from Atlassian (`accessible-resources`, with an access
   * token from `AtlassianOauthTokenService.accessToken`: single flight and refresh health apply),
   * keeps those of the platform (a scope of the platform among the site's scopes; a site listed
   * once per product is one site) and replaces the key's stored set atomically: a site that left
   * the grant is gone. Concurrent calls for one key in this process share one request.
   *
   * @returns the stored sites, ordered by `url`.
   * @throws AtlassianOauthStateValidationError for a bad key, before any request.
   * @throws AtlassianOauthStateNotFoundError when nothing is stored for the key (or it was deleted meanwhile).
   * @throws AtlassianSitesEndpointError when Atlassian gave no usable list (401, 429, 5xx, timeout,
   *   network, an answer over 256 KiB or not a list of sites): nothing stored, the earlier set stays.
   * @throws whatever `accessToken` rejects with (`AtlassianOauthGrantRevokedError`, ...).
   */
  async refreshSites(platform: string, tenantId: string): Promise<AtlassianSiteEntity[]> {
    const key = stateKeyId(validateKey(platform, tenantId));
    let refresh = this.inFlight.get(key);
    if (!refresh) {
      refresh = this.fetchAndStore(platform, tenantId).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, refresh);
    }
    return refresh;
  }

  /**
   * The key's stored sites, ordered by `url`; `[]` when none is stored. No call to Atlassian.
   *
   * @throws AtlassianOauthStateValidationError for a bad key.
   */
  sites(platform: string, tenantId: string): Promise<AtlassianSiteEntity[]> {
    return this.repo.list(platform, tenantId);
  }

  /**
   * One site of the key's grant: the one `selector` names, a cloud id or a site URL. A URL matches
   * only a site of the same origin (scheme and host compared case-insensitively; a default port,
   * a path and a trailing slash ignored), never by prefix or substring. Without a selector: the
   * one site when the grant reaches exactly one.
   *
   * When no stored site matches (or none is stored), the list is read again from Atlassian once,
   * since a site may have joined the grant, before it rejects.
   *
   * @throws AtlassianOauthStateValidationError for a bad key, or a `selector` that is not a non-blank string.
   * @throws AtlassianSiteNotFoundError when no site matches after the re-read, listing the URLs the grant reaches.
   * @throws AtlassianSiteAmbiguousError without a selector when the grant reaches several sites, listing them.
   * @throws what {@link refreshSites} rejects with, when it had to re-read.
   */
  async site(platform: string, tenantId: string, selector?: string): Promise<AtlassianSiteEntity> {
    validateKey(platform, tenantId);
    if (selector !== undefined && (typeof selector !== 'string' || selector.trim() === '')) {
      throw new AtlassianOauthStateValidationError('selector', 'must be a cloud id or a site URL, or omitted');
    }
    const stored = await this.repo.list(platform, tenantId);
    const first = chooseSite(stored, selector);
    if (first.site) {
      return first.site;
    }
    if (first.ambiguous) {
      throw new AtlassianSiteAmbiguousError(
        platform,
        tenantId,
        stored.map((site) => site.url),
      );
    }
    const fresh = await this.refreshSites(platform, tenantId);
    const again = chooseSite(fresh, selector);
    if (again.site) {
      return again.site;
    }
    const urls = fresh.map((site) => site.url);
    if (again.ambiguous) {
      throw new AtlassianSiteAmbiguousError(platform, tenantId, urls);
    }
    throw new AtlassianSiteNotFoundError(platform, tenantId, selector, urls);
  }

  private async fetchAndStore(platform: string, tenantId: string): Promise<AtlassianSiteEntity[]> {
    const accessToken = await this.tokens.accessToken(platform, tenantId);
    const { sites, stored } = await this.sync.store(platform, tenantId, accessToken);
    if (!stored) {
      throw new AtlassianOauthStateNotFoundError(platform, tenantId);
    }
    return sites;
  }
}
