import { Injectable } from '@nestjs/common';
import { AtlassianOauthStateEntity } from '../database/entities';
import { ATLASSIAN_OAUTH_STATE_TABLE } from '../database/entities/atlassian-oauth-state.entity';
import { ENVELOPE_PREFIX, TokenCipher } from '../token-cipher/token-cipher';
import { TokenLocation } from '../token-cipher/token-cipher.errors';
import { AtlassianOauthStateValidationError } from './atlassian-oauth-state.errors';
import { AtlassianOauthStateKey } from './atlassian-oauth-state.types';

/** The columns a sealed row is made of: its key (the associated data) and both tokens. */
export type TokenColumns = Pick<AtlassianOauthStateEntity, 'platform' | 'tenantId' | 'accessToken' | 'refreshToken'>;

/**
 * Seals and opens the tokens of `atlassian_oauth_state` rows with the configured {@link TokenCipher}:
 * the only place in the feature that calls the cipher. Each token is bound to its row's
 * `platform`, `tenantId` and its column, so a value moved in from another row or column fails to
 * open instead of decrypting.
 */
@Injectable()
export class AtlassianOauthTokenSealer {
  constructor(private readonly cipher: TokenCipher) {}

  /** True when new values are sealed; false in plaintext mode. */
  get encrypts(): boolean {
    return this.cipher.encrypts;
  }

  /**
   * The stored form of `values`: both tokens sealed for their row and column.
   *
   * @throws AtlassianOauthStateValidationError in plaintext mode for a token starting with the
   *   envelope prefix: stored as it is, it would read back as an envelope and fail to open.
   */
  seal<T extends TokenColumns>(values: T): T {
    if (!this.cipher.encrypts) {
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
   * A copy of a stored row with both tokens opened.
   *
   * @throws TokenIntegrityError / UnknownTokenKeyError when a token cannot be opened; with keys
   *   configured, also for a token that is not sealed, unless `OAUTH_STATE_ACCEPT_PLAINTEXT_ROWS`.
   */
  open(row: AtlassianOauthStateEntity): AtlassianOauthStateEntity {
    return Object.assign(new AtlassianOauthStateEntity(), row, {
      accessToken: row.accessToken === null ? null : this.cipher.open(row.accessToken, locate(row, 'accessToken')),
      refreshToken: this.openRefreshToken(row),
    });
  }

  /** The plaintext of a stored row's refresh token (for a compare-and-swap that reads nothing else). */
  openRefreshToken(row: Pick<TokenColumns, 'platform' | 'tenantId' | 'refreshToken'>): string {
    return this.cipher.open(row.refreshToken, locate(row, 'refreshToken'));
  }

  /** True when a stored token of `row` is not sealed: a legacy plaintext row (or half of one). */
  holdsPlaintext(row: Pick<TokenColumns, 'accessToken' | 'refreshToken'>): boolean {
    return (
      this.cipher.isPlaintext(row.refreshToken) ||
      (row.accessToken !== null && this.cipher.isPlaintext(row.accessToken))
    );
  }

  /** True when both stored tokens of `row` are already in the form the active key would write. */
  isCurrent(row: Pick<TokenColumns, 'accessToken' | 'refreshToken'>): boolean {
    return (
      this.cipher.isCurrent(row.refreshToken) && (row.accessToken === null || this.cipher.isCurrent(row.accessToken))
    );
  }
}

/** Where a token of the row `key` belongs, for the cipher's associated data. */
function locate(key: AtlassianOauthStateKey, column: 'accessToken' | 'refreshToken'): TokenLocation {
  return { table: ATLASSIAN_OAUTH_STATE_TABLE, platform: key.platform, tenantId: key.tenantId, column };
}
