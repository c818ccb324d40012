import { AtlassianOauthRefreshHealthEntity, AtlassianOauthStateEntity } from '../../database/entities';
import {
  AtlassianOauthGrantRevokedError,
  AtlassianOauthTokenEndpointError,
  AtlassianOauthTokenEndpointFailure,
} from '../client/atlassian-oauth-client.errors';

/** The shortest wait a server's `Retry-After` can ask for: `Retry-After: 0` must not make every caller refresh at once. */
export const MIN_RETRY_AFTER_MS = 1_000;
/** The longest wait a server's `Retry-After` can impose: a bogus value must not lock a tenant out for days. */
export const MAX_RETRY_AFTER_MS = 15 * 60_000;

/**
 * Whether `row` was recorded on this very state. Every write of a state advances its `updatedAt`
 * (the repo guarantees it), so a row recorded on an earlier state stops applying as soon as a new
 * one is stored, by whatever path: no write path has to clear this table.
 */
export function recordedOn(row: AtlassianOauthRefreshHealthEntity, state: AtlassianOauthStateEntity): boolean {
  return row.stateId === state.id && row.stateUpdatedAt.getTime() === state.updatedAt.getTime();
}

/** The error the health `row` of a key calls for now on `state`, or `null` when a refresh may be tried. */
export function blockedBy(
  row: AtlassianOauthRefreshHealthEntity | null,
  state: AtlassianOauthStateEntity,
): Error | null {
  if (!row || !recordedOn(row, state)) {
    return null;
  }
  if (row.status === 'revoked') {
    return new AtlassianOauthGrantRevokedError('refresh_token', { platform: state.platform, tenantId: state.tenantId });
  }
  const leftMs = (row.retryAt?.getTime() ?? 0) - Date.now();
  if (leftMs <= 0) {
    return null;
  }
  return new AtlassianOauthTokenEndpointError(
    'refresh_token',
    row.failure as AtlassianOauthTokenEndpointFailure,
    row.httpStatus,
    leftMs,
  );
}

/** `row` when it records transient failures of this very state (a refresh that succeeds now ends them), else `null`. */
export function failingOn(
  row: AtlassianOauthRefreshHealthEntity | null,
  state: AtlassianOauthStateEntity,
): AtlassianOauthRefreshHealthEntity | null {
  return row !== null && row.status === 'failing' && recordedOn(row, state) ? row : null;
}

/**
 * How long a key waits after a transient failure: the server's `Retry-After` when it sent one (at
 * least {@link MIN_RETRY_AFTER_MS}, at most {@link MAX_RETRY_AFTER_MS}), shorter or longer than the
 * cooldown; otherwise the cooldown (`ATLASSIAN_REFRESH_COOLDOWN_MS`).
 */
export function cooldownAfter(error: AtlassianOauthTokenEndpointError, refreshCooldownMs: number): number {
  if (error.retryAfterMs === null) {
    return refreshCooldownMs;
  }
  return Math.min(Math.max(error.retryAfterMs, MIN_RETRY_AFTER_MS), MAX_RETRY_AFTER_MS);
}
