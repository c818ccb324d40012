import { AtlassianConfig } from '../../config/atlassian.config';

// The default lives with the variable it is the default of, validated when the configuration loads.
export { DEFAULT_REFRESH_COOLDOWN_MS } from '../../config/atlassian.config';
/** The shortest wait a server's `Retry-After` can ask for: `Retry-After: 0` must not make every caller refresh at once. */
export const MIN_RETRY_AFTER_MS = 1_000;
/** The longest wait a server's `Retry-After` can impose: a bogus value must not lock a tenant out for days. */
export const MAX_RETRY_AFTER_MS = 15 * 60_000;

/** How often every process looks for refresh leases that lapsed without being given back. */
export const LAPSED_LEASE_CHECK_MS = 30_000;

/** What {@link AtlassianOauthTokenService} needs beyond the client. */
export interface AtlassianOauthTokenOptions {
  refreshCooldownMs: number;
  /** How often this process looks for lapsed leases (default {@link LAPSED_LEASE_CHECK_MS}; `0`: never). */
  lapsedLeaseCheckMs?: number;
}

/** The token service's options from the `atlassian` configuration (validated when it loaded). */
export function atlassianOauthTokenOptions(
  config: Pick<AtlassianConfig, 'refreshCooldownMs'>,
): AtlassianOauthTokenOptions {
  return { refreshCooldownMs: config.refreshCooldownMs };
}
