import { AtlassianOauthStateRepo, AtlassianSiteRepo } from '../../src/atlassian';
import { OauthTestServer } from './oauth-server';

/**
 * Connects `tenant` with a fresh grant of `server` whose one site has the cloudId `tenant.site`:
 * accessible-resources lists it for the grant, and it is stored as the tenant's site, so that the
 * processes calling through `AtlassianApiClient` find it without reading the list themselves.
 */
export async function connectWithSite(
  server: OauthTestServer,
  states: AtlassianOauthStateRepo,
  sites: AtlassianSiteRepo,
  platform: string,
  tenant: { tenantId: string; site: string },
): Promise<void> {
  const { grantId, ...tokens } = await server.connectedGrant();
  const site = {
    cloudId: tenant.site,
    url: `https://${tenant.tenantId}.atlassian.net`,
    name: tenant.tenantId,
    scopes: ['read:jira-work'],
    avatarUrl: null,
  };
  await server.setAccessibleResources([{ ...site, id: site.cloudId, avatarUrl: undefined }], grantId);
  await states.upsert(platform, tenant.tenantId, tokens);
  await sites.replace(platform, tenant.tenantId, [site], new Date());
}
