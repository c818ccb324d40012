import type { AtlassianOauthStateEntity } from '../database/entities';

/**
 * Bad input to {@link AtlassianOauthStateRepo}: thrown before anything is written, so the stored
 * state stays as it was. The message names the field and what it must be; it never contains the
 * value, which may be a token.
 */
export class AtlassianOauthStateValidationError extends Error {
  override readonly name = 'AtlassianOauthStateValidationError';

  constructor(
    /** The offending field: `platform`, `tenantId`, `tokens`, `accessToken`, `refreshToken` or `expiresAt`. */
    readonly field: string,
    requirement: string,
  ) {
    super(`Invalid Atlassian OAuth state: ${field} ${requirement}.`);
  }
}

/**
 * A conditional `upsert` found a different state than the caller expected, and wrote nothing.
 *
 * Another writer rotated the token first (or, for `expectedRefreshToken: null`, the key was
 * already connected). Use {@link current}, the state that won, instead of refreshing again: the
 * refresh token the caller holds has been rotated past.
 */
export class AtlassianOauthStateConflictError extends Error {
  override readonly name = 'AtlassianOauthStateConflictError';

  constructor(
    readonly platform: string,
    readonly tenantId: string,
    /** The stored state that won, or `null` when nothing is stored. */
    readonly current: AtlassianOauthStateEntity | null,
  ) {
    super(
      `Atlassian OAuth state of (${platform}, ${tenantId}) is not the expected one: ` +
        (current ? 'another writer stored a newer refresh token' : 'nothing is stored') +
        '. Nothing was written; use error.current instead of refreshing again.',
    );
  }
}
