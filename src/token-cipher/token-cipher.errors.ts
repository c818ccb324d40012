import { quoteForLog } from '../common/quote-for-log';

// Thrown while the configuration loads; defined in config/ with every other configuration error.
export { TokenEncryptionConfigError } from '../config/config.errors';

/**
 * Where a stored token belongs: the associated data its ciphertext is bound to. The caller that
 * stores the value names it; a value opened with any other location fails the integrity check.
 */
export interface TokenLocation {
  /** The table the value is stored in, e.g. `atlassian_oauth_state`. */
  readonly table: string;
  /** The row's key: its platform and tenant. */
  readonly platform: string;
  readonly tenantId: string;
  /** The column the value is stored in, e.g. `refreshToken`. */
  readonly column: string;
}

// Keys and key ids come from stored rows, which a database writer can fill with anything: quoted
// escaped, they never break the log line a message lands in.
const locationText = ({ platform, tenantId, column }: TokenLocation): string =>
  `the stored ${column} of (${quoteForLog(platform)}, ${quoteForLog(tenantId)})`;

/**
 * A stored token failed authenticated decryption: it was altered, or copied from another row or
 * column (its associated data binds it to table, `platform`, `tenantId` and column). Nothing is
 * returned in its place, so a moved ciphertext never hands out another tenant's token.
 */
export class TokenIntegrityError extends Error {
  override readonly name = 'TokenIntegrityError';

  constructor(
    /** The row and column whose value failed the check. */
    readonly location: TokenLocation,
    reason: string,
  ) {
    super(
      `Integrity check failed for ${locationText(location)}: ${reason}. It was altered or copied from another row or column; store a fresh token with upsert.`,
    );
  }
}

/**
 * A stored token is sealed under a key id that `OAUTH_STATE_ENCRYPTION_KEYS` does not list (or no
 * keys are configured at all). Add that key back to the ring (after the active key) to read it.
 */
export class UnknownTokenKeyError extends Error {
  override readonly name = 'UnknownTokenKeyError';

  constructor(
    /** The row and column whose value could not be opened. */
    readonly location: TokenLocation,
    /** The key id the value is sealed under. */
    readonly keyId: string,
  ) {
    super(
      `Cannot decrypt ${locationText(location)}: it is sealed with key id ${quoteForLog(keyId)}, which OAUTH_STATE_ENCRYPTION_KEYS does not list. Add that key to the ring to read it.`,
    );
  }
}
