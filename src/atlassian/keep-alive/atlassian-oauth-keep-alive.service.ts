import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable, Logger, Optional } from '@nestjs/common';
import { DatabaseUnavailableError } from '../../database/database.errors';
import { AgentCoreMetrics } from '../../metrics/agent-core-metrics';
import { AtlassianOauthStateNotFoundError, AtlassianOauthStateValidationError } from '../atlassian-oauth-state.errors';
import { AtlassianOauthIdleKey, AtlassianOauthStateRepo } from '../atlassian-oauth-state.repo';
import { describeStateKey } from '../atlassian-oauth-state.types';
import { AtlassianOauthClientConfigError } from '../client/atlassian-oauth-client.errors';
import { AtlassianSiteSync } from '../api/atlassian-site-sync';
import { AtlassianOauthTokenService } from '../tokens/atlassian-oauth-token.service';
import {
  DEFAULT_KEEP_ALIVE_CONCURRENCY,
  DEFAULT_KEEP_ALIVE_IDLE_MS,
  KeepAliveCounts,
  KeepAliveOptions,
  KeepAliveSweepReport,
  MAX_KEEP_ALIVE_CONCURRENCY,
} from './atlassian-oauth-keep-alive.types';

/** Reads of one page tried while the database is away before the sweep ends (about 15 s in all). */
const SWEEP_READ_ATTEMPTS = 5;

/** Idle keys read per page: memory holds one page, whatever the table's size. */
const PAGE_SIZE = 200;

type CheckedOptions = Required<Omit<KeepAliveOptions, 'onProgress' | 'signal'>> &
  Pick<KeepAliveOptions, 'onProgress' | 'signal'>;

/**
 * Keeps idle Atlassian grants alive. Atlassian drops a refresh token that goes unused for 90 days
 * (https://developer.atlassian.com/cloud/jira/platform/oauth-2-3lo-apps/), so a tenant whose users
 * are away for a quarter would come back to a dead integration; refreshing every state that has
 * not been written for a while keeps its grant alive.
 *
 * Every refresh goes through {@link AtlassianOauthTokenService.refreshIdle}: single flight with live
 * traffic and with the same sweep on other instances (each idle key is refreshed once, whoever
 * gets there first), known-revoked grants are skipped without calling Atlassian, and failures are
 * recorded in the refresh health that `accessToken` and the CLI's `list` read.
 *
 * After each refresh it also reads the sites the grant reaches (`accessible-resources`, with the new
 * access token) and replaces the stored set, so a site the customer removed from the grant goes
 * (and `atlassian.sites.changed` tells) at the next sweep. A failure there is logged and the key
 * still counts as refreshed: its tokens are stored.
 */
@Injectable()
export class AtlassianOauthKeepAliveService {
  private readonly logger = new Logger(AtlassianOauthKeepAliveService.name);
  private last: KeepAliveSweepReport | null = null;

  constructor(
    private readonly states: AtlassianOauthStateRepo,
    private readonly tokens: AtlassianOauthTokenService,
    /** Reads the sites of each grant the sweep refreshes from `accessible-resources`. */
    private readonly sites: AtlassianSiteSync,
    /** The application's metrics when it serves them: every sweep's counts and when it ended. */
    @Optional() private readonly metrics?: AgentCoreMetrics,
  ) {}

  /**
   * The last sweep this instance ran (by {@link run}, scheduled or not), or `null` before the
   * first one ended. For metrics: it never holds a key or a token.
   */
  get lastSweep(): KeepAliveSweepReport | null {
    return this.last;
  }

  /**
   * Refreshes every stored state last written more than `idleForMs` ago.
   *
   * - It pages through the idle keys in `id` order (keyset pagination), so memory stays flat with
   *   the table's size, and refreshes up to `concurrency` keys at once.
   * - A failure of one key is counted (`failed`, or `revoked` for `invalid_grant`), logged with
   *   its key (never a token), and the sweep goes on. A key deleted meanwhile is not counted.
   * - Running it again, here or on another instance, refreshes nothing that a sweep just refreshed.
   * - Aborting `signal` stops it: no new key is started, refreshes in flight finish and are stored
   *   (a refresh cut short would leave Atlassian's rotated token unstored), and it resolves with
   *   the counts so far.
   *
   * @returns the counts: `refreshed`, `fresh` (the keys that were not idle, plus idle keys someone
   *   else refreshed first), `revoked`, `failed`.
   * @throws AtlassianOauthStateValidationError naming `idleForMs`, `concurrency`, `onProgress` or
   *   `signal` when it is not as documented, before anything is read.
   * @throws AtlassianOauthClientConfigError when Atlassian refuses the client's credentials: every
   *   other key would be refused too, so the sweep stops (after the refreshes in flight).
   */
  async run(options: KeepAliveOptions = {}): Promise<KeepAliveCounts> {
    const { idleForMs, concurrency, onProgress, signal } = checkOptions(options);
    const startedAt = new Date();
    const counts: KeepAliveCounts = { refreshed: 0, fresh: 0, revoked: 0, failed: 0 };
    const report = (outcome: KeepAliveSweepReport['outcome']): void => {
      this.last = { startedAt, finishedAt: new Date(), counts: { ...counts }, outcome };
      this.metrics?.keepAliveSweep(this.last.counts, this.last.finishedAt);
    };
    const idleBefore = new Date(startedAt.getTime() - idleForMs);
    let fatal: AtlassianOauthClientConfigError | undefined;
    try {
      const { idle, fresh } = await this.readingThroughOutages(() => this.states.countByIdleness(idleBefore), signal);
      counts.fresh = fresh;
      let processed = 0;
      const stop = (): boolean => fatal !== undefined || signal?.aborted === true;
      let afterId: string | undefined;
      while (!stop()) {
        const page = await this.readingThroughOutages(
          () => this.states.findIdlePage(idleBefore, afterId, PAGE_SIZE),
          signal,
        );
        if (page.length === 0) {
          break;
        }
        afterId = page[page.length - 1]?.id;
        await Promise.all(
          Array.from({ length: Math.min(concurrency, page.length) }, async () => {
            for (let key = page.shift(); key !== undefined && !stop(); key = page.shift()) {
              const outcome = await this.keepAlive(key, idleBefore);
              if (outcome instanceof AtlassianOauthClientConfigError) {
                fatal ??= outcome;
              } else if (outcome !== 'deleted') {
                counts[outcome]++;
                processed++;
                onProgress?.({ ...counts, processed, idle });
              }
            }
          }),
        );
      }
    } catch (error) {
      report('error');
      throw error;
    }
    if (fatal) {
      report('error');
      throw fatal;
    }
    report(signal?.aborted ? 'stopped' : 'done');
    return counts;
  }

  /**
   * A read of the sweep that the database fails while it is away is tried again (1, 2, 4, 8 s), so a
   * short outage does not end the sweep; the keys already done stay counted either way (`lastSweep`,
   * the metrics), and an outage that outlasts the retries ends it with `DatabaseUnavailableError`.
   */
  private async readingThroughOutages<T>(read: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    for (let attempt = 1, pauseMs = 1_000; ; attempt++, pauseMs *= 2) {
      try {
        return await read();
      } catch (error) {
        if (!(error instanceof DatabaseUnavailableError) || attempt >= SWEEP_READ_ATTEMPTS || signal?.aborted) {
          throw error;
        }
        this.logger.warn(
          `Keep-alive sweep: the database is unavailable (${error.code}); reading the next keys again in ${pauseMs} ms`,
        );
        await sleep(pauseMs);
      }
    }
  }

  /** Refreshes one key if it is still idle; never rejects, except with the error that ends the sweep. */
  private async keepAlive(
    key: AtlassianOauthIdleKey,
    idleBefore: Date,
  ): Promise<keyof KeepAliveCounts | 'deleted' | AtlassianOauthClientConfigError> {
    try {
      const outcome = await this.tokens.refreshIdle(key.platform, key.tenantId, idleBefore);
      if (outcome === 'refreshed') {
        await this.refreshSites(key);
      }
      return outcome;
    } catch (error) {
      if (error instanceof AtlassianOauthStateNotFoundError) {
        return 'deleted';
      }
      if (error instanceof AtlassianOauthClientConfigError) {
        return error;
      }
      this.logger.warn(
        `Keep-alive could not refresh ${describeStateKey(key.platform, key.tenantId)}: ${error instanceof Error ? `${error.name}: ${error.message}` : 'unknown error'}`,
      );
      return 'failed';
    }
  }
  /** Replaces the key's stored sites with what its grant reaches now; logs a failure, never throws. */
  private async refreshSites(key: AtlassianOauthIdleKey): Promise<void> {
    try {
      const accessToken = await this.tokens.accessToken(key.platform, key.tenantId);
      await this.sites.store(key.platform, key.tenantId, accessToken);
    } catch (error) {
      this.logger.warn(
        `Keep-alive refreshed ${describeStateKey(key.platform, key.tenantId)} but could not read its sites: ${error instanceof Error ? error.name : 'unknown error'}`,
      );
    }
  }
}

function checkOptions(options: KeepAliveOptions): CheckedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new AtlassianOauthStateValidationError('options', 'must be an object');
  }
  const {
    idleForMs = DEFAULT_KEEP_ALIVE_IDLE_MS,
    concurrency = DEFAULT_KEEP_ALIVE_CONCURRENCY,
    onProgress,
    signal,
  } = options as Record<string, unknown>;
  if (typeof idleForMs !== 'number' || !Number.isFinite(idleForMs) || idleForMs < 0) {
    throw new AtlassianOauthStateValidationError('idleForMs', 'must be a finite number of milliseconds, 0 or more');
  }
  if (
    typeof concurrency !== 'number' ||
    !Number.isInteger(concurrency) ||
    concurrency < 1 ||
    concurrency > MAX_KEEP_ALIVE_CONCURRENCY
  ) {
    throw new AtlassianOauthStateValidationError(
      'concurrency',
      `must be a whole number from 1 to ${MAX_KEEP_ALIVE_CONCURRENCY}`,
    );
  }
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new AtlassianOauthStateValidationError('onProgress', 'must be a function or omitted');
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new AtlassianOauthStateValidationError('signal', 'must be an AbortSignal or omitted');
  }
  return {
    idleForMs,
    concurrency,
    onProgress: onProgress as KeepAliveOptions['onProgress'],
    signal,
  };
}
