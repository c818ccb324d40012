export { AtlassianModule } from './atlassian.module';
export { AtlassianOauthStateRepo } from './atlassian-oauth-state.repo';
export { AtlassianOauthRotationService } from './rotation/atlassian-oauth-rotation.service';
export { AtlassianOauthReencryptionService } from './reencryption/atlassian-oauth-reencryption.service';
export {
  AtlassianOauthRefresh,
  AtlassianOauthRotateOptions,
  AtlassianOauthStateKey,
  AtlassianOauthStateSummary,
  AtlassianOauthTokens,
  AtlassianOauthUpsertOptions,
  DEFAULT_LEASE_MS,
  DEFAULT_MIN_VALIDITY_MS,
  DEFAULT_REENCRYPT_BATCH_SIZE,
  DEFAULT_WAIT_MS,
  ReencryptCounts,
  ReencryptOptions,
  ReencryptProgress,
} from './atlassian-oauth-state.types';
export { MAX_KEY_LENGTH } from './atlassian-oauth-state.validation';
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
} from '../token-cipher/token-cipher.errors';
export {
  ATLASSIAN_API_AUDIENCE,
  AtlassianOauthAuthorizationRequest,
  AtlassianOauthClient,
  AtlassianOauthIssuedTokens,
} from './client/atlassian-oauth-client';
export { AtlassianOauthClientModule } from './client/atlassian-oauth-client.module';
export {
  AtlassianOauthClientConfigError,
  AtlassianOauthGrantRevokedError,
  AtlassianOauthGrantType,
  AtlassianOauthTokenEndpointError,
  AtlassianOauthTokenEndpointFailure,
} from './client/atlassian-oauth-client.errors';
export { AtlassianOauthTokensModule } from './tokens/atlassian-oauth-tokens.module';
export { AtlassianOauthAccessTokenOptions, AtlassianOauthTokenService } from './tokens/atlassian-oauth-token.service';
export { DEFAULT_REFRESH_COOLDOWN_MS, MAX_RETRY_AFTER_MS } from './tokens/atlassian-oauth-token.options';
export { AtlassianOauthRefreshHealthEntity } from '../database/entities';
export {
  DatabaseCorruptError,
  DatabaseEngine,
  DatabaseUnavailableError,
  SQLITE_RECOVERY_README,
} from '../database/database.errors';
export {
  DatabaseOutage,
  DatabaseOutageEnded,
  DatabaseOutageMonitor,
  DatabaseOutageSnapshot,
} from '../database/database-outage.monitor';
export { AtlassianOauthIdleRefreshOutcome } from './tokens/atlassian-oauth-token.service';
export { AtlassianOauthKeepAliveService } from './keep-alive/atlassian-oauth-keep-alive.service';
export { AtlassianOauthKeepAliveModule } from './keep-alive/atlassian-oauth-keep-alive.module';
export { AtlassianOauthKeepAliveScheduleModule } from './keep-alive/atlassian-oauth-keep-alive-schedule.module';
export {
  DEFAULT_KEEP_ALIVE_CONCURRENCY,
  DEFAULT_KEEP_ALIVE_IDLE_MS,
  DEFAULT_KEEP_ALIVE_INTERVAL_MS,
  KeepAliveCounts,
  KeepAliveOptions,
  KeepAliveProgress,
  KeepAliveSweepReport,
} from './keep-alive/atlassian-oauth-keep-alive.types';
export { AtlassianOauthRefreshHealthRepo } from './atlassian-oauth-refresh-health.repo';
export {
  AtlassianOauthRefreshHealth,
  AtlassianOauthStateHealthSummary,
  refreshHealthOf,
  withRefreshHealth,
} from './tokens/atlassian-oauth-refresh-health';
export { AtlassianApiModule } from './api/atlassian-api.module';
export { AtlassianSitesService } from './api/atlassian-sites.service';
export { AtlassianSiteEntity } from '../database/entities';
export { AtlassianSiteRepo, AtlassianSiteReplacement, AtlassianSiteValues } from './api/atlassian-site.repo';
export {
  AtlassianSiteAmbiguousError,
  AtlassianSiteNotFoundError,
  AtlassianSitesEndpointError,
  AtlassianSitesEndpointFailure,
} from './api/atlassian-sites.errors';
export {
  ATLASSIAN_API_OPTIONS,
  AtlassianApiOptions,
  DEFAULT_ATLASSIAN_API_BASE_URL,
  DEFAULT_ATLASSIAN_API_TIMEOUT_MS,
  atlassianApiUrl,
} from './api/atlassian-api.options';
export { ACCESSIBLE_RESOURCES_PATH, AtlassianAccessibleResource } from './api/accessible-resources.client';
export {
  ATLASSIAN_EVENTS,
  AtlassianEventName,
  AtlassianGrantConnectedEvent,
  AtlassianGrantDisconnectedEvent,
  AtlassianGrantEvent,
  AtlassianGrantRevokedEvent,
  AtlassianRefreshFailingEvent,
  AtlassianRefreshRecoveredEvent,
  AtlassianSitesChangedEvent,
} from './events/atlassian-oauth.events';
export { AtlassianOauthEventPublisher } from './events/atlassian-oauth-event.publisher';
export { AtlassianApiClient, AtlassianApiShorthandRequest } from './api/atlassian-api-client';
export { AtlassianApiQueryValue, AtlassianApiRequest, AtlassianApiResponse } from './api/atlassian-api-request';
export {
  AtlassianApiError,
  AtlassianApiPauseKind,
  AtlassianApiRateLimitedError,
  AtlassianApiRequestValidationError,
  AtlassianApiUnauthorizedError,
} from './api/atlassian-api.errors';
export {
  DEFAULT_API_DEADLINE_MS,
  DEFAULT_API_MAX_CONCURRENCY_PER_TENANT,
  DEFAULT_API_MAX_RETRIES,
} from './api/atlassian-api.options';
export { ATLASSIAN_API_CLOUD_IDS, AtlassianApiCloudIds } from './api/atlassian-api-cloud-ids';
export { AtlassianApiPauseEntity } from '../database/entities';
