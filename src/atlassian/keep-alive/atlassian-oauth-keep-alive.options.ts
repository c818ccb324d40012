import { AtlassianOauthClientConfigError } from '../client/atlassian-oauth-client.errors';
import { AtlassianOauthSettings } from '../client/atlassian-oauth-client.options';
import { DEFAULT_KEEP_ALIVE_INTERVAL_MS } from './atlassian-oauth-keep-alive.types';

/** Node's longest timer (about 24.8 days): a longer interval would fire at once. */
export const MAX_KEEP_ALIVE_INTERVAL_MS = 2_147_483_647;
/** The first scheduled sweep runs this long after boot (or one interval, if shorter), so it never slows a boot. */
export const FIRST_KEEP_ALIVE_DELAY_MS = 60_000;

/** What the keep-alive schedule needs. */
export interface AtlassianOauthKeepAliveScheduleOptions {
  /** Between the end of one sweep and the start of the next; `0`: no scheduled sweep. */
  intervalMs: number;
}

/** The Nest injection token of the {@link AtlassianOauthKeepAliveScheduleOptions}. */
export const ATLASSIAN_OAUTH_KEEP_ALIVE_SCHEDULE_OPTIONS = Symbol('AtlassianOauthKeepAliveScheduleOptions');

/**
 * @throws AtlassianOauthClientConfigError naming `ATLASSIAN_KEEPALIVE_INTERVAL_MS` when it is not a
 *   whole number of milliseconds from 0 to {@link MAX_KEEP_ALIVE_INTERVAL_MS}.
 */
export function atlassianOauthKeepAliveScheduleOptions(
  settings: Pick<AtlassianOauthSettings, 'keepAliveIntervalMs'>,
): AtlassianOauthKeepAliveScheduleOptions {
  const value = settings.keepAliveIntervalMs ?? DEFAULT_KEEP_ALIVE_INTERVAL_MS;
  if (!Number.isSafeInteger(value) || value < 0 || value > MAX_KEEP_ALIVE_INTERVAL_MS) {
    throw new AtlassianOauthClientConfigError(
      `ATLASSIAN_KEEPALIVE_INTERVAL_MS must be a whole number of milliseconds from 0 (no scheduled sweep) to ${MAX_KEEP_ALIVE_INTERVAL_MS}.`,
      'ATLASSIAN_KEEPALIVE_INTERVAL_MS',
    );
  }
  return { intervalMs: value };
}

/**
 * Whether the Atlassian client is configured at all: either credential set. A service with
 * neither only stores tokens and has no grant to keep alive; one with only one of them fails at
 * boot, naming the other.
 */
export function atlassianClientConfigured(
  settings: Pick<AtlassianOauthSettings, 'clientId' | 'clientSecret'>,
): boolean {
  return Boolean(settings.clientId?.trim() || settings.clientSecret?.trim());
}
