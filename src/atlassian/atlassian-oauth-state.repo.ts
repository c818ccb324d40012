import { types } from 'node:util';
import { Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, MoreThan, Repository } from 'typeorm';
import { AtlassianOauthRefreshLeaseEntity, AtlassianOauthStateEntity } from '../database/entities';
import { PreparedLookup } from '../database/prepared-lookup';
import { RedactsQueryFailures } from '../database/query-failure-redaction';
import { ENVELOPE_PREFIX, TokenCipher } from '../database/token-cipher';
import {
  TokenEncryptionConfigError,
  TokenIntegrityError,
  TokenLocation,
  UnknownTokenKeyError,
} from '../database/token-cipher.errors';
import { isUniqueViolation } from '../database/unique-violation';
import { InProcessTurns, RefreshLeases, leaseKeyId } from './atlassian-oauth-refresh-lease';
import {
  AtlassianOauthRefreshFailedError,
  AtlassianOauthRotateTimeoutError,
  AtlassianOauthStateConflictError,
  AtlassianOauthStateNotFoundError,
  AtlassianOauthStateValidationError,
} from './atlassian-oauth-state.errors';
import { UpdateClock } from './update-clock';

/** The token set that one Atlassian token response yields. */
export interface AtlassianOauthTokens {
  /** The access token; omitted or `null` is stored as `null`. */
  accessToken?: string | null;
  /** The refresh token Atlassian returned with this response: the only one that still works. */
  refreshToken: string;
  /** When the access token expires; omitted or `null` is stored as `null`. */
  expiresAt?: Date | null;
}

/** Options of {@link AtlassianOauthStateRepo.upsert}. */
export interface AtlassianOauthUpsertOptions {
  /**
   * Write only if the stored refresh token is still this one: the token the caller refreshed
   * with. `null` means "only if nothing is stored yet" (first connect). Omitted: write always.
   */
  expectedRefreshToken?: string | null;
}

/**
 * The consumer's token refresh for {@link AtlassianOauthStateRepo.rotate}: given the stored state,
 * typically calls Atlassian's token endpoint with its `refreshToken` and returns the new token set.
 */
export type AtlassianOauthRefresh = (
  current: AtlassianOauthStateEntity,
) => Promise<AtlassianOauthTokens> | AtlassianOauthTokens;

/** Options of {@link AtlassianOauthStateRepo.rotate}; every one is a number of milliseconds. */
export interface AtlassianOauthRotateOptions {
  /**
   * A stored state whose `expiresAt` is later than now plus this is returned as it is, without a
   * refresh. Default {@link DEFAULT_MIN_VALIDITY_MS}. `Infinity` forces a refresh.
   */
  minValidityMs?: number;
  /**
   * How long the refresh lease lasts: after this a caller that died mid-refresh no longer blocks
   * the others. Make it longer than your slowest `refresh` (e.g. its HTTP timeout). Default
   * {@link DEFAULT_LEASE_MS}.
   */
  leaseMs?: number;
  /**
   * How long to wait for another caller's refresh of the same key before rejecting with
   * `AtlassianOauthRotateTimeoutError`. Default {@link DEFAULT_WAIT_MS}.
   */
  waitMs?: number;
}

/** Default {@link AtlassianOauthRotateOptions.minValidityMs}: one minute. */
export const DEFAULT_MIN_VALIDITY_MS = 60_000;
/** Default {@link AtlassianOauthRotateOptions.leaseMs}: 30 seconds. */
export const DEFAULT_LEASE_MS = 30_000;
/** Default {@link AtlassianOauthRotateOptions.waitMs}: one minute. */
export const DEFAULT_WAIT_MS = 60_000;
/** Largest `leaseMs` and `waitMs`: Node's longest timer (about 24.8 days). */
export const MAX_ROTATE_TIMER_MS = 2_147_483_647;

/** The first pause of a caller polling for another process's lease, doubled up to {@link MAX_POLL_MS}. */
const FIRST_POLL_MS = 10;
const MAX_POLL_MS = 200;

/** What {@link AtlassianOauthStateRepo.reencryptAll} did, in rows. */
export interface ReencryptCounts {
  /** Rows rewritten under the active key. */
  sealed: number;
  /** Rows that were already under the active key (including rows a concurrent writer sealed first). */
  alreadyCurrent: number;
  /** Rows that could not be opened (integrity failure or unknown key id); they are left as they were. */
  failed: number;
}

/** Reported by {@link AtlassianOauthStateRepo.reencryptAll} after every batch. */
export interface ReencryptProgress extends ReencryptCounts {
  /** Rows looked at so far (deleted while the run went on: not counted). */
  processed: number;
  /** Rows in the table when the run started. */
  total: number;
}

/** Options of {@link AtlassianOauthStateRepo.reencryptAll}. */
export interface ReencryptOptions {
  /** Rows read per batch (default {@link DEFAULT_REENCRYPT_BATCH_SIZE}); memory grows with it, not with the table. */
  batchSize?: number;
  /** Called after every batch with the counts so far. */
  onProgress?: (progress: ReencryptProgress) => void;
}

/** Rows per batch of {@link AtlassianOauthStateRepo.reencryptAll} unless told otherwise. */
export const DEFAULT_REENCRYPT_BATCH_SIZE = 500;

/** What {@link AtlassianOauthStateRepo.list} tells about one stored state: no token value. */
export interface AtlassianOauthStateSummary {
  readonly platform: string;
  readonly tenantId: string;
  /** Whether an access token is stored (its value is never read out). */
  readonly hasAccessToken: boolean;
  readonly expiresAt: Date | null;
  readonly updatedAt: Date;
}

/** Longest `platform` or `tenantId` accepted: the `varchar` length on server databases. */
export const MAX_KEY_LENGTH = 255;

/** How often a write that lost a race to a concurrent writer reads again and retries. */
const RACE_ATTEMPTS = 5;

type StateKey = Pick<AtlassianOauthStateEntity, 'platform' | 'tenantId'>;
type StateValues = Omit<AtlassianOauthStateEntity, 'id'>;
type RotateLimits = Required<AtlassianOauthRotateOptions>;
type TokenColumns = Pick<AtlassianOauthStateEntity, 'platform' | 'tenantId' | 'accessToken' | 'refreshToken'>;
type ReencryptOutcome = keyof ReencryptCounts | 'deleted';

/**
 * Durable store of the newest Atlassian OAuth state per `(platform, tenantId)`.
 *
 * Inject it through `AtlassianModule`. Every method validates its input before touching the
 * database and rejects with {@link AtlassianOauthStateValidationError} naming the bad field.
 *
 * Both tokens are stored sealed by the {@link TokenCipher} (AES-256-GCM, bound to table,
 * `platform`, `tenantId` and column) when `OAUTH_STATE_ENCRYPTION_KEYS` is set; callers always
 * see plaintext. Reading a stored token that fails its integrity check rejects with
 * `TokenIntegrityError`, one sealed under a key id that is not configured with
 * `UnknownTokenKeyError`: never with another row's token. A database error that leaves a method
 * (a TypeORM `QueryFailedError`) carries no token either: its `parameters` are redacted.
 */
@Injectable()
export class AtlassianOauthStateRepo {
  private readonly logger = new Logger(AtlassianOauthStateRepo.name);
  private readonly leases: RefreshLeases;
  private readonly turns = new InProcessTurns();
  private readonly clock = new UpdateClock();
  /** `findOneBy(key)` with the SQL built once: `get` is on the path of every Atlassian API call. */
  private readonly byKey = new PreparedLookup(this.repository, ['platform', 'tenantId']);

  constructor(
    @InjectRepository(AtlassianOauthStateEntity)
    private readonly repository: Repository<AtlassianOauthStateEntity>,
    @InjectRepository(AtlassianOauthRefreshLeaseEntity)
    leaseRepository: Repository<AtlassianOauthRefreshLeaseEntity>,
    private readonly cipher: TokenCipher,
  ) {
    this.leases = new RefreshLeases(leaseRepository);
  }

  /**
   * Reads the stored state of one `(platform, tenantId)`.
   *
   * @returns the entity with plaintext tokens, or `null` when nothing is stored for that key.
   * @throws AtlassianOauthStateValidationError when `platform` or `tenantId` is not a non-blank string.
   * @throws TokenIntegrityError / UnknownTokenKeyError when a stored token cannot be opened.
   */
  @RedactsQueryFailures()
  async get(platform: string, tenantId: string): Promise<AtlassianOauthStateEntity | null> {
    return this.readState(validateKey(platform, tenantId));
  }

  /**
   * Stores the token set of one `(platform, tenantId)`, replacing the whole previous state.
   *
   * After it resolves the stored state is exactly `tokens`: an omitted `accessToken` or `expiresAt`
   * is stored as `null`, so a new refresh token never sits beside the previous access token. The
   * row keeps its `id` and its `updatedAt` advances, also on the conflict-update path, where
   * TypeORM's `Repository.upsert` would not bump `@UpdateDateColumn` on SQLite
   * (https://github.com/typeorm/typeorm/issues/9015): the repo stamps it itself, and within one
   * process two writes of a key never get the same stamp, even in the same millisecond.
   *
   * Without `expectedRefreshToken` the write is `Repository.upsert(..., ['platform', 'tenantId'])`
   * (one `INSERT ... ON CONFLICT` statement). On a driver without upsert support it falls back to
   * find+save, where a unique violation from a concurrent first write is retried as an update:
   * neither path fails or creates a second row when callers race on one key.
   *
   * With `expectedRefreshToken` the write is conditional, and the check is made by the database
   * in the same statement as the write: an `INSERT` that the unique constraint refuses when the
   * key exists (`null`), or an `UPDATE ... WHERE "refreshToken" = <stored value>` that changes
   * nothing when another writer got there first. Exactly one of several writers holding the same
   * expected token wins, across processes, on every driver.
   *
   * @returns the state this call stored, with the row's `id` (read back after the write). Under
   *   concurrent writes of one key it is this call's state, not a later writer's.
   * @throws AtlassianOauthStateValidationError for bad input, before anything is written: a blank
   *   `platform`/`tenantId`, an empty, missing or non-string `refreshToken`, a non-string
   *   `accessToken`, an `expiresAt` that is not a valid `Date`, or an `expectedRefreshToken` that
   *   is neither a non-empty string nor `null`.
   * @throws AtlassianOauthStateConflictError when `expectedRefreshToken` is given and the stored
   *   state does not match it; nothing is written and `error.current` holds the state that won.
   * @throws TokenIntegrityError / UnknownTokenKeyError when `expectedRefreshToken` is given and the
   *   stored refresh token cannot be opened to compare it; nothing is written. (A write without
   *   `expectedRefreshToken` replaces such a row.)
   */
  @RedactsQueryFailures()
  async upsert(
    platform: string,
    tenantId: string,
    tokens: AtlassianOauthTokens,
    options: AtlassianOauthUpsertOptions = {},
  ): Promise<AtlassianOauthStateEntity> {
    const key = validateKey(platform, tenantId);
    const plain = { ...key, ...validateTokens(tokens) };
    const expected = validateExpectedRefreshToken(options);
    const written: StateValues = { ...plain, updatedAt: this.clock.stamp(leaseKeyId(key)) };
    const values = this.sealed(written);
    if (expected === null) {
      await this.insertIfAbsent(key, values);
    } else if (expected !== undefined) {
      await this.replaceIfCurrent(key, expected, values);
    } else if (this.repository.manager.connection.driver.supportedUpsertTypes.length > 0) {
      await this.repository.upsert(values, { conflictPaths: ['platform', 'tenantId'] });
    } else {
      await this.findAndSave(key, values);
    }
    // The row's id never changes for a key; the rest is what this call wrote, even when a
    // concurrent writer of the same key has already replaced it.
    const { id } = await this.byKey.findOneOrFail(key);
    return Object.assign(new AtlassianOauthStateEntity(), { id, ...written });
  }

  /**
   * Removes the state of one `(platform, tenantId)`, e.g. when the customer disconnects or
   * uninstalls: their tokens must not linger.
   *
   * @returns `true` when a row was removed, `false` when nothing was stored.
   * @throws AtlassianOauthStateValidationError when `platform` or `tenantId` is not a non-blank string.
   */
  @RedactsQueryFailures()
  async delete(platform: string, tenantId: string): Promise<boolean> {
    const { affected } = await this.repository.delete(validateKey(platform, tenantId));
    return (affected ?? 0) > 0;
  }

  /**
   * Returns a state of one `(platform, tenantId)` that is valid for at least `minValidityMs`,
   * calling `refresh` only when the stored one is not, and never while another `refresh` of the
   * same key runs anywhere: single flight across every process that shares the database.
   *
   * - A stored `expiresAt` later than now plus `minValidityMs` is returned without a refresh; a
   *   `null` `expiresAt` always needs one.
   * - Otherwise the caller takes the key's lease (a row of `atlassian_oauth_refresh_lease`, taken
   *   atomically by the database and lasting `leaseMs`), reads the state again, calls
   *   `refresh(state)` if it still needs it, and stores the result with the conditional upsert,
   *   expecting the refresh token it refreshed with. Callers of the same process queue in memory;
   *   the first of them polls the lease with a backoff of 10 to 200 ms. When the lease is
   *   released they re-read the state and refresh only if it still needs it.
   * - A holder that died keeps the others out only until its lease lapses. A holder whose lease
   *   lapsed and was taken over cannot overwrite the newer token: its write is refused and it
   *   resolves with the state that won.
   *
   * @returns the stored state that is valid afterwards (the newest one).
   * @throws AtlassianOauthStateValidationError for a blank key, a `refresh` that is not a
   *   function, or an option that is not a number in range (`minValidityMs` >= 0, `leaseMs` > 0,
   *   `waitMs` >= 0), before anything is read or written; also when `refresh` returns invalid tokens.
   * @throws AtlassianOauthStateNotFoundError when nothing is stored for the key (or it was deleted
   *   during the refresh): there is nothing to refresh from.
   * @throws AtlassianOauthRotateTimeoutError when `waitMs` passed while another caller held the
   *   lease; nothing was written.
   * @throws AtlassianOauthRefreshFailedError when `refresh` threw; the error it threw is `cause`,
   *   the stored state is unchanged and the lease is released.
   */
  @RedactsQueryFailures()
  async rotate(
    platform: string,
    tenantId: string,
    refresh: AtlassianOauthRefresh,
    options: AtlassianOauthRotateOptions = {},
  ): Promise<AtlassianOauthStateEntity> {
    const key = validateKey(platform, tenantId);
    if (typeof refresh !== 'function') {
      throw new AtlassianOauthStateValidationError('refresh', 'must be a function returning the new tokens');
    }
    const limits = validateRotateOptions(options);
    const deadline = Date.now() + limits.waitMs;
    const endTurn = await this.turns.take(key, deadline);
    if (!endTurn) {
      throw new AtlassianOauthRotateTimeoutError(key.platform, key.tenantId, limits.waitMs);
    }
    try {
      return await this.rotateInTurn(key, refresh, limits, deadline);
    } finally {
      endTurn();
    }
  }

  /**
   * Lists the stored states, ordered by `platform`, then `tenantId`, without their tokens: it
   * tells whether an access token is present but never returns a token value, so it works for
   * operators (the CLI's `list`) and never decrypts anything.
   *
   * @param options.platform only the states of this platform; all of them when omitted.
   * @throws AtlassianOauthStateValidationError when `platform` is given but not a non-blank string.
   */
  @RedactsQueryFailures()
  async list(options: { platform?: string } = {}): Promise<AtlassianOauthStateSummary[]> {
    const where = options.platform === undefined ? {} : { platform: requireKeyPart('platform', options.platform) };
    const rows = await this.repository.find({
      select: { platform: true, tenantId: true, accessToken: true, expiresAt: true, updatedAt: true },
      where,
      order: { platform: 'ASC', tenantId: 'ASC' },
    });
    return rows.map(({ platform, tenantId, accessToken, expiresAt, updatedAt }) => ({
      platform,
      tenantId,
      hasAccessToken: accessToken !== null,
      expiresAt,
      updatedAt,
    }));
  }

  /** Counts the stored `(platform, tenantId)` states. */
  @RedactsQueryFailures()
  async count(): Promise<number> {
    return this.repository.count();
  }

  /**
   * Rewrites every row whose tokens are not yet sealed under the active key (the first of
   * `OAUTH_STATE_ENCRYPTION_KEYS`): rows under an older key and legacy plaintext rows. Run it after
   * putting a new key first in the ring; afterwards the old key can be removed.
   *
   * - It reads the table in batches of `batchSize` rows in `id` order (keyset pagination), so
   *   memory stays flat however large the table is.
   * - Each row is rewritten by one compare-and-swap `UPDATE` that matches only while both stored
   *   token values are still the ones read. A token that a concurrent writer changed meanwhile is
   *   never overwritten: the row is read again and is usually already current.
   * - `updatedAt` is kept: the token state itself did not change.
   * - It is idempotent and safe to re-run after a crash: every row is either fully rewritten or
   *   untouched, and a re-run counts finished rows as `alreadyCurrent`.
   * - A row that cannot be opened (`TokenIntegrityError`, `UnknownTokenKeyError`) is counted as
   *   `failed`, logged with its key (never a token) and left as it was; the run goes on.
   *
   * @returns how many rows were sealed, already current, and failed.
   * @throws TokenEncryptionConfigError when no keys are configured (there is nothing to seal with).
   * @throws AtlassianOauthStateValidationError when `batchSize` is not a positive integer or
   *   `onProgress` is not a function, before anything is read.
   */
  @RedactsQueryFailures()
  async reencryptAll(options: ReencryptOptions = {}): Promise<ReencryptCounts> {
    const { batchSize, onProgress } = validateReencryptOptions(options);
    if (!this.cipher.encrypts) {
      throw new TokenEncryptionConfigError(
        'reencryptAll needs OAUTH_STATE_ENCRYPTION_KEYS: without a key there is nothing to seal with.',
      );
    }
    const counts: ReencryptCounts = { sealed: 0, alreadyCurrent: 0, failed: 0 };
    const total = await this.repository.count();
    let processed = 0;
    let lastId: string | undefined;
    for (;;) {
      const batch = await this.repository.find({
        where: lastId === undefined ? {} : { id: MoreThan(lastId) },
        order: { id: 'ASC' },
        take: batchSize,
      });
      if (batch.length === 0) {
        return counts;
      }
      for (const row of batch) {
        const outcome = await this.reencryptRow(row);
        if (outcome !== 'deleted') {
          counts[outcome]++;
          processed++;
        }
      }
      lastId = batch[batch.length - 1]?.id;
      onProgress?.({ ...counts, processed, total });
    }
  }

  /** Brings one stored row under the active key with a compare-and-swap on its raw token values. */
  private async reencryptRow(row: AtlassianOauthStateEntity): Promise<ReencryptOutcome> {
    let current: AtlassianOauthStateEntity | null = row;
    for (let attempt = 1; attempt <= RACE_ATTEMPTS && current; attempt++) {
      if (
        this.cipher.isCurrent(current.refreshToken) &&
        (current.accessToken === null || this.cipher.isCurrent(current.accessToken))
      ) {
        return 'alreadyCurrent';
      }
      let resealed: AtlassianOauthStateEntity;
      try {
        resealed = this.sealed(this.opened(current));
      } catch (error) {
        if (error instanceof TokenIntegrityError || error instanceof UnknownTokenKeyError) {
          this.logger.warn(`reencryptAll left (${current.platform}, ${current.tenantId}) as it was: ${error.message}`);
          return 'failed';
        }
        throw error;
      }
      const { affected } = await this.repository.update(
        { id: current.id, refreshToken: current.refreshToken, accessToken: current.accessToken ?? IsNull() },
        { accessToken: resealed.accessToken, refreshToken: resealed.refreshToken, updatedAt: current.updatedAt },
      );
      if (affected === 1) {
        return 'sealed';
      }
      current = await this.repository.findOneBy({ id: current.id });
    }
    if (!current) {
      return 'deleted';
    }
    this.logger.warn(
      `reencryptAll left (${current.platform}, ${current.tenantId}) as it was: it kept changing under ${RACE_ATTEMPTS} attempts`,
    );
    return 'failed';
  }

  /** The in-process turn is ours: poll until the state is valid or the database lease is ours. */
  private async rotateInTurn(
    key: StateKey,
    refresh: AtlassianOauthRefresh,
    limits: RotateLimits,
    deadline: number,
  ): Promise<AtlassianOauthStateEntity> {
    for (let pause = FIRST_POLL_MS; ; pause = Math.min(2 * pause, MAX_POLL_MS)) {
      const state = await this.requireState(key);
      if (isValidFor(state, limits.minValidityMs)) {
        return state;
      }
      const holder = await this.leases.tryAcquire(key, limits.leaseMs);
      if (holder !== null) {
        try {
          return await this.refreshHoldingLease(key, refresh, limits.minValidityMs);
        } finally {
          await this.leases.release(key, holder).catch((error: unknown) => {
            // Not fatal: the lease lapses after leaseMs by itself.
            this.logger.warn(
              `Could not release the refresh lease of (${key.platform}, ${key.tenantId}): ${error instanceof Error ? error.name : 'error'}`,
            );
          });
        }
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new AtlassianOauthRotateTimeoutError(key.platform, key.tenantId, limits.waitMs);
      }
      await sleep(Math.min(remaining, pause / 2 + Math.random() * pause));
    }
  }

  /** The lease is ours: re-read (someone may have refreshed just before we took it), refresh, store with fencing. */
  private async refreshHoldingLease(
    key: StateKey,
    refresh: AtlassianOauthRefresh,
    minValidityMs: number,
  ): Promise<AtlassianOauthStateEntity> {
    const state = await this.requireState(key);
    if (isValidFor(state, minValidityMs)) {
      return state;
    }
    let tokens: AtlassianOauthTokens;
    try {
      tokens = await refresh(Object.assign(new AtlassianOauthStateEntity(), state));
    } catch (cause) {
      throw new AtlassianOauthRefreshFailedError(key.platform, key.tenantId, cause, [
        state.refreshToken,
        state.accessToken,
      ]);
    }
    try {
      return await this.upsert(key.platform, key.tenantId, tokens, { expectedRefreshToken: state.refreshToken });
    } catch (error) {
      if (error instanceof AtlassianOauthStateConflictError) {
        // Fenced: our lease lapsed and another holder stored a newer token; theirs wins.
        if (error.current) {
          return error.current;
        }
        throw new AtlassianOauthStateNotFoundError(key.platform, key.tenantId);
      }
      throw error;
    }
  }

  private async requireState(key: StateKey): Promise<AtlassianOauthStateEntity> {
    const state = await this.readState(key);
    if (!state) {
      throw new AtlassianOauthStateNotFoundError(key.platform, key.tenantId);
    }
    return state;
  }

  /** First connect: the unique constraint refuses the insert when the key is already stored. */
  private async insertIfAbsent(key: StateKey, values: StateValues): Promise<void> {
    try {
      await this.repository.insert(values);
    } catch (error) {
      if (isUniqueViolation(error)) {
        throw await this.conflict(key);
      }
      throw error;
    }
  }

  /**
   * Rotation: compare-and-swap on the stored refresh token. The `UPDATE` matches only while the
   * column still holds the value read, so a concurrent writer in any process makes it match
   * nothing; the state is then read again to tell a real conflict from a lost race that changed
   * nothing the caller cares about.
   */
  private async replaceIfCurrent(key: StateKey, expected: string, values: StateValues): Promise<void> {
    for (let attempt = 1; attempt <= RACE_ATTEMPTS; attempt++) {
      const stored = await this.repository.findOne({
        where: key,
        select: { id: true, platform: true, tenantId: true, refreshToken: true },
      });
      if (!stored || this.cipher.open(stored.refreshToken, locate(stored, 'refreshToken')) !== expected) {
        break;
      }
      const { affected } = await this.repository.update({ id: stored.id, refreshToken: stored.refreshToken }, values);
      if (affected === 1) {
        return;
      }
    }
    throw await this.conflict(key);
  }

  private async conflict(key: StateKey): Promise<AtlassianOauthStateConflictError> {
    return new AtlassianOauthStateConflictError(key.platform, key.tenantId, await this.readState(key));
  }

  /** Reads one state and opens its tokens: the only way a stored row leaves the repo. */
  private async readState(key: StateKey): Promise<AtlassianOauthStateEntity | null> {
    const row = await this.byKey.findOne(key);
    return row && this.opened(row);
  }

  /** The stored form of `values`: both tokens sealed for their row and column. */
  private sealed<T extends TokenColumns>(values: T): T {
    if (!this.cipher.encrypts) {
      // Stored as it is, such a value would read back as an envelope and fail to open.
      for (const column of ['accessToken', 'refreshToken'] as const) {
        if (values[column]?.startsWith(ENVELOPE_PREFIX)) {
          throw new AtlassianOauthStateValidationError(
            column,
            `must not start with "${ENVELOPE_PREFIX}" while tokens are stored in plaintext`,
          );
        }
      }
    }
    return {
      ...values,
      accessToken:
        values.accessToken === null ? null : this.cipher.seal(values.accessToken, locate(values, 'accessToken')),
      refreshToken: this.cipher.seal(values.refreshToken, locate(values, 'refreshToken')),
    };
  }

  /**
   * A copy of a stored row with both tokens opened. The row's own `platform` and `tenantId` are
   * the associated data, so a value moved in from another row fails instead of decrypting.
   */
  private opened(row: AtlassianOauthStateEntity): AtlassianOauthStateEntity {
    return Object.assign(new AtlassianOauthStateEntity(), row, {
      accessToken: row.accessToken === null ? null : this.cipher.open(row.accessToken, locate(row, 'accessToken')),
      refreshToken: this.cipher.open(row.refreshToken, locate(row, 'refreshToken')),
    });
  }

  /** The fallback for drivers without upsert: find, then update or insert; a lost insert race becomes an update. */
  private async findAndSave(key: StateKey, values: StateValues): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const existing = await this.repository.findOne({ where: key, select: { id: true } });
      if (existing) {
        const { affected } = await this.repository.update({ id: existing.id }, values);
        if (affected !== 0) {
          return;
        }
      } else {
        try {
          await this.repository.insert(values);
          return;
        } catch (error) {
          if (!isUniqueViolation(error) || attempt >= RACE_ATTEMPTS) {
            throw error;
          }
        }
      }
    }
  }
}

function validateKey(platform: unknown, tenantId: unknown): StateKey {
  return { platform: requireKeyPart('platform', platform), tenantId: requireKeyPart('tenantId', tenantId) };
}

function requireKeyPart(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new AtlassianOauthStateValidationError(field, 'must be a non-blank string');
  }
  if (value.length > MAX_KEY_LENGTH) {
    throw new AtlassianOauthStateValidationError(field, `must be at most ${MAX_KEY_LENGTH} characters`);
  }
  return refuseNul(field, value);
}

/** PostgreSQL cannot store U+0000 in text; refusing it everywhere keeps the engines alike. */
function refuseNul(field: string, value: string): string {
  if (value.includes('\u0000')) {
    throw new AtlassianOauthStateValidationError(field, 'must not contain the NUL character (U+0000)');
  }
  return value;
}

/** Where a token of `state` belongs, for the cipher's associated data. */
function locate(state: StateKey, column: TokenLocation['column']): TokenLocation {
  return { platform: state.platform, tenantId: state.tenantId, column };
}

function validateReencryptOptions(options: unknown): {
  batchSize: number;
  onProgress?: (progress: ReencryptProgress) => void;
} {
  if (typeof options !== 'object' || options === null) {
    throw new AtlassianOauthStateValidationError('options', 'must be an object');
  }
  const { batchSize = DEFAULT_REENCRYPT_BATCH_SIZE, onProgress } = options as Record<string, unknown>;
  if (typeof batchSize !== 'number' || !Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new AtlassianOauthStateValidationError('batchSize', 'must be a positive integer');
  }
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new AtlassianOauthStateValidationError('onProgress', 'must be a function or omitted');
  }
  return { batchSize, onProgress: onProgress as ((progress: ReencryptProgress) => void) | undefined };
}

function validateExpectedRefreshToken(options: unknown): string | null | undefined {
  if (typeof options !== 'object' || options === null) {
    throw new AtlassianOauthStateValidationError('options', 'must be an object');
  }
  const { expectedRefreshToken } = options as Record<string, unknown>;
  if (expectedRefreshToken === undefined || expectedRefreshToken === null) {
    return expectedRefreshToken;
  }
  if (typeof expectedRefreshToken !== 'string' || expectedRefreshToken.trim() === '') {
    throw new AtlassianOauthStateValidationError('expectedRefreshToken', 'must be a non-empty string, null or omitted');
  }
  return expectedRefreshToken;
}

function validateRotateOptions(options: unknown): RotateLimits {
  if (typeof options !== 'object' || options === null) {
    throw new AtlassianOauthStateValidationError('options', 'must be an object');
  }
  const { minValidityMs, leaseMs, waitMs } = options as Record<string, unknown>;
  return {
    minValidityMs: requireMilliseconds('minValidityMs', minValidityMs, DEFAULT_MIN_VALIDITY_MS, 0, Infinity),
    leaseMs: requireMilliseconds('leaseMs', leaseMs, DEFAULT_LEASE_MS, 1, MAX_ROTATE_TIMER_MS),
    waitMs: requireMilliseconds('waitMs', waitMs, DEFAULT_WAIT_MS, 0, MAX_ROTATE_TIMER_MS),
  };
}

function requireMilliseconds(field: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) {
    return fallback;
  }
  if (typeof value !== 'number' || Number.isNaN(value) || value < min || value > max) {
    throw new AtlassianOauthStateValidationError(
      field,
      `must be a number of milliseconds from ${min} to ${max}, or omitted`,
    );
  }
  return value;
}

function isValidFor(state: AtlassianOauthStateEntity, minValidityMs: number): boolean {
  return state.expiresAt !== null && state.expiresAt.getTime() > Date.now() + minValidityMs;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function validateTokens(tokens: unknown): Pick<StateValues, 'accessToken' | 'refreshToken' | 'expiresAt'> {
  if (typeof tokens !== 'object' || tokens === null) {
    throw new AtlassianOauthStateValidationError('tokens', 'must be an object with a refreshToken');
  }
  const { accessToken, refreshToken, expiresAt } = tokens as Record<string, unknown>;
  if (typeof refreshToken !== 'string' || refreshToken.trim() === '') {
    throw new AtlassianOauthStateValidationError('refreshToken', 'must be a non-empty string');
  }
  refuseNul('refreshToken', refreshToken);
  if (accessToken !== undefined && accessToken !== null) {
    if (typeof accessToken !== 'string' || accessToken.trim() === '') {
      throw new AtlassianOauthStateValidationError('accessToken', 'must be a non-empty string, null or omitted');
    }
    refuseNul('accessToken', accessToken);
  }
  if (
    expiresAt !== undefined &&
    expiresAt !== null &&
    !(types.isDate(expiresAt) && !Number.isNaN(expiresAt.getTime()))
  ) {
    throw new AtlassianOauthStateValidationError('expiresAt', 'must be a valid Date, null or omitted');
  }
  // A copy: the caller's Date may be changed later, or come from another realm (a VM context).
  return {
    accessToken: accessToken ?? null,
    refreshToken,
    expiresAt: expiresAt ? new Date(expiresAt.getTime()) : null,
  };
}
