import { Logger } from '@nestjs/common';
import { AtlassianOauthStateNotFoundError } from '../atlassian-oauth-state.errors';
import { AtlassianOauthStateKey, describeStateKey, stateKeyId } from '../atlassian-oauth-state.types';
import {
  AtlassianOauthGrantRevokedError,
  AtlassianOauthTokenEndpointError,
} from '../client/atlassian-oauth-client.errors';

/** Refreshes one unsettled key tries at most, the first included. */
export const MAX_SETTLE_ATTEMPTS = 5;
/**
 * No settling refresh starts later than this after the key became unsettled: well inside the 10
 * minutes for which Atlassian still accepts a rotated-past refresh token.
 */
export const SETTLE_WITHIN_MS = 5 * 60_000;
/** The shortest pause before a settling refresh. */
export const MIN_SETTLE_DELAY_MS = 1_000;

/** Why a key is unsettled: a refresh of this process had no known outcome, or a holder's lease lapsed. */
export type UnsettledCause = 'ambiguous' | 'lapsed_lease';

/** How settling a key ended (the `result` of `agent_core_unsettled_refreshes_total`), or that it began. */
export type UnsettledRefreshResult =
  | UnsettledCause
  /** A settling refresh of this process stored a pair. */
  | 'stored'
  /** Someone stored a pair since the key became unsettled: nothing to do. */
  | 'settled_elsewhere'
  /** Atlassian answered `invalid_grant`: recorded, the host told. */
  | 'revoked'
  /** The state was deleted meanwhile. */
  | 'deleted'
  /** Every attempt failed within the bound: logged at error level. */
  | 'abandoned';

/** What a settling refresh of a key resolves with (`AtlassianOauthTokenService.refreshIdle`'s outcomes). */
export type SettleOutcome = 'refreshed' | 'fresh' | 'revoked';

interface Unsettled {
  readonly key: AtlassianOauthStateKey;
  /** A state written at or after this settles the key. */
  readonly since: Date;
  readonly cause: UnsettledCause;
  attempts: number;
  timer?: NodeJS.Timeout;
  running?: Promise<void>;
}

/**
 * The keys whose last refresh may have been answered by Atlassian without the answer being stored:
 * a refresh of this process that timed out or lost its connection once the request was sent, or a
 * refresh lease that lapsed without being given back (its holder died). Atlassian may have rotated;
 * the stored refresh token then works for 10 more minutes only. So each such key is refreshed again
 * by this process on its own, after the cooldown, whether or not anyone asks: under the lease, at
 * most {@link MAX_SETTLE_ATTEMPTS} times and never later than {@link SETTLE_WITHIN_MS} after it became
 * unsettled, until a pair is stored (by this refresh or anyone's) or Atlassian answers `invalid_grant`.
 */
export class UnsettledRefreshes {
  private readonly unsettled = new Map<string, Unsettled>();
  private closed = false;

  constructor(
    /** Refreshes `key` if its state was last written before `since` (under the lease, single flight). */
    private readonly settle: (key: AtlassianOauthStateKey, since: Date) => Promise<SettleOutcome>,
    /** The pause after a failure without `Retry-After`: the cooldown. */
    private readonly cooldownMs: number,
    private readonly logger: Logger,
    private readonly onResult: (result: UnsettledRefreshResult) => void,
    /** Called when a key whose state was deleted is given up (e.g. to clear its lapsed lease). */
    private readonly onDeleted: (key: AtlassianOauthStateKey) => Promise<void> = () => Promise.resolve(),
  ) {}

  /** How many keys wait to be settled. */
  get size(): number {
    return this.unsettled.size;
  }

  /** Whether `key` waits to be settled. */
  has(key: AtlassianOauthStateKey): boolean {
    return this.unsettled.has(stateKeyId(key));
  }

  /**
   * Settles `key` in `delayMs` (at least {@link MIN_SETTLE_DELAY_MS}); a key already waiting keeps
   * its schedule and its bound.
   */
  add(key: AtlassianOauthStateKey, cause: UnsettledCause, delayMs: number): void {
    const id = stateKeyId(key);
    if (this.closed || this.unsettled.has(id)) {
      return;
    }
    const entry: Unsettled = { key, since: new Date(), cause, attempts: 0 };
    this.unsettled.set(id, entry);
    this.onResult(cause);
    this.logger.warn(
      `${cause === 'ambiguous' ? 'A refresh of' : 'The refresh lease of'} ${describeStateKey(key.platform, key.tenantId)} ` +
        `${cause === 'ambiguous' ? 'may have been answered without the answer arriving' : 'lapsed without being given back (its holder died)'}: ` +
        `refreshing it again in ${Math.max(MIN_SETTLE_DELAY_MS, delayMs)} ms, within Atlassian's 10-minute grace window`,
    );
    this.schedule(entry, delayMs);
  }

  /** Stops every pending settling refresh and waits for the ones running (the application is closing). */
  async close(): Promise<void> {
    this.closed = true;
    const running: Promise<void>[] = [];
    for (const entry of this.unsettled.values()) {
      clearTimeout(entry.timer);
      if (entry.running) {
        running.push(entry.running);
      }
    }
    await Promise.all(running);
  }

  private schedule(entry: Unsettled, delayMs: number): void {
    if (this.closed) {
      return;
    }
    entry.timer = setTimeout(
      () => {
        entry.running = this.attempt(entry).finally(() => (entry.running = undefined));
      },
      Math.max(MIN_SETTLE_DELAY_MS, delayMs),
    );
    entry.timer.unref();
  }

  private async attempt(entry: Unsettled): Promise<void> {
    const { key } = entry;
    entry.attempts += 1;
    let result: UnsettledRefreshResult;
    try {
      const outcome = await this.settle(key, entry.since);
      result = outcome === 'refreshed' ? 'stored' : outcome === 'fresh' ? 'settled_elsewhere' : 'revoked';
    } catch (error) {
      if (error instanceof AtlassianOauthStateNotFoundError) {
        result = 'deleted';
        await this.onDeleted(key).catch(() => undefined);
      } else if (error instanceof AtlassianOauthGrantRevokedError) {
        result = 'revoked';
      } else {
        const delayMs =
          error instanceof AtlassianOauthTokenEndpointError && error.retryAfterMs !== null
            ? error.retryAfterMs
            : this.cooldownMs;
        const next = Date.now() + Math.max(MIN_SETTLE_DELAY_MS, delayMs);
        if (entry.attempts < MAX_SETTLE_ATTEMPTS && next <= entry.since.getTime() + SETTLE_WITHIN_MS && !this.closed) {
          this.schedule(entry, delayMs);
          return;
        }
        result = 'abandoned';
        this.logger.error(
          `Could not settle the refresh of ${describeStateKey(key.platform, key.tenantId)} after ${entry.attempts} attempt(s) ` +
            `(${error instanceof Error ? error.name : 'unknown error'}): if Atlassian rotated, the grant is lost once its grace window ends; ` +
            'the next accessToken call or keep-alive sweep tries again',
        );
      }
    }
    this.unsettled.delete(stateKeyId(key));
    this.onResult(result);
    if (result !== 'abandoned') {
      this.logger.log(`Settled the refresh of ${describeStateKey(key.platform, key.tenantId)}: ${result}`);
    }
  }
}
