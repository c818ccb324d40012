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
