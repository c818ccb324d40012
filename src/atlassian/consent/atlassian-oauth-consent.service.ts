import { Inject, Injectable, Logger } from '@nestjs/common';
import { describeStateKey } from '../atlassian-oauth-state.types';
import { AtlassianOauthClient } from '../client/atlassian-oauth-client';
import {
  AtlassianOauthClientConfigError,
  AtlassianOauthGrantRevokedError,
  AtlassianOauthTokenEndpointError,
} from '../client/atlassian-oauth-client.errors';
import { AtlassianOauthTokenService } from '../tokens/atlassian-oauth-token.service';
import { AtlassianOauthConsentStateRepo } from './atlassian-oauth-consent-state.repo';
import { AtlassianOauthConsentOptions, CONSENT_OPTIONS, CONSENT_TTL_MS } from './atlassian-oauth-consent.options';
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
 * - `internal_error`: storing the tokens failed.
 */
export type ConsentFailureReason =
  | 'access_denied'
  | 'authorization_failed'
  | 'invalid_grant'
  | 'token_endpoint_unavailable'
  | 'client_misconfigured'
  | 'internal_error';

/** How a callback ends: where to send the browser, or a refusal when its `state` is not a live one. */
export type ConsentCallbackOutcome = { readonly redirectTo: string } | { readonly refused: 'unknown' | 'expired' };

/**
 * The Atlassian 3LO consent flow (authorization code grant): starts a consent for an internal
 * caller, and finishes it when the customer's browser comes back.
 *
 * Nothing secret ever leaves it: neither the code, nor a token, nor the state appears in a URL it
 * builds (other than the authorization URL's own `state`) or in a log line.
 */
@Injectable()
export class AtlassianOauthConsentService {
  private readonly logger = new Logger(AtlassianOauthConsentService.name);

  constructor(
    @Inject(CONSENT_OPTIONS) private readonly options: AtlassianOauthConsentOptions,
    private readonly consents: AtlassianOauthConsentStateRepo,
    private readonly client: AtlassianOauthClient,
    private readonly tokens: AtlassianOauthTokenService,
  ) {}

  /**
   * Starts a consent: stores a fresh single-use state for the tenant (10 minutes) and returns the
   * Atlassian authorization URL that carries it.
   *
   * @throws AtlassianOauthStateValidationError naming the bad field of `body` (including a
   *   `returnTo` that is not on the allow-list), before anything is stored.
   */
  async start(body: unknown): Promise<URL> {
    const request = validateConsentRequest(body, this.options.returnUrls);
    const state = await this.consents.create(
      { platform: request.platform, tenantId: request.tenantId, returnTo: request.returnTo },
      new Date(Date.now() + CONSENT_TTL_MS),
    );
    const url = this.client.authorizationUrl({ state, redirectUri: this.options.redirectUri, scopes: request.scopes });
    this.logger.log(`Consent started for ${describeStateKey(request.platform, request.tenantId)}`);
    return url;
  }

  /**
   * Finishes a consent from Atlassian's redirect. The state is consumed first, whatever else the
   * query says, so it can never be used twice. Then: a declined consent or another authorization
   * error redirects with `status=error`; a code is exchanged and stored through
   * `AtlassianOauthTokenService.connect` (replacing any earlier state of the tenant, and with it a
   * revoked grant or cooldown recorded for it) and redirects with `status=connected`, or with
   * `status=error` when the exchange fails.
   *
   * @returns where to redirect the browser, or `refused` when the state is unknown, already used,
   *   expired or missing: then nothing was exchanged or stored.
   */
  async complete(query: ConsentCallbackQuery): Promise<ConsentCallbackOutcome> {
    const consumed = typeof query.state === 'string' ? await this.consents.consume(query.state) : undefined;
    if (consumed?.outcome !== 'consumed') {
      const refused = consumed?.outcome === 'expired' ? 'expired' : 'unknown';
      this.logger.warn(
        `Consent callback refused: ${refused === 'expired' ? 'expired' : 'unknown, reused or missing'} state`,
      );
      return { refused };
    }
    const { platform, tenantId, returnTo } = consumed.consent;
    const back = (status: 'connected' | 'error', reason?: ConsentFailureReason): { redirectTo: string } => {
      const url = new URL(returnTo);
      url.searchParams.set('status', status);
      if (reason) {
        url.searchParams.set('reason', reason);
      }
      return { redirectTo: url.href };
    };
    if (query.error !== undefined || typeof query.code !== 'string' || query.code === '') {
      const reason = query.error === 'access_denied' ? 'access_denied' : 'authorization_failed';
      this.logger.warn(`Consent for ${describeStateKey(platform, tenantId)} not given: ${reason}`);
      return back('error', reason);
    }
    try {
      await this.tokens.connect(platform, tenantId, query.code, this.options.redirectUri);
    } catch (error) {
      const reason = failureReason(error);
      this.logger.warn(
        `Consent for ${describeStateKey(platform, tenantId)} failed: ${reason} (${error instanceof Error ? error.name : 'error'})`,
      );
      return back('error', reason);
    }
    this.logger.log(`Consent for ${describeStateKey(platform, tenantId)} connected`);
    return back('connected');
  }
}

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
  return 'internal_error';
}
