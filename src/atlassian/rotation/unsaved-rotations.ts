import { Logger } from '@nestjs/common';
import { DatabaseUnavailableError } from '../../database/database.errors';
import { AtlassianOauthStateEntity } from '../../database/entities';
import { AtlassianOauthStateConflictError } from '../atlassian-oauth-state.errors';
import { AtlassianOauthStateRepo } from '../atlassian-oauth-state.repo';
import {
  AtlassianOauthStateKey,
  AtlassianOauthTokens,
  describeStateKey,
  stateKeyId,
} from '../atlassian-oauth-state.types';
import { AtlassianOauthRefreshLeaseRepo } from '../atlassian-oauth-refresh-lease.repo';

/** The first pause before writing an unsaved rotation again, doubled up to {@link MAX_UNSAVED_RETRY_MS}. */
export const FIRST_UNSAVED_RETRY_MS = 250;
/** The longest pause between two writes of an unsaved rotation (a third of the lease, if that is shorter). */
export const MAX_UNSAVED_RETRY_MS = 5_000;

/** What happened to an unsaved rotation, for the owner's metrics and for tests. */
export type UnsavedRotationOutcome = 'stored' | 'superseded' | 'deleted';

interface UnsavedRotation {
  readonly key: AtlassianOauthStateKey;
  /** The rotated pair as the caller got it: held in this process's memory only, never written anywhere but the store. */
  readonly state: AtlassianOauthStateEntity;
  readonly tokens: AtlassianOauthTokens;
  /** The refresh token the pair was refreshed from: the write is fenced on it like every rotation write. */
  readonly expectedRefreshToken: string;
  /** The lease this process holds on the key while the pair waits: no other process refreshes with the old token. */
  holder: string;
  readonly leaseMs: number;
  /** The last error of a write, for callers that need the key refreshed again meanwhile. */
  lastError: unknown;
  pauseMs: number;
  timer?: NodeJS.Timeout;
  writing?: Promise<void>;
}

/**
 * The rotations this process got from the token endpoint and could not store because the database
 * failed at that moment. Atlassian has already rotated: the pair held here is the only refresh
 * token that works, and dropping it loses the grant once the old pair's grace window (10 minutes)
 * ends. So each pair is kept in memory (never on disk in plaintext), served to this process's
 * callers of the key, and written again with the same fenced upsert (expecting the refresh token it
 * was refreshed from) with a backoff of {@link FIRST_UNSAVED_RETRY_MS} to {@link MAX_UNSAVED_RETRY_MS},
 * at once when the database answers again ({@link retryAll}), and once more when the application
 * shuts down ({@link flush}). Every attempt first renews the key's lease, so other processes keep
 * waiting instead of refreshing with the old token.
 */
export class UnsavedRotations {
  private readonly unsaved = new Map<string, UnsavedRotation>();
  private closed = false;

  constructor(
    private readonly states: AtlassianOauthStateRepo,
    private readonly leases: AtlassianOauthRefreshLeaseRepo,
    private readonly logger: Logger,
    /** Told the number of unsaved rotations whenever it changes (a gauge). */
    private readonly onCount: (count: number) => void,
    /** Told how each unsaved rotation ended; `release` is called for the lease it held. */
    private readonly onSettled: (key: AtlassianOauthStateKey, holder: string, leaseMs: number) => Promise<void>,
  ) {}

  /** How many rotations wait to be stored. */
  get size(): number {
    return this.unsaved.size;
  }

  /**
   * Keeps a rotated pair whose write failed with `error`, under the lease `holder` holds. Logged
   * once, at error level, with the key (never a token).
   *
   * @returns the state the callers get meanwhile.
   */
  keep(
    key: AtlassianOauthStateKey,
    from: AtlassianOauthStateEntity,
    tokens: AtlassianOauthTokens,
    holder: string,
    leaseMs: number,
    error: unknown,
  ): AtlassianOauthStateEntity {
    const state = Object.assign(new AtlassianOauthStateEntity(), {
      id: from.id,
      platform: key.platform,
      tenantId: key.tenantId,
      accessToken: tokens.accessToken ?? null,
      refreshToken: tokens.refreshToken,
      expiresAt: tokens.expiresAt ?? null,
      updatedAt: new Date(),
    });
    const entry: UnsavedRotation = {
      key,
      state,
      tokens,
      expectedRefreshToken: from.refreshToken,
      holder,
      leaseMs,
      lastError: error,
      pauseMs: FIRST_UNSAVED_RETRY_MS,
    };
    this.unsaved.set(stateKeyId(key), entry);
    this.onCount(this.unsaved.size);
    this.logger.error(
      `Atlassian rotated the tokens of ${describeStateKey(key.platform, key.tenantId)} but storing them failed ` +
        `(${describeError(error)}): keeping them in this process's memory and writing them again until the database answers; ` +
        'the refresh lease is held meanwhile so no other process refreshes with the old token. Do not kill this process.',
    );
    this.schedule(entry);
    return state;
  }

  /** The state an unsaved rotation of `key` serves, or `undefined`. */
  state(key: AtlassianOauthStateKey): AtlassianOauthStateEntity | undefined {
    return this.unsaved.get(stateKeyId(key))?.state;
  }

  /** The last write error of `key`'s unsaved rotation, or `undefined` when there is none. */
  lastError(key: AtlassianOauthStateKey): unknown {
    return this.unsaved.get(stateKeyId(key))?.lastError;
  }

  /** Writes every unsaved rotation now: the database has just answered again. */
  retryAll(): void {
    for (const entry of this.unsaved.values()) {
      clearTimeout(entry.timer);
      void this.write(entry);
    }
  }

  /**
   * One more write of every unsaved rotation, awaited: for the application's shutdown, before the
   * database closes. What still fails is logged at error level (the pair is lost with the process).
   */
  async flush(): Promise<void> {
    this.closed = true;
    await Promise.all(
      [...this.unsaved.values()].map(async (entry) => {
        clearTimeout(entry.timer);
        // An attempt still waiting on the database it started against ends first; then a fresh one.
        await entry.writing;
        await this.write(entry);
      }),
    );
    for (const entry of this.unsaved.values()) {
      clearTimeout(entry.timer);
      this.logger.error(
        `Shutting down with the rotated tokens of ${describeStateKey(entry.key.platform, entry.key.tenantId)} unsaved ` +
          `(${describeError(entry.lastError)}): the grant survives only if a refresh with the old token reaches Atlassian within its grace window`,
      );
    }
  }

  private schedule(entry: UnsavedRotation): void {
    if (this.closed) {
      return;
    }
    const cap = Math.max(FIRST_UNSAVED_RETRY_MS, Math.min(MAX_UNSAVED_RETRY_MS, Math.floor(entry.leaseMs / 3)));
    const pause = Math.min(entry.pauseMs, cap);
    entry.pauseMs = Math.min(2 * entry.pauseMs, cap);
    entry.timer = setTimeout(() => void this.write(entry), pause);
    entry.timer.unref();
  }

  /** Renews the lease, then writes the pair fenced; one attempt at a time per entry. */
  private write(entry: UnsavedRotation): Promise<void> {
    entry.writing ??= this.attempt(entry).finally(() => {
      entry.writing = undefined;
    });
    return entry.writing;
  }

  private async attempt(entry: UnsavedRotation): Promise<void> {
    const { key } = entry;
    const id = stateKeyId(key);
    if (this.unsaved.get(id) !== entry) {
      return;
    }
    let outcome: UnsavedRotationOutcome;
    try {
      // Renew first: a lapsed lease would let another process refresh with the rotated-past token.
      entry.holder = (await this.leases.takeOver(key, entry.holder, entry.leaseMs)) ?? entry.holder;
      await this.states.upsert(key.platform, key.tenantId, entry.tokens, {
        expectedRefreshToken: entry.expectedRefreshToken,
      });
      outcome = 'stored';
    } catch (error) {
      if (error instanceof AtlassianOauthStateConflictError) {
        // A write that failed as its connection dropped may have been applied after all.
        outcome = !error.current
          ? 'deleted'
          : error.current.refreshToken === entry.tokens.refreshToken
            ? 'stored'
            : 'superseded';
      } else {
        entry.lastError = error;
        this.schedule(entry);
        return;
      }
    }
    this.unsaved.delete(id);
    this.onCount(this.unsaved.size);
    const where = describeStateKey(key.platform, key.tenantId);
    if (outcome === 'stored') {
      this.logger.log(`Stored the rotated tokens of ${where} that had been kept in memory`);
    } else {
      this.logger.warn(
        `Dropped the rotated tokens of ${where} kept in memory: ${outcome === 'deleted' ? 'the state was deleted' : 'another holder stored a newer state'} meanwhile`,
      );
    }
    await this.onSettled(key, entry.holder, entry.leaseMs);
  }
}

function describeError(error: unknown): string {
  if (error instanceof DatabaseUnavailableError) {
    return `${error.name}: ${error.code}`;
  }
  return error instanceof Error ? error.name : 'unknown error';
}
