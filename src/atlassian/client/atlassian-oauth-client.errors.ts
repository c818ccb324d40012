import { AtlassianOauthStateKey, describeStateKey } from '../atlassian-oauth-state.types';

/**
 * The errors of {@link AtlassianOauthClient}. None of them carries a token, an authorization code,
 * the client secret or the token endpoint's response body: not in the message, not in a property.
 */

/** Which call reached the token endpoint: the code exchange of a consent, or a refresh. */
export type AtlassianOauthGrantType = 'authorization_code' | 'refresh_token';

/**
 * Atlassian answered `invalid_grant`: the refresh token (or authorization code) is dead. For a
 * refresh this means the customer revoked the app's access, the refresh token expired (90 days
 * unused, 365 days absolute), or a rotated-past refresh token was reused and Atlassian revoked the
 * grant. Retrying cannot help: the customer has to connect again.
 */
export class AtlassianOauthGrantRevokedError extends Error {
  override readonly name = 'AtlassianOauthGrantRevokedError';

  constructor(
    readonly grantType: AtlassianOauthGrantType,
    /** The `(platform, tenantId)` whose grant is dead, when the caller knows it. */
    readonly key?: AtlassianOauthStateKey,
  ) {
    super(
      grantType === 'refresh_token'
        ? `Atlassian refused the refresh token${describeKey(key)} (invalid_grant): the grant was revoked or the refresh token ` +
            'expired. Retrying cannot help; the customer has to connect again.'
        : `Atlassian refused the authorization code${describeKey(key)} (invalid_grant): it is unknown, expired, already used, ` +
            'or was issued for another redirect_uri. Start the consent again.',
    );
  }
}

/** Why the token endpoint gave no usable answer. */
export type AtlassianOauthTokenEndpointFailure =
  /** 429 Too Many Requests. */
  | 'rate-limited'
  /** A 5xx status. */
  | 'server-error'
  /** No complete answer within the client's timeout. */
  | 'timeout'
  /** The connection failed (DNS, refused, reset). */
  | 'network'
  /** An answer larger than the client reads (256 KiB): refused as it arrived, never parsed. */
  | 'too-large'
  /** A 200 whose body is not a valid token response (not JSON, a field missing or of the wrong type). */
  | 'invalid-response'
  /** An OAuth error other than `invalid_grant`, `invalid_client` and `unauthorized_client`, or an unexpected status. */
  | 'rejected';

/**
 * The token endpoint could not be used this time: a 429, a 5xx, a timeout, a network error, an
 * answer that is not a valid token response, or an OAuth error that is neither a dead grant nor
 * bad client credentials. Nothing was stored; a later call may succeed. `retryAfterMs` is the
 * server's `Retry-After`, when it sent one.
 */
export class AtlassianOauthTokenEndpointError extends Error {
  override readonly name = 'AtlassianOauthTokenEndpointError';

  constructor(
    readonly grantType: AtlassianOauthGrantType,
    readonly failure: AtlassianOauthTokenEndpointFailure,
    /** The HTTP status, or `null` when no answer came (timeout, network). */
    readonly status: number | null,
    /** From the answer's `Retry-After` header (seconds or an HTTP date), or `null` without one. */
    readonly retryAfterMs: number | null = null,
    /** The OAuth `error` code of a `rejected` answer, when it is one of RFC 6749's codes. */
    readonly oauthError: string | null = null,
    options?: ErrorOptions,
  ) {
    super(
      `Atlassian's token endpoint gave no usable answer to the ${grantType} request: ${describeFailure(failure, status, oauthError)}` +
        (retryAfterMs === null ? '' : `; it asks to retry after ${retryAfterMs} ms`) +
        '. Nothing was stored; try again later.',
      options,
    );
  }
}

// Thrown while the configuration loads, at boot, and when Atlassian refuses the credentials;
// defined in config/ with every other configuration error.
export { AtlassianOauthClientConfigError } from '../../config/config.errors';

function describeKey(key: AtlassianOauthStateKey | undefined): string {
  return key ? ` of ${describeStateKey(key.platform, key.tenantId)}` : '';
}

function describeFailure(
  failure: AtlassianOauthTokenEndpointFailure,
  status: number | null,
  oauthError: string | null,
): string {
  switch (failure) {
    case 'rate-limited':
      return 'rate limited (HTTP 429)';
    case 'server-error':
      return `server error (HTTP ${status ?? '?'})`;
    case 'timeout':
      return 'no answer within the timeout';
    case 'network':
      return 'the connection failed';
    case 'too-large':
      return `the answer (HTTP ${status ?? '?'}) is larger than 256 KiB`;
    case 'invalid-response':
      return `the answer (HTTP ${status ?? '?'}) is not a valid token response`;
    case 'rejected':
      return `the request was rejected (HTTP ${status ?? '?'}${oauthError ? `, ${oauthError}` : ''})`;
  }
}
