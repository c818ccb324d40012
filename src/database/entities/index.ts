export { AtlassianOauthStateEntity } from './atlassian-oauth-state.entity';
