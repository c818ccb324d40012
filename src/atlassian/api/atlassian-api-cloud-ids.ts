/**
 * Where a tenant's calls go: the cloudId of one of its sites. Provided by `AtlassianApiModule`
 * from `AtlassianSitesService.site`; a test or a host may provide its own.
 */
export interface AtlassianApiCloudIds {
  /** The cloudId of the site `site` names (a cloudId or a site URL), or of the only site when none is named. */
  cloudId(platform: string, tenantId: string, site?: string): Promise<string>;
}

/** The Nest injection token of the {@link AtlassianApiCloudIds}. */
export const ATLASSIAN_API_CLOUD_IDS = Symbol('AtlassianApiCloudIds');
