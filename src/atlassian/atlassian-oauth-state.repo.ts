import { Injectable, Optional } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { LessThan, MoreThan, MoreThanOrEqual, Repository } from 'typeorm';
import { DatabaseOutageMonitor } from '../database/database-outage.monitor';
import { BoundedCall, DatabaseRepo } from '../database/database-repo';
import {
  AtlassianOauthRefreshHealthEntity,
  AtlassianOauthStateEntity,
  AtlassianSiteEntity,
} from '../database/entities';
import { PreparedJoinedLookup, PreparedLookup } from '../database/prepared-lookup';
import { PreparedUpsert } from '../database/prepared-upsert';
import { isUniqueViolation } from '../database/unique-violation';
import { AgentCoreMetrics } from '../metrics/agent-core-metrics';
import { MeasuredStoreCall } from '../metrics/measured-store-call';
import { AtlassianOauthStateConflictError } from './atlassian-oauth-state.errors';
import {
  AtlassianOauthRefreshBasis,
  AtlassianOauthStateKey,
  AtlassianOauthStateSummary,
  AtlassianOauthTokens,
  AtlassianOauthUpsertOptions,
  stateKeyId,
} from './atlassian-oauth-state.types';
import {
  requireKeyPart,
  validateExpectedRefreshToken,
  validateKey,
  validateTokens,
} from './atlassian-oauth-state.validation';
import { AtlassianOauthTokenSealer } from './atlassian-oauth-token-sealer';
import { UpdateClock } from './update-clock';
import { AtlassianOauthEventPublisher } from './events/atlassian-oauth-event.publisher';
import { ATLASSIAN_EVENTS, AtlassianGrantDisconnectedEvent } from './events/atlassian-oauth.events';

/** How often a write that lost a race to a concurrent writer reads again and retries. */
const RACE_ATTEMPTS = 5;

type StateValues = Omit<AtlassianOauthStateEntity, 'id'>;

/** A key as an idleness sweep sees it: which row, and when its state was last written. */
export type AtlassianOauthIdleKey = Pick<AtlassianOauthStateEntity, 'id' | 'platform' | 'tenantId' | 'updatedAt'>;

/**
 * Durable store of the newest Atlassian OAuth state per `(platform, tenantId)`.
 *
 * Inject it through `AtlassianModule`. Every method validates its input before touching the
 * database and rejects with {@link AtlassianOauthStateValidationError} naming the bad field.
 * Refreshing a token with a lease is `AtlassianOauthRotationService`'s job, moving every row to a
 * new key `AtlassianOauthReencryptionService`'s (through the sealed rows of
 * `AtlassianOauthSealedStateRepo`).
 *
 * Both tokens are stored sealed by the {@link AtlassianOauthTokenSealer} (AES-256-GCM, bound to
 * table, `platform`, `tenantId` and column) when `OAUTH_STATE_ENCRYPTION_KEYS` is set; callers of
 * `get` and `upsert` always see plaintext.
 *
 * Every method rejects with `DatabaseUnavailableError` when the database is away (connection
 * refused or lost, server shutting down or starting, a query past `DATABASE_QUERY_TIMEOUT_MS`,
 * no pooled connection in time) and with `DatabaseCorruptError` when the SQLite file is damaged.
 *
 * Reading a stored token that fails its integrity check rejects with `TokenIntegrityError`, one
 * sealed under a key id that is not configured with `UnknownTokenKeyError`: never with another
 * row's token. A database error that leaves a method (a TypeORM `QueryFailedError`) carries no
 * token either: its `parameters` are redacted.
 */
@Injectable()
export class AtlassianOauthStateRepo extends DatabaseRepo {
  private readonly clock = new UpdateClock();
  /** `findOneBy(key)` with the SQL built once: `get` is on the path of every Atlassian API call. */
  private readonly byKey = new PreparedLookup(this.repository, ['platform', 'tenantId']);
  /** The state with its key's refresh health row, in one statement: what a refresh starts from. */
  private readonly withHealth = new PreparedJoinedLookup(
    this.repository,
    this.repository.manager.getRepository(AtlassianOauthRefreshHealthEntity),
    ['platform', 'tenantId'],
  );
  /** `Repository.upsert(values, ['platform', 'tenantId'])` with its SQL built once, without its two extra costs. */
  private readonly upsertByKey = new PreparedUpsert(this.repository, ['platform', 'tenantId']);

  constructor(
    @InjectRepository(AtlassianOauthStateEntity)
    private readonly repository: Repository<AtlassianOauthStateEntity>,
    private readonly sealer: AtlassianOauthTokenSealer,
    /** The connection's outages: every method's database failure is translated and redacted (`DatabaseRepo`). */
    outages: DatabaseOutageMonitor,
    /** The application's metrics when it serves them: each public method's duration is recorded. */
    @Optional() readonly metrics?: AgentCoreMetrics,
    /** Tells the host of a deleted state (`atlassian.grant.disconnected`). */
    @Optional() private readonly events?: AtlassianOauthEventPublisher,
  ) {
    super(outages);
  }

  /**
   * Reads the stored state of one `(platform, tenantId)`.
   *
   * @returns the entity with plaintext tokens, or `null` when nothing is stored for that key.
   * @throws AtlassianOauthStateValidationError when `platform` or `tenantId` is not a non-blank string.
   * @throws TokenIntegrityError / UnknownTokenKeyError when a stored token cannot be opened.
   */
  @BoundedCall()
  @MeasuredStoreCall()
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
   * Without `expectedRefreshToken` the write is one `INSERT ... ON CONFLICT ("platform",
   * "tenant_id") DO UPDATE` statement (`ON DUPLICATE KEY UPDATE` on MariaDB/MySQL), as
   * `Repository.upsert` sends it but built once, without rewriting the key columns or reloading
   * the row (see `PreparedUpsert`). On a driver without upsert support it falls back to
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
  @BoundedCall()
  @MeasuredStoreCall()
  async upsert(
    platform: string,
    tenantId: string,
    tokens: AtlassianOauthTokens,
    options: AtlassianOauthUpsertOptions = {},
  ): Promise<AtlassianOauthStateEntity> {
    const key = validateKey(platform, tenantId);
    const plain = { ...key, ...validateTokens(tokens) };
    const expected = validateExpectedRefreshToken(options);
    const written: StateValues = { ...plain, updatedAt: this.clock.stamp(stateKeyId(key)) };
    const values = this.sealer.seal(written);
    if (expected === null) {
      await this.insertIfAbsent(key, values);
    } else if (expected !== undefined) {
      await this.replaceIfCurrent(key, expected, values);
    } else if (this.repository.manager.connection.driver.supportedUpsertTypes.length > 0) {
      await this.upsertByKey.upsert(values);
    } else {
      await this.findAndSave(key, values);
    }
    // The row's id never changes for a key; the rest is what this call wrote, even when a
    // concurrent writer of the same key has already replaced it.
    const { id } = await this.byKey.findOneOrFail(key);
    return Object.assign(new AtlassianOauthStateEntity(), { id, ...written });
  }

  /**
   * Reads what a refresh of one `(platform, tenantId)` starts from: the state, its refresh health
   * row and the stored (sealed) refresh token that {@link replaceRefreshed} expects. One statement
   * (as cheap as {@link get}) unless a refresh failure is on record for the key; then its health
   * row is a second. `accessToken` reads this on every call: a recorded revocation applies at once.
   *
   * @returns `null` when nothing is stored for the key.
   * @throws AtlassianOauthStateValidationError when `platform` or `tenantId` is not a non-blank string.
   * @throws TokenIntegrityError / UnknownTokenKeyError when a stored token cannot be opened.
   */
  @BoundedCall()
  @MeasuredStoreCall()
  async readForRefresh(platform: string, tenantId: string): Promise<AtlassianOauthRefreshBasis | null> {
    const found = await this.withHealth.findOne(validateKey(platform, tenantId));
    if (found === null) {
      return null;
    }
    return {
      state: this.sealer.open(found.entity),
      health: found.joined,
      storedRefreshToken: found.entity.refreshToken,
    };
  }

  /**
   * Stores the tokens a refresh of `basis` returned, in one statement, only while the row still
   * holds the refresh token `basis` was read with: `UPDATE ... WHERE id = ? AND "refreshToken" =
   * <the stored, sealed value>`. A writer that got there first (any path, any process) makes it
   * match nothing. Nothing is read back: the row keeps its `id`.
   *
   * @returns the state this call stored.
   * @throws AtlassianOauthStateValidationError for invalid `tokens`, before anything is written.
   * @throws AtlassianOauthStateConflictError when the row no longer holds that refresh token (or is
   *   gone); `error.current` holds the state stored now.
   */
  @BoundedCall()
  @MeasuredStoreCall()
  async replaceRefreshed(
    basis: AtlassianOauthRefreshBasis,
    tokens: AtlassianOauthTokens,
  ): Promise<AtlassianOauthStateEntity> {
    const { id, platform, tenantId } = basis.state;
    const key = { platform, tenantId };
    const written: StateValues = { ...key, ...validateTokens(tokens), updatedAt: this.clock.stamp(stateKeyId(key)) };
    // The key columns are not rewritten (the unique index entry stays as it is).
    const { accessToken, refreshToken, expiresAt, updatedAt } = this.sealer.seal(written);
    const { affected } = await this.repository.update(
      { id, refreshToken: basis.storedRefreshToken },
      { accessToken, refreshToken, expiresAt, updatedAt },
    );
    if (affected !== 1) {
      throw await this.conflict(key);
    }
    return Object.assign(new AtlassianOauthStateEntity(), { id, ...written });
  }

  /**
   * Removes the state of one `(platform, tenantId)`, e.g. when the customer disconnects or
   * uninstalls: their tokens must not linger. The key's sites (`atlassian_site`) go in the same
   * transaction.
   *
   * A removed row emits `atlassian.grant.disconnected` (`AtlassianGrantDisconnectedEvent`) in this process.
   *
   * @returns `true` when a row was removed, `false` when nothing was stored.
   * @throws AtlassianOauthStateValidationError when `platform` or `tenantId` is not a non-blank string.
   */
  @BoundedCall()
  @MeasuredStoreCall()
  async delete(platform: string, tenantId: string): Promise<boolean> {
    const key = validateKey(platform, tenantId);
    const { affected } = await this.repository.manager.transaction(async (manager) => {
      await manager.delete(AtlassianSiteEntity, key);
      return manager.delete(AtlassianOauthStateEntity, key);
    });
    const removed = (affected ?? 0) > 0;
    if (removed) {
      this.events?.emit(
        ATLASSIAN_EVENTS.grantDisconnected,
        new AtlassianGrantDisconnectedEvent(key.platform, key.tenantId),
      );
    }
    return removed;
  }

  /**
   * Lists the stored states, ordered by `platform`, then `tenantId`, without their tokens: it
   * tells whether an access token is present but never returns a token value, so it works for
   * operators (the CLI's `list`) and never decrypts anything.
   *
   * @param options.platform only the states of this platform; all of them when omitted.
   * @throws AtlassianOauthStateValidationError when `platform` is given but not a non-blank string.
   */
  @MeasuredStoreCall()
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
  @MeasuredStoreCall()
  async count(): Promise<number> {
    return this.repository.count();
  }

  /**
   * Up to `limit` keys whose state was last written (`updatedAt`) before `idleBefore`, in `id`
   * order after `afterId` (from the first when `undefined`): keyset pagination, so a sweep over the
   * whole table keeps memory flat. Reads no token column.
   */
  async findIdlePage(idleBefore: Date, afterId: string | undefined, limit: number): Promise<AtlassianOauthIdleKey[]> {
    return this.repository.find({
      select: { id: true, platform: true, tenantId: true, updatedAt: true },
      where: { updatedAt: LessThan(idleBefore), ...(afterId === undefined ? {} : { id: MoreThan(afterId) }) },
      order: { id: 'ASC' },
      take: limit,
    });
  }

  /** How many stored states were last written before `idleBefore` (`idle`), and at or after it (`fresh`). */
  async countByIdleness(idleBefore: Date): Promise<{ idle: number; fresh: number }> {
    const [idle, fresh] = await Promise.all([
      this.repository.countBy({ updatedAt: LessThan(idleBefore) }),
      this.repository.countBy({ updatedAt: MoreThanOrEqual(idleBefore) }),
    ]);
    return { idle, fresh };
  }

  /** First connect: the unique constraint refuses the insert when the key is already stored. */
  private async insertIfAbsent(key: AtlassianOauthStateKey, values: StateValues): Promise<void> {
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
  private async replaceIfCurrent(key: AtlassianOauthStateKey, expected: string, values: StateValues): Promise<void> {
    for (let attempt = 1; attempt <= RACE_ATTEMPTS; attempt++) {
      const stored = await this.repository.findOne({
        where: key,
        select: { id: true, platform: true, tenantId: true, refreshToken: true },
      });
      if (!stored || this.sealer.openRefreshToken(stored) !== expected) {
        break;
      }
      const { affected } = await this.repository.update({ id: stored.id, refreshToken: stored.refreshToken }, values);
      if (affected === 1) {
        return;
      }
    }
    throw await this.conflict(key);
  }

  private async conflict(key: AtlassianOauthStateKey): Promise<AtlassianOauthStateConflictError> {
    return new AtlassianOauthStateConflictError(key.platform, key.tenantId, await this.readState(key));
  }

  /** Reads one state and opens its tokens: the only way a stored row leaves the repo in plaintext. */
  private async readState(key: AtlassianOauthStateKey): Promise<AtlassianOauthStateEntity | null> {
    const row = await this.byKey.findOne(key);
    return row && this.sealer.open(row);
  }

  /** The fallback for drivers without upsert: find, then update or insert; a lost insert race becomes an update. */
  private async findAndSave(key: AtlassianOauthStateKey, values: StateValues): Promise<void> {
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
