import { Injectable } from '@nestjs/common';
import { AtlassianAccessibleResourcesClient } from './accessible-resources.client';
import { AtlassianSiteReplacement, AtlassianSiteRepo } from './atlassian-site.repo';
import { sitesOfPlatform } from './site-selection';

/**
 * Reads the sites an access token reaches from Atlassian and stores those of the key's platform,
 * replacing the key's set. The one step that `AtlassianOauthTokenService.connect` (right after it
 * stored the tokens) and `AtlassianSitesService.refreshSites` share.
 */
@Injectable()
export class AtlassianSiteSync {
  constructor(
    private readonly resources: AtlassianAccessibleResourcesClient,
    private readonly sites: AtlassianSiteRepo,
  ) {}

  /**
   * @throws AtlassianSitesEndpointError when Atlassian gave no usable list; the stored set stays.
   */
  async store(platform: string, tenantId: string, accessToken: string): Promise<AtlassianSiteReplacement> {
    const resources = await this.resources.fetch(accessToken);
    return this.sites.replace(platform, tenantId, sitesOfPlatform(platform, resources), new Date());
  }
}
