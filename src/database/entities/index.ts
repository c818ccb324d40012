export { AtlassianOauthStateEntity } from './atlassian-oauth-state.entity';
export { AtlassianOauthRefreshLeaseEntity } from './atlassian-oauth-refresh-lease.entity';
export {
  AtlassianOauthRefreshHealthEntity,
  AtlassianOauthRefreshHealthStatus,
} from './atlassian-oauth-refresh-health.entity';
export { AtlassianOauthConsentStateEntity } from './atlassian-oauth-consent-state.entity';
export { ATLASSIAN_SITE_TABLE, AtlassianSiteEntity } from './atlassian-site.entity';
export { AtlassianApiPauseEntity, AtlassianApiPauseScope } from './atlassian-api-pause.entity';
