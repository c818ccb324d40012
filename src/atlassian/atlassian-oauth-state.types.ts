import { quoteForLog } from '../common/quote-for-log';
import type { AtlassianOauthRefreshHealthEntity, AtlassianOauthStateEntity } from '../database/entities';

/** Which state: one row per `(platform, tenantId)`, enforced by a unique constraint. */
export interface AtlassianOauthStateKey {
  readonly platform: string;
  readonly tenantId: string;
}

/** One string per key, unambiguous whatever characters `platform` and `tenantId` contain. */
export function stateKeyId({ platform, tenantId }: AtlassianOauthStateKey): string {
  return JSON.stringify([platform, tenantId]);
}

/**
 * `("jira", "tenant-a")`: a key as messages and log lines show it, each part quoted escaped, so a
 * key read from a row that someone wrote straight into the database cannot forge a log line.
 */
export function describeStateKey(platform: string, tenantId: string): string {
  return `(${quoteForLog(platform)}, ${quoteForLog(tenantId)})`;
}

/** The token set that one Atlassian token response yields. */
export interface AtlassianOauthTokens {
  /** The access token; omitted or `null` is stored as `null`. */
  accessToken?: string | null;
  /** The refresh token Atlassian returned with this response: the only one that still works. */
  refreshToken: string;
  /** When the access token expires; omitted or `null` is stored as `null`. */
  expiresAt?: Date | null;
}

/** Options of `AtlassianOauthStateRepo.upsert`. */
export interface AtlassianOauthUpsertOptions {
  /**
   * Write only if the stored refresh token is still this one: the token the caller refreshed
   * with. `null` means "only if nothing is stored yet" (first connect). Omitted: write always.
   */
  expectedRefreshToken?: string | null;
}

/** What `AtlassianOauthStateRepo.list` tells about one stored state: no token value. */
export interface AtlassianOauthStateSummary {
  readonly platform: string;
  readonly tenantId: string;
  /** Whether an access token is stored (its value is never read out). */
  readonly hasAccessToken: boolean;
  readonly expiresAt: Date | null;
  readonly updatedAt: Date;
}

/**
 * The consumer's token refresh for `AtlassianOauthRotationService.rotate`: given the stored state,
 * typically calls Atlassian's token endpoint with its `refreshToken` and returns the new token set.
 */
export type AtlassianOauthRefresh = (
  current: AtlassianOauthStateEntity,
) => Promise<AtlassianOauthTokens> | AtlassianOauthTokens;

/** Options of `AtlassianOauthRotationService.rotate`; every one is a number of milliseconds. */
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

/**
 * Whether the access token of `state` is still valid `minValidityMs` from now: the one rule of
 * "still valid" that `accessToken`, `rotate` and the unsaved rotations share. A state with no
 * `expiresAt` never is.
 */
export function isValidFor(state: Pick<AtlassianOauthStateEntity, 'expiresAt'>, minValidityMs: number): boolean {
  return state.expiresAt !== null && state.expiresAt.getTime() - Date.now() > minValidityMs;
}

/**
 * What a refresh starts from, read in one statement: the stored state (tokens opened), its key's
 * refresh health row (`null` when its last refresh did not fail), and the refresh token as it is
 * stored (sealed, a fresh value on every write): the version the conditional write expects.
 */
export interface AtlassianOauthRefreshBasis {
  readonly state: AtlassianOauthStateEntity;
  readonly health: AtlassianOauthRefreshHealthEntity | null;
  readonly storedRefreshToken: string;
}
/** Default {@link AtlassianOauthRotateOptions.leaseMs}: 30 seconds. */
export const DEFAULT_LEASE_MS = 30_000;
/** Default {@link AtlassianOauthRotateOptions.waitMs}: one minute. */
export const DEFAULT_WAIT_MS = 60_000;
/** Largest `leaseMs` and `waitMs`: Node's longest timer (about 24.8 days). */
export const MAX_ROTATE_TIMER_MS = 2_147_483_647;

/** What `AtlassianOauthReencryptionService.reencryptAll` did, in rows. */
export interface ReencryptCounts {
  /** Rows rewritten under the active key from an older key. */
  sealed: number;
  /**
   * Legacy plaintext rows (a token not sealed at all) sealed under the active key: only under
   * `OAUTH_STATE_ACCEPT_PLAINTEXT_ROWS=true`; without it such a row counts as `failed`.
   */
  legacyPlaintext: number;
  /** Rows that were already under the active key (including rows a concurrent writer sealed first). */
  alreadyCurrent: number;
  /**
   * Rows that could not be opened (integrity failure, unknown key id, or plaintext where none is
   * accepted); they are left as they were.
   */
  failed: number;
}

/** Reported by `AtlassianOauthReencryptionService.reencryptAll` after every batch. */
export interface ReencryptProgress extends ReencryptCounts {
  /** Rows looked at so far (deleted while the run went on: not counted). */
  processed: number;
  /** Rows in the table when the run started. */
  total: number;
}

/** Options of `AtlassianOauthReencryptionService.reencryptAll`. */
export interface ReencryptOptions {
  /** Rows read per batch (default {@link DEFAULT_REENCRYPT_BATCH_SIZE}); memory grows with it, not with the table. */
  batchSize?: number;
  /** Called after every batch with the counts so far. */
  onProgress?: (progress: ReencryptProgress) => void;
}

/** Rows per batch of `AtlassianOauthReencryptionService.reencryptAll` unless told otherwise. */
export const DEFAULT_REENCRYPT_BATCH_SIZE = 500;
