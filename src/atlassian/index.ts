export { AtlassianModule } from './atlassian.module';
export { AtlassianOauthStateRepo, AtlassianOauthTokens, MAX_KEY_LENGTH } from './atlassian-oauth-state.repo';
export { AtlassianOauthStateEntity } from '../database/entities';
export { AtlassianOauthStateValidationError } from './atlassian-oauth-state.errors';
