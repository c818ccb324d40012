import { validateKey, validateScopes } from '../atlassian-oauth-state.validation';
import { AtlassianOauthStateValidationError } from '../atlassian-oauth-state.errors';

/** The body of `POST /atlassian/authorizations`, checked. */
export interface ConsentRequest {
  readonly platform: string;
  readonly tenantId: string;
  /** Atlassian scopes to ask for; `offline_access` is added by the client when missing. */
  readonly scopes: readonly string[];
  /** Where the browser goes afterwards: on the allow-list, its fragment dropped. */
  readonly returnTo: string;
}

/** Longest `returnTo` accepted: browsers and proxies handle URLs up to about 2 KB everywhere. */
export const MAX_RETURN_TO_LENGTH = 2048;

/**
 * Checks a consent request as the store checks its input, naming the first bad field.
 *
 * `returnTo` must be an absolute http(s) URL whose origin and path are exactly one of
 * `allowedReturnUrls` (see `originAndPath`): an open redirect would let anyone use this service to
 * send a customer, fresh from Atlassian's consent page, to a page of their choosing. Its query is
 * kept (the caller's own parameters), its fragment dropped.
 *
 * @throws AtlassianOauthStateValidationError naming `body`, `platform`, `tenantId`, `scopes` or `returnTo`.
 */
export function validateConsentRequest(body: unknown, allowedReturnUrls: readonly string[]): ConsentRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new AtlassianOauthStateValidationError(
      'body',
      'must be a JSON object with platform, tenantId, scopes and returnTo',
    );
  }
  const { platform, tenantId, scopes, returnTo } = body as Record<string, unknown>;
  const key = validateKey(platform, tenantId);
  return {
    ...key,
    scopes: validateScopes(scopes),
    returnTo: validateReturnTo(returnTo, allowedReturnUrls),
  };
}

function validateReturnTo(returnTo: unknown, allowedReturnUrls: readonly string[]): string {
  if (typeof returnTo !== 'string' || returnTo.length > MAX_RETURN_TO_LENGTH) {
    throw new AtlassianOauthStateValidationError(
      'returnTo',
      `must be a URL of at most ${MAX_RETURN_TO_LENGTH} characters`,
    );
  }
  let url: URL;
  try {
    url = new URL(returnTo);
  } catch {
    throw new AtlassianOauthStateValidationError('returnTo', 'must be an absolute URL');
  }
  if (!allowedReturnUrls.includes(`${url.origin}${url.pathname}`) || url.username !== '' || url.password !== '') {
    throw new AtlassianOauthStateValidationError(
      'returnTo',
      'must be one of the URLs this service may send the browser back to (AGENT_CORE_RETURN_URLS, compared by origin and path)',
    );
  }
  url.hash = '';
  return url.href;
}
