export { AtlassianOauthStateEntity } from './atlassian-oauth-state.entity';
export { AtlassianOauthRefreshLeaseEntity } from './atlassian-oauth-refresh-lease.entity';
