import { AtlassianConfig } from '../../config/atlassian.config';

// The default lives with the variable it is the default of, validated when the configuration loads.
export { DEFAULT_REFRESH_COOLDOWN_MS } from '../../config/atlassian.config';
// The bounds of a server's `Retry-After` live with the rule that applies them.
export { MAX_RETRY_AFTER_MS, MIN_RETRY_AFTER_MS } from '../rotation/refresh-health.rules';

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
