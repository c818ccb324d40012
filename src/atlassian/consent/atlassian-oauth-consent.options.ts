import { HttpConfig, HttpConfigError } from '../../config/http.config';

/** What the consent flow needs, checked at boot by {@link consentOptions}. */
export interface AtlassianOauthConsentOptions {
  /** The bearer token of internal callers (never logged). */
  readonly internalToken: string;
  /** Allowed `returnTo` values as origin plus path. */
  readonly returnUrls: readonly string[];
  /** The redirect URI registered with Atlassian: `AGENT_CORE_PUBLIC_URL` + `/atlassian/callback`. */
  readonly redirectUri: string;
}

/** Injection token of {@link AtlassianOauthConsentOptions}. */
export const CONSENT_OPTIONS = Symbol('AtlassianOauthConsentOptions');

/** How long a consent may take from `POST /atlassian/authorizations` to the callback. */
export const CONSENT_TTL_MS = 10 * 60_000;

/** The callback's path below `AGENT_CORE_PUBLIC_URL`. */
export const CALLBACK_PATH = 'atlassian/callback';

/**
 * The consent flow's options from the `http` configuration, for a service that serves the flow.
 *
 * @throws HttpConfigError naming `AGENT_CORE_INTERNAL_TOKEN`, `AGENT_CORE_PUBLIC_URL` or
 *   `AGENT_CORE_RETURN_URLS` when one is missing: without them no consent can start or finish.
 */
export function consentOptions(http: HttpConfig): AtlassianOauthConsentOptions {
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
  return {
    internalToken: http.internalToken,
    returnUrls: http.returnUrls,
    redirectUri: new URL(CALLBACK_PATH, base).href,
  };
}
