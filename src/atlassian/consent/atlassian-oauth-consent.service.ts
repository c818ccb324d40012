import { createHash, createHmac } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { describeStateKey } from '../atlassian-oauth-state.types';
import { AtlassianOauthClient } from '../client/atlassian-oauth-client';
import {
  AtlassianOauthClientConfigError,
  AtlassianOauthGrantRevokedError,
  AtlassianOauthTokenEndpointError,
} from '../client/atlassian-oauth-client.errors';
import { AtlassianOauthTokenService } from '../tokens/atlassian-oauth-token.service';
import { AtlassianSiteRepo } from '../api/atlassian-site.repo';
import { AtlassianSitesEndpointError } from '../api/atlassian-sites.errors';
import { AtlassianOauthConsentStateRepo, randomSecret } from './atlassian-oauth-consent-state.repo';
import {
  AtlassianOauthConsentOptions,
  CONSENT_OPTIONS,
  CONSENT_TTL_MS,
  START_LINK_TTL_MS,
} from './atlassian-oauth-consent.options';
import { ConsentRefusal } from './consent-refusal-page';
import { validateConsentRequest } from './atlassian-oauth-consent.validation';

/** The query Atlassian's redirect brings back to the callback (RFC 6749 sections 4.1.2 and 4.1.2.1). */
export interface ConsentCallbackQuery {
  readonly code?: unknown;
  readonly state?: unknown;
  readonly error?: unknown;
}

/**
 * Why a consent ended without a connection, as `reason` in the redirect back: a fixed word, never
 * anything Atlassian or the browser sent.
 * - `access_denied`: the customer declined on Atlassian's consent page.
 * - `authorization_failed`: Atlassian's redirect carried another error, or no code.
 * - `invalid_grant`: the token endpoint refused the code (expired, used, or for another redirect URI).
 * - `token_endpoint_unavailable`: it did not answer properly (timeout, 429, 5xx, a malformed answer).
 * - `client_misconfigured`: it refused our client id or secret.
 * - `sites_unavailable`: the tokens are stored, but Atlassian's `accessible-resources` did not answer
 *   properly, so which sites the grant reaches is unknown (`AtlassianSitesService.refreshSites` retries).
 * - `no_site`: the tokens are stored, but the grant reaches no site of the platform: nothing can be
 *   called with it (the customer consented for a site without the product, or for none).
 * - `internal_error`: storing the tokens failed.
 */
export type ConsentFailureReason =
  | 'access_denied'
  | 'authorization_failed'
  | 'invalid_grant'
  | 'token_endpoint_unavailable'
  | 'client_misconfigured'
  | 'sites_unavailable'
  | 'no_site'
  | 'internal_error';

/** What `POST /atlassian/authorizations` answers: the start link for the customer's browser. */
export interface ConsentStart {
  /** `AGENT_CORE_PUBLIC_URL` + `/atlassian/authorize?flow=...`: single use, valid until {@link expiresAt}. */
  readonly url: URL;
  readonly expiresAt: Date;
}

/** The cookie that binds a consent to the browser that opened its start link. */
export interface ConsentCookie {
  readonly name: string;
  /** The browser secret (256 bits, base64url); empty when the cookie is being cleared. */
  readonly value: string;
  /** Seconds it lives; 0 clears it. */
  readonly maxAgeSeconds: number;
}

/** How opening a start link ends: to Atlassian with the cookie set, or a refusal. */
export type ConsentOpenOutcome =
  { readonly redirectTo: string; readonly cookie: ConsentCookie } | { readonly refused: 'unknown' | 'expired' };

/** How a callback ends: where to send the browser (its consent cookie cleared), or a refusal. */
export type ConsentCallbackOutcome =
  { readonly redirectTo: string; readonly cookie: ConsentCookie } | { readonly refused: ConsentRefusal };

/** The consent cookie's name for `state`: one per consent, so two consents in two tabs do not overwrite each other. */
export function consentCookieName(state: string): string {
  return `agent_core_consent_${createHash('sha256').update(`cookie-name\0${state}`).digest('hex').slice(0, 16)}`;
}

/**
 * The PKCE verifier of the consent whose browser holds `browserSecret` (RFC 7636 section 4.1: 43
 * base64url characters): derived from the cookie, so nothing more is stored and only that browser
 * can finish the exchange.
 */
export function pkceVerifier(browserSecret: string): string {
  return createHmac('sha256', browserSecret).update('agent-core consent PKCE code_verifier').digest('base64url');
}

/** The S256 challenge of a PKCE verifier (RFC 7636 section 4.2). */
export function pkceChallenge(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

/**
 * The Atlassian 3LO consent flow (authorization code grant), bound to the customer's browser:
 * starts a consent for an internal caller, sends the first browser that opens its start link to
 * Atlassian with a cookie, and finishes the consent only when that browser comes back.
 *
 * Nothing secret ever leaves it: neither the code, nor a token, nor the flow, the state or the
 * cookie appears in a URL it builds (other than the start link's own `flow` and the authorization
 * URL's own `state`) or in a log line.
 */
@Injectable()
export class AtlassianOauthConsentService {
  private readonly logger = new Logger(AtlassianOauthConsentService.name);

  constructor(
    @Inject(CONSENT_OPTIONS) private readonly options: AtlassianOauthConsentOptions,
    private readonly consents: AtlassianOauthConsentStateRepo,
    private readonly client: AtlassianOauthClient,
    private readonly tokens: AtlassianOauthTokenService,
    private readonly sites: AtlassianSiteRepo,
  ) {}

  /**
   * Starts a consent: stores it for the tenant and returns its start link, single use, valid for 5
   * minutes, for the internal caller to send its user's browser to.
   *
   * @throws AtlassianOauthStateValidationError naming the bad field of `body` (including a
   *   `returnTo` that is not on the allow-list), before anything is stored.
   */
  async start(body: unknown): Promise<ConsentStart> {
    const request = validateConsentRequest(body, this.options.returnUrls);
    const expiresAt = new Date(Date.now() + START_LINK_TTL_MS);
    const flow = await this.consents.create(
      { platform: request.platform, tenantId: request.tenantId, returnTo: request.returnTo, scopes: request.scopes },
      expiresAt,
    );
    const url = new URL(this.options.startUrl);
    url.searchParams.set('flow', flow);
    this.logger.log(`Consent started for ${describeStateKey(request.platform, request.tenantId)}`);
    return { url, expiresAt };
  }

  /**
   * Opens a start link: binds its consent to this browser (a fresh secret for its cookie, 10
   * minutes), once, and returns the Atlassian authorization URL with a fresh state (and the PKCE
   * challenge derived from the cookie, with `ATLASSIAN_OAUTH_PKCE`).
   *
   * @returns the redirect and the cookie to set, or `refused` when the flow is unknown, was
   *   already opened (by this browser or another) or expired.
   */
  async open(flow: unknown): Promise<ConsentOpenOutcome> {
    const browserSecret = randomSecret();
    const binding =
      typeof flow === 'string'
        ? await this.consents.bind(flow, browserSecret, new Date(Date.now() + CONSENT_TTL_MS))
        : undefined;
    if (binding?.outcome !== 'bound') {
      const refused = binding?.outcome === 'expired' ? 'expired' : 'unknown';
      this.logger.warn(
        `Consent start link refused: ${refused === 'expired' ? 'expired' : 'unknown, already opened or missing'} flow`,
      );
      return { refused };
    }
    const { state, consent } = binding;
    const url = this.client.authorizationUrl({
      state,
      redirectUri: this.options.redirectUri,
      scopes: consent.scopes,
      ...(this.options.pkce ? { codeChallenge: pkceChallenge(pkceVerifier(browserSecret)) } : {}),
    });
    this.logger.log(`Consent for ${describeStateKey(consent.platform, consent.tenantId)} opened in a browser`);
    return {
      redirectTo: url.href,
      cookie: { name: consentCookieName(state), value: browserSecret, maxAgeSeconds: CONSENT_TTL_MS / 1000 },
    };
  }

  /**
   * Finishes a consent from Atlassian's redirect, in the browser that opened its start link: the
   * state is consumed first, whatever else the query says, so it can never be used twice. Then: a
   * declined consent or another authorization error redirects with `status=error`; a code is
   * exchanged (with the PKCE verifier, with `ATLASSIAN_OAUTH_PKCE`) and stored through
   * `AtlassianOauthTokenService.connect` (replacing any earlier state of the tenant, and with it a
   * revoked grant or cooldown recorded for it) and redirects with `status=connected` when the grant
   * reaches at least one site of the platform, or with `status=error` when the exchange fails or
   * (`reason=no_site`, the tokens stored) the grant reaches no site: "connected" means usable.
   *
   * @param cookies the browser's cookies, by name.
   * @returns where to redirect the browser (and the cookie to clear), or `refused` when the state
   *   is unknown, already used, expired or missing (`unknown`, `expired`), or when this browser
   *   does not hold the consent's cookie (`other-browser`: the consent stays for the browser that
   *   does): then nothing was exchanged or stored.
   */
  async complete(
    query: ConsentCallbackQuery,
    cookies: Readonly<Record<string, string>>,
  ): Promise<ConsentCallbackOutcome> {
    const state = typeof query.state === 'string' ? query.state : undefined;
    const cookieName = state === undefined ? undefined : consentCookieName(state);
    const browserSecret = cookieName === undefined ? undefined : cookies[cookieName];
    const consumed = state === undefined ? undefined : await this.consents.consume(state, browserSecret);
    if (consumed?.outcome !== 'consumed') {
      const refused =
        consumed?.outcome === 'expired' || consumed?.outcome === 'other-browser' ? consumed.outcome : 'unknown';
      this.logger.warn(`Consent callback refused: ${REFUSAL_LOG[refused]}`);
      return { refused };
    }
    const { platform, tenantId, returnTo } = consumed.consent;
    const cookie: ConsentCookie = { name: consentCookieName(state!), value: '', maxAgeSeconds: 0 };
    const back = (status: 'connected' | 'error', reason?: ConsentFailureReason): ConsentCallbackOutcome => {
      const url = new URL(returnTo);
      url.searchParams.set('status', status);
      if (reason) {
        url.searchParams.set('reason', reason);
      }
      return { redirectTo: url.href, cookie };
    };
    if (query.error !== undefined || typeof query.code !== 'string' || query.code === '') {
      const reason = query.error === 'access_denied' ? 'access_denied' : 'authorization_failed';
      this.logger.warn(`Consent for ${describeStateKey(platform, tenantId)} not given: ${reason}`);
      return back('error', reason);
    }
    let sites: number;
    try {
      await this.tokens.connect(
        platform,
        tenantId,
        query.code,
        this.options.redirectUri,
        this.options.pkce ? pkceVerifier(browserSecret!) : undefined,
      );
      sites = (await this.sites.list(platform, tenantId)).length;
    } catch (error) {
      const reason = failureReason(error);
      this.logger.warn(
        `Consent for ${describeStateKey(platform, tenantId)} failed: ${reason} (${error instanceof Error ? error.name : 'error'})`,
      );
      return back('error', reason);
    }
    if (sites === 0) {
      this.logger.warn(
        `Consent for ${describeStateKey(platform, tenantId)} stored, but the grant reaches no ${platform} site: no_site`,
      );
      return back('error', 'no_site');
    }
    this.logger.log(`Consent for ${describeStateKey(platform, tenantId)} connected`);
    return back('connected');
  }
}

const REFUSAL_LOG: Record<ConsentRefusal, string> = {
  unknown: 'unknown, reused or missing state',
  expired: 'expired state',
  'other-browser': 'the browser does not hold the consent cookie of the one that started it',
};

function failureReason(error: unknown): ConsentFailureReason {
  if (error instanceof AtlassianOauthGrantRevokedError) {
    return 'invalid_grant';
  }
  if (error instanceof AtlassianOauthTokenEndpointError) {
    return 'token_endpoint_unavailable';
  }
  if (error instanceof AtlassianOauthClientConfigError) {
    return 'client_misconfigured';
  }
  if (error instanceof AtlassianSitesEndpointError) {
    return 'sites_unavailable';
  }
  return 'internal_error';
}
