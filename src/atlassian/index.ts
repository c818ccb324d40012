export { AtlassianModule } from './atlassian.module';
export {
  AtlassianOauthRefresh,
  AtlassianOauthRotateOptions,
  AtlassianOauthStateRepo,
  AtlassianOauthTokens,
  AtlassianOauthUpsertOptions,
  DEFAULT_LEASE_MS,
  DEFAULT_MIN_VALIDITY_MS,
  DEFAULT_WAIT_MS,
  MAX_KEY_LENGTH,
} from './atlassian-oauth-state.repo';
export { AtlassianOauthRefreshLeaseEntity, AtlassianOauthStateEntity } from '../database/entities';
export {
  AtlassianOauthRefreshFailedError,
  AtlassianOauthRotateTimeoutError,
  AtlassianOauthStateConflictError,
  AtlassianOauthStateNotFoundError,
  AtlassianOauthStateValidationError,
} from './atlassian-oauth-state.errors';
