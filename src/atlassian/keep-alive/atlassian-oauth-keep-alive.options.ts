import { AtlassianConfig } from '../../config/atlassian.config';

// The interval's bounds live with the variable, validated when the configuration loads.
export { MAX_KEEP_ALIVE_INTERVAL_MS } from '../../config/atlassian.config';
/** The first scheduled sweep runs this long after boot (or one interval, if shorter), so it never slows a boot. */
export const FIRST_KEEP_ALIVE_DELAY_MS = 60_000;

/** What the keep-alive schedule needs. */
export interface AtlassianOauthKeepAliveScheduleOptions {
  /** Between the end of one sweep and the start of the next; `0`: no scheduled sweep. */
  intervalMs: number;
}

/** The Nest injection token of the {@link AtlassianOauthKeepAliveScheduleOptions}. */
export const ATLASSIAN_OAUTH_KEEP_ALIVE_SCHEDULE_OPTIONS = Symbol('AtlassianOauthKeepAliveScheduleOptions');

/** The schedule's options from the `atlassian` configuration (`ATLASSIAN_KEEPALIVE_INTERVAL_MS`, validated when it loaded). */
export function atlassianOauthKeepAliveScheduleOptions(
  config: Pick<AtlassianConfig, 'keepAliveIntervalMs'>,
): AtlassianOauthKeepAliveScheduleOptions {
  return { intervalMs: config.keepAliveIntervalMs };
}

/**
 * Whether the Atlassian client is configured at all: either credential set. A service with
 * neither only stores tokens and has no grant to keep alive; one with only one of them fails at
 * boot, naming the other.
 */
export function atlassianClientConfigured(config: Pick<AtlassianConfig, 'clientId' | 'clientSecret'>): boolean {
  return Boolean(config.clientId?.trim() || config.clientSecret?.trim());
}
