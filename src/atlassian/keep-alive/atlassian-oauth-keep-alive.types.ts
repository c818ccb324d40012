/** What one keep-alive sweep did, in keys. */
export interface KeepAliveCounts {
  /** Idle keys this sweep refreshed. */
  refreshed: number;
  /** Keys written recently enough to need nothing, including idle keys someone else refreshed first. */
  fresh: number;
  /** Keys whose grant is revoked (known before, or answered `invalid_grant` now): they need a reconnect. */
  revoked: number;
  /** Idle keys that could not be refreshed now (token endpoint down or rate limiting, cooldown, ...). */
  failed: number;
}

/** Reported by `AtlassianOauthKeepAliveService.run` after every key it looked at. */
export interface KeepAliveProgress extends KeepAliveCounts {
  /** Idle keys looked at so far. */
  processed: number;
  /** Idle keys when the sweep started. */
  idle: number;
}

/** Options of `AtlassianOauthKeepAliveService.run`. */
export interface KeepAliveOptions {
  /** A key whose state was last written longer ago than this is refreshed (ms, default 30 days). */
  idleForMs?: number;
  /** Keys refreshed at once (default {@link DEFAULT_KEEP_ALIVE_CONCURRENCY}, at most {@link MAX_KEEP_ALIVE_CONCURRENCY}). */
  concurrency?: number;
  /** Called after every idle key with the counts so far. */
  onProgress?: (progress: KeepAliveProgress) => void;
  /** Aborting it stops the sweep: no new key is started, the refreshes in flight finish and are stored. */
  signal?: AbortSignal;
}

/** The last sweep one service instance ran, for metrics and operators. */
export interface KeepAliveSweepReport {
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly counts: Readonly<KeepAliveCounts>;
  /** How the sweep ended: `done`, `stopped` (shutdown) or `error` (e.g. the client's credentials were refused). */
  readonly outcome: 'done' | 'stopped' | 'error';
}

/**
 * Default `idleForMs`: 30 days. Atlassian drops a refresh token unused for 90 days, so a grant
 * idle for 30 gets two more chances (sweeps that failed during an outage) before it dies.
 */
export const DEFAULT_KEEP_ALIVE_IDLE_MS = 30 * 24 * 3_600_000;
/** Default `concurrency`: the token endpoint, not the store, is the limit, and Atlassian rate limits. */
export const DEFAULT_KEEP_ALIVE_CONCURRENCY = 4;
export const MAX_KEEP_ALIVE_CONCURRENCY = 64;
// The default lives with the variable it is the default of.
export { DEFAULT_KEEP_ALIVE_INTERVAL_MS } from '../../config/atlassian.config';
