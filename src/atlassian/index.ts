export { AtlassianModule } from './atlassian.module';
export {
  AtlassianOauthRefresh,
  AtlassianOauthRotateOptions,
  AtlassianOauthStateRepo,
  AtlassianOauthStateSummary,
  AtlassianOauthTokens,
  AtlassianOauthUpsertOptions,
  DEFAULT_LEASE_MS,
  DEFAULT_MIN_VALIDITY_MS,
  DEFAULT_REENCRYPT_BATCH_SIZE,
  DEFAULT_WAIT_MS,
  MAX_KEY_LENGTH,
  ReencryptCounts,
  ReencryptOptions,
  ReencryptProgress,
} from './atlassian-oauth-state.repo';
export { AtlassianOauthRefreshLeaseEntity, AtlassianOauthStateEntity } from '../database/entities';
export {
  AtlassianOauthRefreshFailedError,
  AtlassianOauthRotateTimeoutError,
  AtlassianOauthStateConflictError,
  AtlassianOauthStateNotFoundError,
  AtlassianOauthStateValidationError,
} from './atlassian-oauth-state.errors';
export {
  TokenEncryptionConfigError,
  TokenIntegrityError,
  TokenLocation,
  UnknownTokenKeyError,
} from '../database/token-cipher.errors';
