import { AtlassianOauthClientConfigError } from '../client/atlassian-oauth-client.errors';

/** How long a key waits after a transient refresh failure before its next refresh is tried. */
export const DEFAULT_REFRESH_COOLDOWN_MS = 30_000;
/** The longest wait a server's `Retry-After` can impose: a bogus value must not lock a tenant out for days. */
export const MAX_RETRY_AFTER_MS = 15 * 60_000;

/** What {@link AtlassianOauthTokenService} needs beyond the client. */
export interface AtlassianOauthTokenOptions {
  refreshCooldownMs: number;
}

/**
 * @throws AtlassianOauthClientConfigError naming `ATLASSIAN_REFRESH_COOLDOWN_MS` when it is not a
 *   whole number of milliseconds >= 0.
 */
export function atlassianOauthTokenOptions(refreshCooldownMs: number | undefined): AtlassianOauthTokenOptions {
  const value = refreshCooldownMs ?? DEFAULT_REFRESH_COOLDOWN_MS;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new AtlassianOauthClientConfigError(
      'ATLASSIAN_REFRESH_COOLDOWN_MS must be a whole number of milliseconds, 0 or more.',
      'ATLASSIAN_REFRESH_COOLDOWN_MS',
    );
  }
  return { refreshCooldownMs: value };
}
