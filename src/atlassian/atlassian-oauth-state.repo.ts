import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { AtlassianOauthStateEntity } from '../database/entities';
import { isUniqueViolation } from '../database/unique-violation';
import { AtlassianOauthStateValidationError } from './atlassian-oauth-state.errors';

/** The token set that one Atlassian token response yields. */
export interface AtlassianOauthTokens {
  /** The access token; omitted or `null` is stored as `null`. */
  accessToken?: string | null;
  /** The refresh token Atlassian returned with this response: the only one that still works. */
  refreshToken: string;
  /** When the access token expires; omitted or `null` is stored as `null`. */
  expiresAt?: Date | null;
}

/** Longest `platform` or `tenantId` accepted: the `varchar` length on server databases. */
export const MAX_KEY_LENGTH = 255;

/** How often the find+save fallback retries after losing a first-write race. */
const FALLBACK_ATTEMPTS = 5;

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
   * TypeORM's `Repository.upsert` would not bump `@UpdateDateColumn` on SQLite.
   *
   * The write is `Repository.upsert(..., ['platform', 'tenantId'])` (one `INSERT ... ON CONFLICT`
   * statement). On a driver without upsert support it falls back to find+save, where a unique
   * violation from a concurrent first write is retried as an update: neither path fails or
   * creates a second row when callers race on one key.
   *
   * @returns the stored entity, read back after the write.
   * @throws AtlassianOauthStateValidationError for bad input, before anything is written: a blank
   *   `platform`/`tenantId`, an empty, missing or non-string `refreshToken`, a non-string
   *   `accessToken`, or an `expiresAt` that is not a valid `Date`.
   */
  async upsert(
    platform: string,
    tenantId: string,
    tokens: AtlassianOauthTokens,
  ): Promise<AtlassianOauthStateEntity> {
    const key = validateKey(platform, tenantId);
    const values: StateValues = { ...key, ...validateTokens(tokens), updatedAt: new Date() };
    if (this.repository.manager.connection.driver.supportedUpsertTypes.length > 0) {
      await this.repository.upsert(values, { conflictPaths: ['platform', 'tenantId'] });
    } else {
      await this.findAndSave(key, values);
    }
    return this.repository.findOneByOrFail(key);
  }

  /** Counts the stored `(platform, tenantId)` states. */
  async count(): Promise<number> {
    return this.repository.count();
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
          if (!isUniqueViolation(error) || attempt >= FALLBACK_ATTEMPTS) {
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
