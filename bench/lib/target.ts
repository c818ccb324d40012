import { ATLASSIAN_OAUTH_STATE_TABLE } from '../../src/database/entities/atlassian-oauth-state.entity';
import { TokenCipher } from '../../src/token-cipher/token-cipher';
import { TokenLocation } from '../../src/token-cipher/token-cipher.errors';
import { LoadStats } from './load';
import { AtlassianOauthStateKey } from '../../src/atlassian';

/** The tokens one write stores. */
export interface WrittenTokens {
  accessToken: string | null;
  refreshToken: string;
  expiresAt: Date | null;
}

/** What the raw side returns: the same fields, the same types, as the entity. */
export interface RawState {
  id: string;
  platform: string;
  tenantId: string;
  accessToken: string | null;
  refreshToken: string;
  expiresAt: Date | null;
  updatedAt: Date;
}

/** A stored row as a raw driver returns it; `When` is how that driver returns a time. */
export interface StoredRow<When> {
  id: string;
  platform: string;
  tenant_id: string;
  accessToken: string | null;
  refreshToken: string;
  expires_at: When | null;
  updatedAt: When;
}

/** Where a token lives, as the cipher binds it: the same location the repo names. */
export const locate = (key: AtlassianOauthStateKey, column: 'accessToken' | 'refreshToken'): TokenLocation => ({
  table: ATLASSIAN_OAUTH_STATE_TABLE,
  platform: key.platform,
  tenantId: key.tenantId,
  column,
});

/** What every floor does with a stored row, as the repo does: tokens opened, times as `Date`s. */
export function rawStateOf<When>(row: StoredRow<When>, cipher: TokenCipher, toDate: (when: When) => Date): RawState {
  const key = { platform: row.platform, tenantId: row.tenant_id };
  return {
    id: row.id,
    platform: row.platform,
    tenantId: row.tenant_id,
    accessToken: row.accessToken === null ? null : cipher.open(row.accessToken, locate(key, 'accessToken')),
    refreshToken: cipher.open(row.refreshToken, locate(key, 'refreshToken')),
    expiresAt: row.expires_at === null ? null : toDate(row.expires_at),
    updatedAt: toDate(row.updatedAt),
  };
}

/**
 * The floor of one engine: its own driver doing by hand what the repo does, with the repo's
 * cipher. Synchronous drivers (better-sqlite3) answer at once, server drivers with a promise.
 */
export interface Floor {
  /** One indexed SELECT by `(platform, tenant_id)`, tokens opened. */
  get(key: AtlassianOauthStateKey): RawState | null | Promise<RawState | null>;
  /** `INSERT ... ON CONFLICT/DUPLICATE KEY UPDATE` of every column, then the SELECT. */
  upsert(key: AtlassianOauthStateKey, tokens: WrittenTokens): RawState | Promise<RawState>;
  /**
   * The conditional upsert of a rotation: read the stored id and refresh token, open and compare
   * it with `expected`, `UPDATE ... WHERE id = ? AND refreshToken = <stored value>`, read back.
   */
  replaceIfCurrent(key: AtlassianOauthStateKey, expected: string, tokens: WrittenTokens): RawState | Promise<RawState>;
}

/** One database engine as the engine worker drives it. */
export interface EngineTarget {
  readonly floor: Floor;
  /** The raw floor's get statement, for its query plan. */
  readonly rawGetSql: string;
  /** Grows the table from `fromRows` to `toRows` tenants with the raw driver. */
  seed(fromRows: number, toRows: number): Promise<LoadStats>;
  /** The engine's query plan of `sql` bound to `params`, one line per step. */
  explain(sql: string, params: unknown[]): Promise<string[]>;
  /** True when `plan` looks the row up through the unique `(platform, tenant_id)` index. */
  searchesUniqueIndex(plan: readonly string[]): boolean;
  /** The settings that decide what a call costs (pragmas, server version). */
  settings(): Promise<Record<string, unknown>>;
  /** True when the stored refresh token of `key` is a sealed envelope. */
  storedSealed(key: AtlassianOauthStateKey): Promise<boolean>;
  close(): Promise<void>;
}

/** Thrown by a raw conditional write whose expected refresh token is no longer the stored one. */
export class RawConflictError extends Error {
  override readonly name = 'RawConflictError';
}
