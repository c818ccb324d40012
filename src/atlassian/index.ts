export { AtlassianModule } from './atlassian.module';
export { AtlassianOauthStateRepo, AtlassianOauthTokens, AtlassianOauthUpsertOptions, MAX_KEY_LENGTH } from './atlassian-oauth-state.repo';
export { AtlassianOauthStateEntity } from '../database/entities';
export { AtlassianOauthStateConflictError, AtlassianOauthStateValidationError } from './atlassian-oauth-state.errors';
