import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnModuleDestroy,
  Optional,
} from '@nestjs/common';
import { ThrottledWarning } from '../../common/throttled-warning';
import { AtlassianOauthRefreshHealthEntity, AtlassianOauthStateEntity } from '../../database/entities';
import { AtlassianOauthRefreshFailedError, AtlassianOauthStateNotFoundError } from '../atlassian-oauth-state.errors';
import { AtlassianOauthStateValidationError } from '../atlassian-oauth-state.errors';
import { AtlassianOauthStateRepo } from '../atlassian-oauth-state.repo';
import { DEFAULT_MIN_VALIDITY_MS, describeStateKey } from '../atlassian-oauth-state.types';
import { validateKey } from '../atlassian-oauth-state.validation';
import { AtlassianOauthRotationService } from '../rotation/atlassian-oauth-rotation.service';
import { AtlassianOauthClient } from '../client/atlassian-oauth-client';
import { needsRefresh } from '../rotation/grant-refresh';
import { blockedBy, cooldownAfter } from '../rotation/refresh-health.rules';
import {
  AtlassianOauthGrantRevokedError,
  AtlassianOauthTokenEndpointError,
} from '../client/atlassian-oauth-client.errors';
import { AgentCoreMetrics } from '../../metrics/agent-core-metrics';
import { AtlassianOauthEventPublisher } from '../events/atlassian-oauth-event.publisher';
import {
  ATLASSIAN_EVENTS,
  AtlassianGrantConnectedEvent,
  AtlassianRefreshRecoveredEvent,
} from '../events/atlassian-oauth.events';
import { AtlassianOauthRefreshLeaseRepo } from '../atlassian-oauth-refresh-lease.repo';
import { AtlassianOauthStateKey } from '../atlassian-oauth-state.types';
import { AtlassianOauthRefreshHealthRepo } from '../atlassian-oauth-refresh-health.repo';
import { AtlassianSiteSync } from '../api/atlassian-site-sync';
import { AtlassianOauthTokenOptions, LAPSED_LEASE_CHECK_MS } from './atlassian-oauth-token.options';
import { UnsettledRefreshes } from './unsettled-refreshes';

/** Lapsed leases looked at per check: a handful at most in practice (one per holder that died). */
const LAPSED_LEASES_PER_CHECK = 100;

/** The Nest injection token of the {@link AtlassianOauthTokenOptions}. */
export const ATLASSIAN_OAUTH_TOKEN_OPTIONS = Symbol('AtlassianOauthTokenOptions');

/** What {@link AtlassianOauthTokenService.refreshIdle} did with a key. */
export type AtlassianOauthIdleRefreshOutcome = 'refreshed' | 'fresh' | 'revoked';

/** The shortest window of a repeated warning, whatever the cooldown (which may be 0). */
const MIN_WARNING_WINDOW_MS = 1_000;

/** Options of {@link AtlassianOauthTokenService.accessToken}. */
export interface AtlassianOauthAccessTokenOptions {
  /** The access token returned is valid for at least this long (ms, default 60 000). */
  minValidityMs?: number;
  /**
   * The access token Atlassian just refused (a 401, or a dead token behind a 403/404): refresh even
   * though it has not expired, unless the stored access token is already another one (another
   * caller, in any process, replaced it meanwhile): then that one is returned without a refresh.
   * Decided under the refresh lease, so a fleet refused at once refreshes once. The refused token
   * itself is never returned.
   */
  refused?: string;
}

/**
 * A valid Atlassian access token in one call: connects a tenant (code exchange), and hands out
 * access tokens, refreshing them through the single-flight `rotate` with {@link AtlassianOauthClient}.
 *
 * It records how a key's refresh failed in `atlassian_oauth_refresh_health`, so that every
 * process sharing the database stops calling Atlassian for a dead grant, and waits out a cooldown
 * after a transient failure instead of hammering an endpoint that is down or rate limiting.
 */
@Injectable()
export class AtlassianOauthTokenService implements OnApplicationBootstrap, OnModuleDestroy, BeforeApplicationShutdown {
  private readonly logger = new Logger(AtlassianOauthTokenService.name);
  /** "Serving the stored access token" repeats on every call while refreshing fails: once per key and cooldown. */
  private readonly servedWarnings: ThrottledWarning;
  private readonly unsettled: UnsettledRefreshes;
  private lapsedLeaseTimer: NodeJS.Timeout | undefined;
  private lapsedLeaseCheck: Promise<number> | undefined;

  constructor(
    private readonly states: AtlassianOauthStateRepo,
    private readonly rotation: AtlassianOauthRotationService,
    private readonly health: AtlassianOauthRefreshHealthRepo,
    private readonly client: AtlassianOauthClient,
    @Inject(ATLASSIAN_OAUTH_TOKEN_OPTIONS) private readonly options: AtlassianOauthTokenOptions,
    /** Stores the sites of a new grant right after its tokens. */
    private readonly sites: AtlassianSiteSync,
    private readonly leases: AtlassianOauthRefreshLeaseRepo,
    /** The application's metrics when it serves them: refreshes by outcome. */
    @Optional() private readonly metrics?: AgentCoreMetrics,
    /** What the host hears: connected, revoked, refresh failing and recovered (see `ATLASSIAN_EVENTS`). */
    @Optional() private readonly events?: AtlassianOauthEventPublisher,
  ) {
    this.servedWarnings = new ThrottledWarning(this.logger, Math.max(options.refreshCooldownMs, MIN_WARNING_WINDOW_MS));
    this.unsettled = new UnsettledRefreshes(
      (key, since) => this.refreshIdle(key.platform, key.tenantId, since),
      options.refreshCooldownMs,
      this.logger,
      (result) => this.metrics?.unsettledRefresh(result),
      (key) => this.leases.deleteLapsed(key),
    );
  }

  /** Writes the counts of the repeated warnings held back so far. */
  onModuleDestroy(): void {
    this.servedWarnings.endAll();
  }

  /** Starts looking for lapsed leases (every `lapsedLeaseCheckMs`, 30 s by default). */
  onApplicationBootstrap(): void {
    const everyMs = this.options.lapsedLeaseCheckMs ?? LAPSED_LEASE_CHECK_MS;
    if (everyMs > 0) {
      this.lapsedLeaseTimer = setInterval(() => {
        this.lapsedLeaseCheck ??= this.settleLapsedLeases().finally(() => (this.lapsedLeaseCheck = undefined));
      }, everyMs).unref();
    }
  }

  /** Stops the checks and the pending settling refreshes; waits for the ones running, before the database closes. */
  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.lapsedLeaseTimer);
    await this.lapsedLeaseCheck;
    await this.unsettled.close();
  }

  /**
   * Settles every key whose refresh lease lapsed without being given back: its holder died while
   * holding it, perhaps after Atlassian had rotated. Each is refreshed the way an ambiguous refresh
   * is (see {@link UnsettledRefreshes}). A database error ends this check (logged); the next one
   * tries again.
   */
  async settleLapsedLeases(): Promise<number> {
    let lapsed: AtlassianOauthStateKey[];
    try {
      lapsed = await this.leases.findLapsed(LAPSED_LEASES_PER_CHECK);
    } catch (error) {
      this.logger.warn(
        `Could not look for lapsed refresh leases: ${error instanceof Error ? error.name : 'unknown error'}; trying again at the next check`,
      );
      return 0;
    }
    for (const key of lapsed) {
      this.unsettled.add(key, 'lapsed_lease', 0);
    }
    return lapsed.length;
  }

  /** How many keys this process is settling (an ambiguous refresh, or a lapsed lease). */
  get unsettledCount(): number {
    return this.unsettled.size;
  }

  /**
   * Exchanges the authorization code of a consent and stores the tokens for the key, replacing
   * any earlier state (a reconnect). A revoked grant or a cooldown recorded for the key no longer
   * applies afterwards. Right after the tokens, the sites the grant reaches are read from
   * Atlassian's `accessible-resources` and stored (`AtlassianSitesService.sites`): a grant that
   * reaches no site of the platform still resolves, so check `sites` when "connected" must mean usable.
   * `codeVerifier` is the PKCE verifier of a consent that sent a challenge.
   *
   * Emits `atlassian.grant.connected` once the tokens are stored.
   *
   * @returns the stored state.
   * @throws AtlassianOauthStateValidationError for a blank key, `code` or `redirectUri`, before
   *   anything is sent or written.
   * @throws AtlassianOauthGrantRevokedError, AtlassianOauthClientConfigError or
   *   AtlassianOauthTokenEndpointError from the code exchange; nothing is written then.
   * @throws AtlassianSitesEndpointError when the sites could not be read: the tokens are stored
   *   then, the key's earlier sites stay; `AtlassianSitesService.refreshSites` reads them again.
   */
  async connect(
    platform: string,
    tenantId: string,
    code: string,
    redirectUri: string,
    codeVerifier?: string,
  ): Promise<AtlassianOauthStateEntity> {
    validateKey(platform, tenantId); // before the code is spent
    const tokens = await this.client.exchangeCode(code, redirectUri, codeVerifier);
    const stored = await this.states.upsert(platform, tenantId, tokens);
    await this.health.clear(platform, tenantId);
    this.events?.emit(
      ATLASSIAN_EVENTS.grantConnected,
      new AtlassianGrantConnectedEvent(stored.platform, stored.tenantId),
    );
    await this.sites.store(platform, tenantId, tokens.accessToken);
    return stored;
  }

  /**
   * An access token of the key valid for at least `minValidityMs`. Usually one read of the stored
   * state; when it expires sooner, one caller in the whole fleet refreshes (through `rotate`) and
   * the others use its result.
   *
   * - After Atlassian answered `invalid_grant`, rejects at once with
   *   {@link AtlassianOauthGrantRevokedError}, without calling Atlassian, until a new state is
   *   stored for the key by any path (`connect`, `upsert`, the CLI's `put`), whatever the stored
   *   access token's expiry: Atlassian revokes the access token with the refresh token.
   * - After a transient failure (429, 5xx, timeout, network, invalid answer), calls within the
   *   cooldown (`ATLASSIAN_REFRESH_COOLDOWN_MS`, default 30 s, longer if the server's
   *   `Retry-After` says so, at most 15 min) do not call Atlassian: they reject at once with
   *   {@link AtlassianOauthTokenEndpointError}. The first call after it tries again.
   * - While refreshing fails transiently, a stored access token that has not expired yet is
   *   returned anyway (with a warning logged once per key and cooldown, then the number of
   *   repeats): it may still serve calls a short outage would otherwise stop.
   *
   * @throws AtlassianOauthStateValidationError for a blank key or a negative `minValidityMs`.
   * @throws AtlassianOauthStateNotFoundError when nothing is stored: connect the tenant first.
   * @throws AtlassianOauthGrantRevokedError, AtlassianOauthTokenEndpointError,
   *   AtlassianOauthClientConfigError themselves (never wrapped), and
   *   AtlassianOauthRotateTimeoutError when another caller's refresh took too long.
   */
  async accessToken(
    platform: string,
    tenantId: string,
    options: AtlassianOauthAccessTokenOptions = {},
  ): Promise<string> {
    const minValidityMs = options.minValidityMs ?? DEFAULT_MIN_VALIDITY_MS;
    if (typeof minValidityMs !== 'number' || Number.isNaN(minValidityMs) || minValidityMs < 0) {
      throw new AtlassianOauthStateValidationError('minValidityMs', 'must be a number of milliseconds, 0 or more');
    }
    const { refused } = options;
    const need = { minValidityMs, refused, cooldownMs: this.options.refreshCooldownMs };
    // A rotation this process could not store yet (the database failed as Atlassian answered) is
    // the only pair that works: served from memory, without a read that would fail anyway.
    const unsaved = this.rotation.unsavedState(platform, tenantId);
    if (unsaved && unsaved.accessToken !== null && !needsRefresh(unsaved, need)) {
      return unsaved.accessToken;
    }
    // The health row comes with the state (one statement): a recorded revocation must stop a
    // stored access token at once, since Atlassian revoked it with the refresh token.
    const basis = await this.states.readForRefresh(platform, tenantId);
    if (!basis) {
      throw new AtlassianOauthStateNotFoundError(platform, tenantId);
    }
    const { state } = basis;
    const blocked = blockedBy(basis.health, state);
    if (
      state.accessToken !== null &&
      !needsRefresh(state, need) &&
      !(blocked instanceof AtlassianOauthGrantRevokedError)
    ) {
      return state.accessToken;
    }
    if (blocked) {
      if (blocked instanceof AtlassianOauthTokenEndpointError) {
        this.metrics?.refresh('cooldown', platform, tenantId);
      }
      return this.servedDespite(state, blocked, refused);
    }

    const result = await this.rotation.refreshGrant(this.client, platform, tenantId, need, basis);
    if (result.outcome === 'failed') {
      const failure = this.settleFailure(result.error, result.from, result.reachedEndpoint);
      if (failure instanceof AtlassianOauthTokenEndpointError) {
        return this.servedDespite(result.from, failure, refused);
      }
      throw failure;
    }
    if (result.outcome === 'refreshed') {
      this.refreshed(platform, tenantId, result.recovered);
    }
    if (result.state.accessToken === null) {
      throw new AtlassianOauthStateNotFoundError(platform, tenantId);
    }
    return result.state.accessToken;
  }

  /**
   * Keeps an idle grant alive: refreshes the key's state if it was last written before
   * `idleBefore`, through the same single-flight refresh and refresh health as
   * {@link accessToken}. Whether the state is still idle is decided again under the refresh lease,
   * so when several callers (sweeps on several instances, or live traffic) reach the same key at
   * once, exactly one of them refreshes it and the others see it `fresh`.
   *
   * @returns `refreshed` when this call refreshed it; `fresh` when it was written at or after
   *   `idleBefore` (by anyone); `revoked` when the grant is known to be revoked (nothing is sent to
   *   Atlassian) or Atlassian answered `invalid_grant` now (recorded like {@link accessToken} does).
   * @throws AtlassianOauthStateValidationError for a blank key or an `idleBefore` that is not a valid `Date`.
   * @throws AtlassianOauthStateNotFoundError when nothing is stored (any more) for the key.
   * @throws AtlassianOauthTokenEndpointError when refreshing failed transiently or the key is in
   *   its cooldown; AtlassianOauthClientConfigError, AtlassianOauthRotateTimeoutError,
   *   TokenIntegrityError / UnknownTokenKeyError as they come.
   */
  async refreshIdle(platform: string, tenantId: string, idleBefore: Date): Promise<AtlassianOauthIdleRefreshOutcome> {
    if (!(idleBefore instanceof Date) || Number.isNaN(idleBefore.getTime())) {
      throw new AtlassianOauthStateValidationError('idleBefore', 'must be a valid Date');
    }
    const basis = await this.states.readForRefresh(platform, tenantId);
    if (!basis) {
      throw new AtlassianOauthStateNotFoundError(platform, tenantId);
    }
    const need = { minValidityMs: 0, idleBefore, cooldownMs: this.options.refreshCooldownMs };
    if (!needsRefresh(basis.state, need)) {
      return 'fresh';
    }
    const blocked = blockedBy(basis.health, basis.state);
    if (blocked instanceof AtlassianOauthGrantRevokedError) {
      return 'revoked';
    }
    if (blocked) {
      this.metrics?.refresh('cooldown', platform, tenantId);
      throw blocked;
    }
    const result = await this.rotation.refreshGrant(this.client, platform, tenantId, need, basis);
    if (result.outcome === 'current') {
      return 'fresh';
    }
    if (result.outcome === 'failed') {
      const failure = this.settleFailure(result.error, result.from, result.reachedEndpoint);
      if (failure instanceof AtlassianOauthGrantRevokedError) {
        return 'revoked';
      }
      throw failure;
    }
    this.refreshed(platform, tenantId, result.recovered);
    return 'refreshed';
  }

  /** A refresh reached the endpoint and was stored: counted, a recovery told. */
  private refreshed(platform: string, tenantId: string, recovered: AtlassianOauthRefreshHealthEntity | null): void {
    this.metrics?.refresh('refreshed', platform, tenantId);
    this.servedWarnings.end(describeStateKey(platform, tenantId));
    if (recovered) {
      this.events?.emit(
        ATLASSIAN_EVENTS.refreshRecovered,
        new AtlassianRefreshRecoveredEvent(platform, tenantId, recovered.firstFailedAt, recovered.failures),
      );
    }
  }

  /**
   * What a failed `rotate` means for the caller: the refresh's own error, unwrapped and counted. A
   * refresh whose outcome is unknown (a timeout or a lost connection once the request was sent) is
   * settled by this process on its own after the cooldown (see {@link UnsettledRefreshes}).
   */
  private settleFailure(error: unknown, refreshedFrom: AtlassianOauthStateEntity, reachedEndpoint: boolean): unknown {
    const cause = error instanceof AtlassianOauthRefreshFailedError ? error.cause : error;
    const { platform, tenantId } = refreshedFrom;
    if (cause instanceof AtlassianOauthGrantRevokedError) {
      if (reachedEndpoint) {
        this.metrics?.refresh('revoked', platform, tenantId);
      }
      return new AtlassianOauthGrantRevokedError('refresh_token', { platform, tenantId });
    }
    if (cause instanceof AtlassianOauthTokenEndpointError) {
      this.metrics?.refresh(reachedEndpoint ? 'transient_failure' : 'cooldown', platform, tenantId);
      if (reachedEndpoint && mayHaveBeenProcessed(cause)) {
        this.unsettled.add({ platform, tenantId }, 'ambiguous', cooldownAfter(cause, this.options.refreshCooldownMs));
      }
    }
    return cause;
  }

  /** The stored access token if it has not expired yet, was not refused, and the failure may pass; otherwise `error`. */
  private servedDespite(state: AtlassianOauthStateEntity, error: Error, refused?: string): string {
    const expiresAt = state.expiresAt?.getTime() ?? 0;
    if (
      error instanceof AtlassianOauthTokenEndpointError &&
      state.accessToken !== null &&
      state.accessToken !== refused &&
      expiresAt > Date.now()
    ) {
      const key = describeStateKey(state.platform, state.tenantId);
      this.servedWarnings.warn(
        key,
        `Refreshing the Atlassian OAuth state of ${key} fails (${error.failure}); ` +
          `serving the stored access token, which expires at ${new Date(expiresAt).toISOString()}.`,
      );
      return state.accessToken;
    }
    throw error;
  }
}

/** Connection errors that mean the request never left: nothing can have been processed. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * Whether Atlassian may have processed a refresh that gave no answer: a timeout, or a connection
 * lost once the request was sent (reset, closed). A connection that was never opened cannot have.
 */
function mayHaveBeenProcessed(error: AtlassianOauthTokenEndpointError): boolean {
  if (error.failure === 'timeout') {
    return true;
  }
  if (error.failure !== 'network') {
    return false;
  }
  for (let cause: unknown = error.cause; cause instanceof Error; cause = cause.cause) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string' && NOT_SENT_CODES.has(code)) {
      return false;
    }
  }
  return true;
}
