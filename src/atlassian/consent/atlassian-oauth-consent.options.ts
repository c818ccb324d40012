import { AtlassianConfig } from '../../config/atlassian.config';
import { HttpConfig, HttpConfigError } from '../../config/http.config';

/** What the consent flow needs, checked at boot by {@link consentOptions}. */
export interface AtlassianOauthConsentOptions {
  /** The bearer token of internal callers (never logged). */
  readonly internalToken: string;
  /** Allowed `returnTo` values as origin plus path. */
  readonly returnUrls: readonly string[];
  /** The start link's URL without its query: `AGENT_CORE_PUBLIC_URL` + `/atlassian/authorize`. */
  readonly startUrl: string;
  /** The redirect URI registered with Atlassian: `AGENT_CORE_PUBLIC_URL` + `/atlassian/callback`. */
  readonly redirectUri: string;
  /** The consent cookie's `Path`: the redirect URI's path, so the browser sends it to the callback only. */
  readonly cookiePath: string;
  /** Whether the consent cookie is `Secure`: always, except for a public URL of http on a loopback host. */
  readonly secureCookie: boolean;
  /** `ATLASSIAN_OAUTH_PKCE`: send a PKCE S256 challenge and verifier. */
  readonly pkce: boolean;
}

/** Injection token of {@link AtlassianOauthConsentOptions}. */
export const CONSENT_OPTIONS = Symbol('AtlassianOauthConsentOptions');

/** How long a start link may wait for a browser: the internal caller redirects its user at once. */
export const START_LINK_TTL_MS = 5 * 60_000;

/** How long a consent may take from the browser opening the start link to the callback. */
export const CONSENT_TTL_MS = 10 * 60_000;

/** The start link's path below `AGENT_CORE_PUBLIC_URL`. */
export const AUTHORIZE_PATH = 'atlassian/authorize';

/** The callback's path below `AGENT_CORE_PUBLIC_URL`. */
export const CALLBACK_PATH = 'atlassian/callback';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/**
 * The consent flow's options from the `http` and `atlassian` configuration, for a service that
 * serves the flow.
 *
 * @throws HttpConfigError naming `AGENT_CORE_INTERNAL_TOKEN`, `AGENT_CORE_PUBLIC_URL` or
 *   `AGENT_CORE_RETURN_URLS` when one is missing: without them no consent can start or finish.
 */
export function consentOptions(
  http: HttpConfig,
  atlassian: Pick<AtlassianConfig, 'pkce'>,
): AtlassianOauthConsentOptions {
  if (!http.internalToken) {
    throw new HttpConfigError(
      'AGENT_CORE_INTERNAL_TOKEN is not set: the consent flow needs it to admit internal callers',
    );
  }
  if (!http.publicUrl) {
    throw new HttpConfigError(
      'AGENT_CORE_PUBLIC_URL is not set: the consent flow needs it to build the redirect URI registered with Atlassian',
    );
  }
  if (http.returnUrls.length === 0) {
    throw new HttpConfigError(
      'AGENT_CORE_RETURN_URLS is not set: the consent flow needs the URLs it may send the browser back to',
    );
  }
  // A public URL below a path (behind an ingress at /agent-core/) keeps that path.
  const base = http.publicUrl.href.endsWith('/') ? http.publicUrl.href : `${http.publicUrl.href}/`;
  const redirectUri = new URL(CALLBACK_PATH, base);
  return {
    internalToken: http.internalToken,
    returnUrls: http.returnUrls,
    startUrl: new URL(AUTHORIZE_PATH, base).href,
    redirectUri: redirectUri.href,
    cookiePath: redirectUri.pathname,
    secureCookie: !(http.publicUrl.protocol === 'http:' && LOOPBACK_HOSTS.has(http.publicUrl.hostname)),
    pkce: atlassian.pkce,
  };
}
