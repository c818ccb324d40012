import { Injectable, Optional } from '@nestjs/common';
import { AtlassianOauthEventPublisher } from '../events/atlassian-oauth-event.publisher';
import { ATLASSIAN_EVENTS, AtlassianSitesChangedEvent } from '../events/atlassian-oauth.events';
import { AtlassianAccessibleResourcesClient } from './accessible-resources.client';
import { AtlassianSiteReplacement, AtlassianSiteRepo } from './atlassian-site.repo';
import { sitesOfPlatform } from './site-selection';

/**
 * Reads the sites an access token reaches from Atlassian and stores those of the key's platform,
 * replacing the key's set. The one step that `AtlassianOauthTokenService.connect` (right after it
 * stored the tokens) and `AtlassianSitesService.refreshSites` share. A replacement that added or
 * removed a site emits `atlassian.sites.changed` ({@link AtlassianSitesChangedEvent}).
 */
@Injectable()
export class AtlassianSiteSync {
  constructor(
    private readonly resources: AtlassianAccessibleResourcesClient,
    private readonly sites: AtlassianSiteRepo,
    @Optional() private readonly events?: AtlassianOauthEventPublisher,
  ) {}

  /**
   * @throws AtlassianSitesEndpointError when Atlassian gave no usable list; the stored set stays.
   */
  async store(platform: string, tenantId: string, accessToken: string): Promise<AtlassianSiteReplacement> {
    const resources = await this.resources.fetch(accessToken);
    const replaced = await this.sites.replace(platform, tenantId, sitesOfPlatform(platform, resources), new Date());
    if (replaced.stored && (replaced.added.length > 0 || replaced.removed.length > 0)) {
      this.events?.emit(
        ATLASSIAN_EVENTS.sitesChanged,
        new AtlassianSitesChangedEvent(
          platform,
          tenantId,
          replaced.sites.map((site) => site.cloudId).sort(),
          replaced.added,
          replaced.removed,
        ),
      );
    }
    return replaced;
  }
}
