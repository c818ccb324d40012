import * as oauth from 'oauth4webapi';
import { DEFAULT_MAX_RESPONSE_BYTES, ResponseTooLargeError, cappedResponse } from '../../common/capped-response';
import { AtlassianOauthTokens } from '../atlassian-oauth-state.types';
import { AtlassianOauthStateValidationError } from '../atlassian-oauth-state.errors';
import { validateScopes } from '../atlassian-oauth-state.validation';
import {
  AtlassianOauthClientConfigError,
  AtlassianOauthGrantRevokedError,
  AtlassianOauthGrantType,
  AtlassianOauthTokenEndpointError,
} from './atlassian-oauth-client.errors';
import { AtlassianOauthClientOptions } from './atlassian-oauth-client.options';

/** The `audience` of every Atlassian 3LO consent: the Atlassian cloud REST APIs. */
export const ATLASSIAN_API_AUDIENCE = 'api.atlassian.com';

/** What {@link AtlassianOauthClient} resolves with: a whole state, ready for `upsert`. */
export interface AtlassianOauthIssuedTokens extends AtlassianOauthTokens {
  accessToken: string;
  refreshToken: string;
  expiresAt: Date;
}

/** Input of {@link AtlassianOauthClient.authorizationUrl}. */
export interface AtlassianOauthAuthorizationRequest {
  /** Opaque, unguessable, bound to the user's session: checked again on the callback (CSRF). */
  state: string;
  /** Where Atlassian sends the user back with `code` and `state`; must be registered for the app. */
  redirectUri: string;
  /** Scopes to ask for, e.g. `read:jira-work`; `offline_access` is added when missing. */
  scopes: readonly string[];
  /** A PKCE S256 code challenge (RFC 7636 section 4.2), when the flow uses PKCE. */
  codeChallenge?: string;
}

/** RFC 6749 section 5.2's error codes: the only part of an error body a message may repeat. */
const OAUTH_ERROR_CODES = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'access_denied',
  'temporarily_unavailable',
  'server_error',
]);

/**
 * Atlassian's OAuth 2.0 (3LO) token endpoint, for a confidential client: the consent URL, the code
 * exchange and the refresh. It keeps no state and stores nothing: the token service stores what it
 * returns.
 *
 * Requests are form-encoded with `client_id` and `client_secret` in the body (RFC 6749 sections
 * 4.1.3, 6 and 2.3.1, `client_secret_post`, as Atlassian documents), built and checked by
 * `oauth4webapi`; every request is aborted after the configured timeout (10 s by default, well
 * under the rotation lease). An answer larger than 256 KiB is refused as it arrives (a token
 * response is a few KiB), so a hostile or broken endpoint cannot fill the memory. Answers are
 * validated strictly: `access_token` and `refresh_token`
 * non-empty strings, `expires_in` a positive number, `token_type` Bearer.
 *
 * Provided by `AtlassianOauthClientModule`, which refuses to boot without
 * `ATLASSIAN_CLIENT_ID` and `ATLASSIAN_CLIENT_SECRET`.
 */
export class AtlassianOauthClient {
  private readonly server: oauth.AuthorizationServer;
  private readonly client: oauth.Client;
  private readonly authentication: oauth.ClientAuth;
  private readonly allowHttp: boolean;

  constructor(private readonly options: AtlassianOauthClientOptions) {
    this.server = { issuer: options.tokenUrl.origin, token_endpoint: options.tokenUrl.href };
    this.client = { client_id: options.clientId, token_endpoint_auth_method: 'client_secret_post' };
    this.authentication = oauth.ClientSecretPost(options.clientSecret);
    // The options only allow http for loopback hosts (tests, a local proxy).
    this.allowHttp = options.tokenUrl.protocol === 'http:';
  }

  /**
   * The URL to send a user to for consent, as Atlassian's 3LO docs describe it:
   * `audience=api.atlassian.com`, `client_id`, `scope` (space separated, `offline_access` added
   * so that a refresh token is issued), `redirect_uri`, `state`, `response_type=code`,
   * `prompt=consent`; with a `codeChallenge`, also `code_challenge` and `code_challenge_method=S256`.
   *
   * @throws AtlassianOauthStateValidationError naming `state`, `redirectUri` or `scopes` when one
   *   is empty, not an absolute http(s) URL, or the scopes do not follow Atlassian's syntax (1 to 50
   *   of letters, digits, `:`, `.`, `_`, `-`).
   */
  authorizationUrl(request: AtlassianOauthAuthorizationRequest): URL {
    const { state, redirectUri, scopes, codeChallenge } = request;
    requireNonEmpty(state, 'state');
    requireRedirectUri(redirectUri);
    const scope = [...new Set([...validateScopes(scopes), 'offline_access'])].join(' ');
    const url = new URL(this.options.authorizeUrl.href);
    url.searchParams.set('audience', ATLASSIAN_API_AUDIENCE);
    url.searchParams.set('client_id', this.options.clientId);
    url.searchParams.set('scope', scope);
    url.searchParams.set('redirect_uri', redirectUri);
    url.searchParams.set('state', state);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('prompt', 'consent');
    if (codeChallenge !== undefined) {
      requireNonEmpty(codeChallenge, 'codeChallenge');
      url.searchParams.set('code_challenge', codeChallenge);
      url.searchParams.set('code_challenge_method', 'S256');
    }
    return url;
  }

  /**
   * Exchanges the authorization code of a consent for tokens (RFC 6749 section 4.1.3).
   * `redirectUri` must be the one of the authorization request; `codeVerifier` is sent when the
   * authorization request carried a PKCE challenge (RFC 7636 section 4.5).
   *
   * @throws AtlassianOauthStateValidationError naming `code` or `redirectUri`, before any request.
   * @throws AtlassianOauthGrantRevokedError on `invalid_grant` (the code is unknown, expired, used).
   * @throws AtlassianOauthClientConfigError on `invalid_client` / `unauthorized_client` / 401.
   * @throws AtlassianOauthTokenEndpointError on 429, 5xx, a timeout, a network error, an answer over
   *   256 KiB or an invalid answer.
   */
  async exchangeCode(code: string, redirectUri: string, codeVerifier?: string): Promise<AtlassianOauthIssuedTokens> {
    requireNonEmpty(code, 'code');
    requireRedirectUri(redirectUri);
    if (codeVerifier !== undefined) {
      requireNonEmpty(codeVerifier, 'codeVerifier');
    }
    return this.request('authorization_code', async (signal) => {
      const response = await oauth.genericTokenEndpointRequest(
        this.server,
        this.client,
        this.authentication,
        'authorization_code',
        { code, redirect_uri: redirectUri, ...(codeVerifier === undefined ? {} : { code_verifier: codeVerifier }) },
        { signal, [oauth.allowInsecureRequests]: this.allowHttp },
      );
      return {
        response,
        process: (checked) => oauth.processGenericTokenEndpointResponse(this.server, this.client, checked),
      };
    });
  }

  /**
   * Refreshes (RFC 6749 section 6). Atlassian rotates refresh tokens: the one returned is the only
   * one that works afterwards, so store it before anything else (the token service does).
   *
   * @throws AtlassianOauthStateValidationError naming `refreshToken`, before any request.
   * @throws AtlassianOauthGrantRevokedError on `invalid_grant`: revoked, expired or reused.
   * @throws AtlassianOauthClientConfigError on `invalid_client` / `unauthorized_client` / 401.
   * @throws AtlassianOauthTokenEndpointError on 429, 5xx, a timeout, a network error, an answer over
   *   256 KiB or an invalid answer.
   */
  async refresh(refreshToken: string): Promise<AtlassianOauthIssuedTokens> {
    requireNonEmpty(refreshToken, 'refreshToken');
    return this.request('refresh_token', async (signal) => {
      const response = await oauth.refreshTokenGrantRequest(
        this.server,
        this.client,
        this.authentication,
        refreshToken,
        { signal, [oauth.allowInsecureRequests]: this.allowHttp },
      );
      return { response, process: (checked) => oauth.processRefreshTokenResponse(this.server, this.client, checked) };
    });
  }

  private async request(
    grantType: AtlassianOauthGrantType,
    send: (signal: AbortSignal) => Promise<{
      response: Response;
      process: (response: Response) => Promise<oauth.TokenEndpointResponse>;
    }>,
  ): Promise<AtlassianOauthIssuedTokens> {
    const signal = AbortSignal.timeout(this.options.timeoutMs);
    let sent: Awaited<ReturnType<typeof send>>;
    try {
      sent = await send(signal);
    } catch (error) {
      // fetch rejects with the abort reason on a timeout and with a TypeError ('fetch failed', its
      // cause the socket error) when the connection fails; neither carries the request body.
      if (signal.aborted) {
        throw new AtlassianOauthTokenEndpointError(grantType, 'timeout', null);
      }
      throw new AtlassianOauthTokenEndpointError(grantType, 'network', null, null, null, { cause: error });
    }
    const { response, process } = sent;
    if (response.status === 429 || response.status >= 500) {
      await response.body?.cancel().catch(() => undefined);
      throw new AtlassianOauthTokenEndpointError(
        grantType,
        response.status === 429 ? 'rate-limited' : 'server-error',
        response.status,
        retryAfterMs(response.headers.get('retry-after')),
      );
    }
    let capped: Response;
    try {
      capped = await cappedResponse(response, DEFAULT_MAX_RESPONSE_BYTES);
    } catch (error) {
      if (error instanceof ResponseTooLargeError) {
        throw new AtlassianOauthTokenEndpointError(grantType, 'too-large', response.status);
      }
      if (signal.aborted) {
        throw new AtlassianOauthTokenEndpointError(grantType, 'timeout', response.status);
      }
      throw new AtlassianOauthTokenEndpointError(grantType, 'network', response.status, null, null, { cause: error });
    }
    let answer: oauth.TokenEndpointResponse;
    try {
      answer = await process(capped);
    } catch (error) {
      throw this.failure(grantType, capped, error, signal);
    }
    const { access_token: accessToken, refresh_token: refreshToken, expires_in: expiresIn } = answer;
    if (
      typeof accessToken !== 'string' ||
      accessToken === '' ||
      typeof refreshToken !== 'string' ||
      refreshToken === '' ||
      typeof expiresIn !== 'number' ||
      !Number.isFinite(expiresIn) ||
      expiresIn <= 0
    ) {
      throw new AtlassianOauthTokenEndpointError(grantType, 'invalid-response', response.status);
    }
    return { accessToken, refreshToken, expiresAt: new Date(Date.now() + expiresIn * 1000) };
  }

  /** Maps what oauth4webapi rejected with to our errors, dropping its message and cause: they may quote the body. */
  private failure(grantType: AtlassianOauthGrantType, response: Response, error: unknown, signal: AbortSignal): Error {
    if (signal.aborted) {
      return new AtlassianOauthTokenEndpointError(grantType, 'timeout', response.status);
    }
    if (error instanceof oauth.ResponseBodyError) {
      if (error.error === 'invalid_grant') {
        return new AtlassianOauthGrantRevokedError(grantType);
      }
      if (error.error === 'invalid_client' || error.error === 'unauthorized_client' || error.status === 401) {
        return clientRefused(error.error);
      }
      const code = OAUTH_ERROR_CODES.has(error.error) ? error.error : null;
      return new AtlassianOauthTokenEndpointError(grantType, 'rejected', error.status, null, code);
    }
    if (response.status === 401) {
      return clientRefused(null);
    }
    return new AtlassianOauthTokenEndpointError(
      grantType,
      response.status === 200 ? 'invalid-response' : 'rejected',
      response.status,
    );
  }
}

function clientRefused(oauthError: string | null): AtlassianOauthClientConfigError {
  return new AtlassianOauthClientConfigError(
    `Atlassian refused the client credentials${oauthError && OAUTH_ERROR_CODES.has(oauthError) ? ` (${oauthError})` : ''}: ` +
      'check ATLASSIAN_CLIENT_ID and ATLASSIAN_CLIENT_SECRET against the app in the Atlassian developer console.',
  );
}

/** `Retry-After` as delta-seconds or an HTTP date (RFC 9110 section 10.2.3), in ms from now; `null` if absent or malformed. */
export function retryAfterMs(header: string | null, now = Date.now()): number | null {
  if (header === null) {
    return null;
  }
  const value = header.trim();
  if (/^\d+$/.test(value)) {
    return Number(value) * 1000;
  }
  // An HTTP date always ends in GMT; Date.parse alone would read '-5' or '1.5' as dates.
  const date = /^[A-Za-z]{3},? .+ GMT$/.test(value) ? Date.parse(value) : Number.NaN;
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

function requireNonEmpty(value: unknown, field: string): asserts value is string {
  if (typeof value !== 'string' || value === '') {
    throw new AtlassianOauthStateValidationError(field, 'must be a non-empty string');
  }
}

function requireRedirectUri(value: unknown): asserts value is string {
  requireNonEmpty(value, 'redirectUri');
  let url: URL | null = null;
  try {
    url = new URL(value);
  } catch {
    url = null;
  }
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw new AtlassianOauthStateValidationError('redirectUri', 'must be an absolute http(s) URL');
  }
}
