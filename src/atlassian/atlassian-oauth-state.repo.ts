import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { AtlassianOauthStateEntity } from '../database/entities';
import { isUniqueViolation } from '../database/unique-violation';
import { AtlassianOauthStateConflictError, AtlassianOauthStateValidationError } from './atlassian-oauth-state.errors';

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

/** Longest `platform` or `tenantId` accepted: the `varchar` length on server databases. */
export const MAX_KEY_LENGTH = 255;

/** How often a write that lost a race to a concurrent writer reads again and retries. */
const RACE_ATTEMPTS = 5;

type StateKey = Pick<AtlassianOauthStateEntity, 'platform' | 'tenantId'>;
type StateValues = Omit<AtlassianOauthStateEntity, 'id'>;

/**
 * Durable store of the newest Atlassian OAuth state per `(platform, tenantId)`.
 *
 * Inject it through `AtlassianModule`. Every method validates its input before touching the
 * database and rejects with {@link AtlassianOauthStateValidationError} naming the bad field.
 */
@Injectable()
export class AtlassianOauthStateRepo {
  constructor(
    @InjectRepository(AtlassianOauthStateEntity)
    private readonly repository: Repository<AtlassianOauthStateEntity>,
  ) {}

  /**
   * Reads the stored state of one `(platform, tenantId)`.
   *
   * @returns the entity, or `null` when nothing is stored for that key.
   * @throws AtlassianOauthStateValidationError when `platform` or `tenantId` is not a non-blank string.
   */
  async get(platform: string, tenantId: string): Promise<AtlassianOauthStateEntity | null> {
    return this.repository.findOneBy(validateKey(platform, tenantId));
  }

  /**
   * Stores the token set of one `(platform, tenantId)`, replacing the whole previous state.
   *
   * After it resolves the stored state is exactly `tokens`: an omitted `accessToken` or `expiresAt`
   * is stored as `null`, so a new refresh token never sits beside the previous access token. The
   * row keeps its `id` and its `updatedAt` advances, also on the conflict-update path, where
   * TypeORM's `Repository.upsert` would not bump `@UpdateDateColumn` on SQLite
   * (https://github.com/typeorm/typeorm/issues/9015).
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
   * @returns the stored entity, read back after the write.
   * @throws AtlassianOauthStateValidationError for bad input, before anything is written: a blank
   *   `platform`/`tenantId`, an empty, missing or non-string `refreshToken`, a non-string
   *   `accessToken`, an `expiresAt` that is not a valid `Date`, or an `expectedRefreshToken` that
   *   is neither a non-empty string nor `null`.
   * @throws AtlassianOauthStateConflictError when `expectedRefreshToken` is given and the stored
   *   state does not match it; nothing is written and `error.current` holds the state that won.
   */
  async upsert(
    platform: string,
    tenantId: string,
    tokens: AtlassianOauthTokens,
    options: AtlassianOauthUpsertOptions = {},
  ): Promise<AtlassianOauthStateEntity> {
    const key = validateKey(platform, tenantId);
    const values: StateValues = { ...key, ...validateTokens(tokens), updatedAt: new Date() };
    const expected = validateExpectedRefreshToken(options);
    if (expected === null) {
      await this.insertIfAbsent(key, values);
    } else if (expected !== undefined) {
      await this.replaceIfCurrent(key, expected, values);
    } else if (this.repository.manager.connection.driver.supportedUpsertTypes.length > 0) {
      await this.repository.upsert(values, { conflictPaths: ['platform', 'tenantId'] });
    } else {
      await this.findAndSave(key, values);
    }
    return this.repository.findOneByOrFail(key);
  }

  /**
   * Removes the state of one `(platform, tenantId)`, e.g. when the customer disconnects or
   * uninstalls: their tokens must not linger.
   *
   * @returns `true` when a row was removed, `false` when nothing was stored.
   * @throws AtlassianOauthStateValidationError when `platform` or `tenantId` is not a non-blank string.
   */
  async delete(platform: string, tenantId: string): Promise<boolean> {
    const { affected } = await this.repository.delete(validateKey(platform, tenantId));
    return (affected ?? 0) > 0;
  }

  /** Counts the stored `(platform, tenantId)` states. */
  async count(): Promise<number> {
    return this.repository.count();
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
      const stored = await this.repository.findOne({ where: key, select: { id: true, refreshToken: true } });
      if (!stored || stored.refreshToken !== expected) {
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
    return new AtlassianOauthStateConflictError(key.platform, key.tenantId, await this.repository.findOneBy(key));
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
  return value;
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

function validateTokens(tokens: unknown): Pick<StateValues, 'accessToken' | 'refreshToken' | 'expiresAt'> {
  if (typeof tokens !== 'object' || tokens === null) {
    throw new AtlassianOauthStateValidationError('tokens', 'must be an object with a refreshToken');
  }
  const { accessToken, refreshToken, expiresAt } = tokens as Record<string, unknown>;
  if (typeof refreshToken !== 'string' || refreshToken.trim() === '') {
    throw new AtlassianOauthStateValidationError('refreshToken', 'must be a non-empty string');
  }
  if (accessToken !== undefined && accessToken !== null && (typeof accessToken !== 'string' || accessToken.trim() === '')) {
    throw new AtlassianOauthStateValidationError('accessToken', 'must be a non-empty string, null or omitted');
  }
  if (expiresAt !== undefined && expiresAt !== null && !(expiresAt instanceof Date && !Number.isNaN(expiresAt.getTime()))) {
    throw new AtlassianOauthStateValidationError('expiresAt', 'must be a valid Date, null or omitted');
  }
  return { accessToken: accessToken ?? null, refreshToken, expiresAt: expiresAt ?? null };
}
