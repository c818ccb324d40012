import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, Logger, OnModuleDestroy, Optional } from '@nestjs/common';
import { Agent, Dispatcher } from 'undici';
import { AgentCoreMetrics } from '../../metrics/agent-core-metrics';
import { describeStateKey, stateKeyId } from '../atlassian-oauth-state.types';
import { AtlassianOauthTokenService } from '../tokens/atlassian-oauth-token.service';
import { AtlassianApiError, AtlassianApiRateLimitedError, AtlassianApiUnauthorizedError } from './atlassian-api.errors';
import {
  ATLASSIAN_API_CLIENT_OPTIONS,
  AtlassianApiClientOptions,
  TOKEN_PROVED_ALIVE_MS,
  atlassianApiUrl,
} from './atlassian-api.options';
import { ACCESSIBLE_RESOURCES_PATH } from './accessible-resources.client';
import { PerTenantConcurrency } from './atlassian-api-fairness';
import { AtlassianApiPacer } from './atlassian-api-pacing';
import { AtlassianApiCallScope, AtlassianApiPauses } from './atlassian-api-pauses';
import { AtlassianApiRequest, AtlassianApiResponse, buildRequest, BuiltRequest } from './atlassian-api-request';
import {
  AtlassianApiRetryReason,
  backoffMs,
  isIdempotent,
  jitterMs,
  pauseKindOf,
  retryAfterMs,
} from './atlassian-api-retry';
import { ATLASSIAN_API_CLOUD_IDS, AtlassianApiCloudIds } from './atlassian-api-cloud-ids';

/** A request's own options, without the ones a shorthand sets. */
export type AtlassianApiShorthandRequest = Omit<AtlassianApiRequest, 'method' | 'path'>;

/** The access token a call sends, and whether it was refreshed during the call already. */
interface TokenInUse {
  value: string;
  refreshed: boolean;
}

/**
 * Calls Atlassian's REST APIs for a tenant: `request` sends one call to
 * `ATLASSIAN_API_BASE_URL/ex/{platform}/{cloudId}{path}` with the tenant's access token and handles
 * what makes such calls fail in production (the rules, and the README's table):
 *
 * - 401: refreshes the token once (fleet-wide single flight, only if the stored token is still the
 *   refused one) and sends again once; a second 401 is {@link AtlassianApiUnauthorizedError}.
 * - 403/404: unless the token got a success within the last minute, asks `accessible-resources`
 *   once with it; a 401 there means the token is dead: refresh and send again once. Otherwise the
 *   403/404 is Atlassian's real answer ({@link AtlassianApiError}).
 * - 429/503: waits what the answer says (`Retry-After`, `X-RateLimit-Reset`) plus a little
 *   jitter, or backs off exponentially (1 s base, 30 s cap, full jitter), at most `maxRetries`
 *   times and never past the deadline or the signal; then {@link AtlassianApiRateLimitedError}.
 *   A 429 of the app-wide quota pauses every call of the app in every process, a tenant-quota 429
 *   the tenant's calls, a burst 429 the tenant's endpoint in this process.
 * - 500/502/504 and network errors: retried the same way for idempotent calls only; a POST is
 *   sent again only after a 429 (proof that it was not processed).
 * - At most `ATLASSIAN_API_MAX_CONCURRENCY_PER_TENANT` calls in flight per tenant in a process.
 * - With `ATLASSIAN_API_MAX_REQUESTS_PER_SECOND` set: at most that many calls a second on average
 *   from this process (each attempt counts; a burst of one second's calls for a tenant's only
 *   waiting call), the tenants that wait served in turn ({@link AtlassianApiPacer}),
 *   so that the app stays under Atlassian's app-wide quota instead of being paused by it.
 *
 * Our own loop rather than undici's `RetryAgent`: a retry here must consult the fleet's pauses (a
 * database row), refresh the token between attempts, and stop at the call's deadline; undici's
 * handler retries below all of that and honours only one call's `Retry-After`.
 *
 * Sent with undici's `request` on a keep-alive `Agent` of the client's own rather than `fetch`:
 * the same HTTP client under fetch's WHATWG layers, a third of fetch's time per call here
 * (`npm run bench`), and it follows no redirect, so the token goes to no host but Atlassian's.
 */
@Injectable()
export class AtlassianApiClient implements OnModuleDestroy {
  private readonly logger = new Logger(AtlassianApiClient.name);
  /** Keep-alive connections to Atlassian, closed with the module. */
  private readonly http = new Agent();
  private readonly fairness: PerTenantConcurrency;
  /** `ATLASSIAN_API_MAX_REQUESTS_PER_SECOND`'s ceiling, when set. */
  private readonly pacer: AtlassianApiPacer | undefined;
  /** Per tenant: a hash of the last token that got a success, and when. */
  private readonly provedAlive = new Map<string, { token: string; at: number }>();

  constructor(
    private readonly tokens: AtlassianOauthTokenService,
    private readonly pauses: AtlassianApiPauses,
    @Inject(ATLASSIAN_API_CLOUD_IDS) private readonly cloudIds: AtlassianApiCloudIds,
    @Inject(ATLASSIAN_API_CLIENT_OPTIONS) private readonly options: AtlassianApiClientOptions,
    /** The application's metrics when it serves them. */
    @Optional() private readonly metrics?: AgentCoreMetrics,
  ) {
    this.fairness = new PerTenantConcurrency(options.maxConcurrencyPerTenant);
    this.pacer = options.maxRequestsPerSecond > 0 ? new AtlassianApiPacer(options.maxRequestsPerSecond) : undefined;
  }

  /** Closes the keep-alive connections once the calls under way have ended. */
  async onModuleDestroy(): Promise<void> {
    await this.http.close();
  }

  /**
   * Sends one call for the tenant and resolves with Atlassian's 2xx answer, its body parsed when it
   * is JSON (a string otherwise, `null` when empty).
   *
   * @throws AtlassianApiRequestValidationError naming the option at fault (a blank key, a `path`
   *   that does not start with `/`, carries a scheme, `//` or a `..` segment, an `Authorization`
   *   header, a bad `deadlineMs` or `maxRetries`), before anything is sent.
   * @throws AtlassianApiError for any other non-2xx answer, or a failure that outlasted the retries;
   *   AtlassianApiUnauthorizedError, AtlassianApiRateLimitedError as described above.
   * @throws the errors of `AtlassianSitesService.site` choosing the site `site` names
   *   (AtlassianSiteNotFoundError, AtlassianSiteAmbiguousError without `site` when the grant
   *   reaches several, AtlassianSitesEndpointError when the list had to be read again and could not)
   *   and of `AtlassianOauthTokenService.accessToken` (a revoked grant, a token endpoint failure,
   *   no stored state) unchanged, and the signal's reason when it aborts.
   */
  async request<T = unknown>(request: AtlassianApiRequest): Promise<AtlassianApiResponse<T>> {
    const built = buildRequest(request, this.options);
    const started = performance.now();
    try {
      return (await this.send(built)) as AtlassianApiResponse<T>;
    } finally {
      this.metrics?.apiCallDuration(built.platform, built.method, (performance.now() - started) / 1000);
    }
  }

  /** `request` with `GET`. */
  get<T = unknown>(path: string, request: AtlassianApiShorthandRequest): Promise<AtlassianApiResponse<T>> {
    return this.request<T>({ ...request, method: 'GET', path });
  }

  /** `request` with `POST` (never sent twice unless Atlassian answered 429, unless `idempotent: true`). */
  post<T = unknown>(path: string, request: AtlassianApiShorthandRequest): Promise<AtlassianApiResponse<T>> {
    return this.request<T>({ ...request, method: 'POST', path });
  }

  /** `request` with `PUT`. */
  put<T = unknown>(path: string, request: AtlassianApiShorthandRequest): Promise<AtlassianApiResponse<T>> {
    return this.request<T>({ ...request, method: 'PUT', path });
  }

  /** `request` with `DELETE`. */
  delete<T = unknown>(path: string, request: AtlassianApiShorthandRequest): Promise<AtlassianApiResponse<T>> {
    return this.request<T>({ ...request, method: 'DELETE', path });
  }

  private async send(call: BuiltRequest): Promise<AtlassianApiResponse> {
    // One controller for the deadline and the caller's signal (cheaper than AbortSignal.any + timeout per call).
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), call.deadlineMs);
    const onAbort = (): void => controller.abort();
    call.signal?.addEventListener('abort', onAbort, { once: true });
    if (call.signal?.aborted) {
      controller.abort();
    }
    try {
      return await this.attempts(call, controller.signal);
    } finally {
      clearTimeout(timer);
      call.signal?.removeEventListener('abort', onAbort);
    }
  }

  private async attempts(call: BuiltRequest, signal: AbortSignal): Promise<AtlassianApiResponse> {
    const { platform, tenantId, method, path } = call;
    const deadline = Date.now() + call.deadlineMs;
    const scope: AtlassianApiCallScope = { platform, tenantId, endpoint: `${method} ${path}` };
    const idempotent = isIdempotent(method, call.idempotent);
    const cloudId = await this.cloudIds.cloudId(platform, tenantId, call.site);
    const origin = this.options.baseUrl.origin;
    const urlPath = `${basePath(this.options.baseUrl)}/ex/${encodeURIComponent(platform)}/${encodeURIComponent(cloudId)}${call.pathAndQuery}`;
    const token: TokenInUse = { value: await this.tokens.accessToken(platform, tenantId), refreshed: false };
    let retries = 0;
    for (;;) {
      await this.waitTurn(call, signal);
      // After the turn, which may have been long: a pause recorded meanwhile still holds the call.
      await this.waitOutPauses(call, scope, deadline, signal);
      let response: Dispatcher.ResponseData;
      try {
        response = await this.fairness.run(platform, tenantId, signal, () =>
          this.http.request({
            origin,
            path: urlPath,
            method,
            headers: { ...call.headers, authorization: `Bearer ${token.value}` },
            body: call.body,
            signal,
          }),
        );
      } catch (error) {
        this.throwIfAborted(call, signal);
        this.metrics?.apiRequest(platform, method, 'network');
        const waitMs = backoffMs(retries);
        if (!idempotent || retries >= call.maxRetries || Date.now() + waitMs >= deadline) {
          throw new AtlassianApiError(null, method, path, [], undefined, { cause: errorName(error) });
        }
        retries += 1;
        await this.retryAfter('network', waitMs, call, signal);
        continue;
      }
      const status = response.statusCode;
      const headers = headersOf(response.headers);
      this.metrics?.apiRequest(platform, method, statusClass(status));
      const nearLimit = headers.get('x-ratelimit-nearlimit');
      if (nearLimit !== null) {
        this.metrics?.apiNearLimit(platform, nearLimit.trim().toLowerCase() === 'true');
      }
      if (status >= 200 && status < 300) {
        this.markAlive(platform, tenantId, token.value);
        return { status, headers, body: await readBody(response.body, headers) };
      }
      const errorMessages = await readErrorMessages(response.body);
      if (status === 401) {
        if (token.refreshed) {
          throw new AtlassianApiUnauthorizedError(method, path, errorMessages);
        }
        await this.refresh(token, call, 'unauthorized');
        continue;
      }
      if (
        (status === 403 || status === 404) &&
        !token.refreshed &&
        !this.isProvedAlive(platform, tenantId, token.value)
      ) {
        if (await this.isDead(token.value, signal)) {
          await this.refresh(token, call, 'unauthorized');
          continue;
        }
        this.markAlive(platform, tenantId, token.value);
      }
      if (status === 429 || status === 503) {
        const named = retryAfterMs(headers);
        const reason = headers.get('ratelimit-reason')?.trim() || null;
        if (status === 429) {
          await this.recordPause(scope, named, reason);
        }
        const waitMs = named === null ? backoffMs(retries) : named + jitterMs(named);
        // A 503 may have been processed: a call that is not idempotent is not sent again.
        const mayRetry = status === 429 || idempotent;
        if (!mayRetry) {
          throw new AtlassianApiError(status, method, path, errorMessages);
        }
        if (retries >= call.maxRetries || Date.now() + waitMs >= deadline) {
          throw new AtlassianApiRateLimitedError(status, method, path, named, reason, 'answer');
        }
        retries += 1;
        await this.retryAfter(status === 429 ? 'rate-limited' : 'unavailable', waitMs, call, signal);
        continue;
      }
      if ((status === 500 || status === 502 || status === 504) && idempotent) {
        const named = retryAfterMs(headers);
        const waitMs = named === null ? backoffMs(retries) : named + jitterMs(named);
        if (retries < call.maxRetries && Date.now() + waitMs < deadline) {
          retries += 1;
          await this.retryAfter('server-error', waitMs, call, signal);
          continue;
        }
      }
      throw new AtlassianApiError(status, method, path, errorMessages);
    }
  }

  /** Waits for the call's turn under `ATLASSIAN_API_MAX_REQUESTS_PER_SECOND`, when it is set. */
  private async waitTurn(call: BuiltRequest, signal: AbortSignal): Promise<void> {
    if (this.pacer === undefined) {
      return;
    }
    try {
      await this.pacer.turn(stateKeyId(call), signal);
    } catch {
      this.throwIfAborted(
        call,
        signal,
        `${call.method} ${call.path} waited for its turn under ATLASSIAN_API_MAX_REQUESTS_PER_SECOND past its deadline of ${call.deadlineMs} ms.`,
      );
    }
  }

  /** Waits until no pause holds the call back, or rejects at once when one outlasts the deadline. */
  private async waitOutPauses(
    call: BuiltRequest,
    scope: AtlassianApiCallScope,
    deadline: number,
    signal: AbortSignal,
  ): Promise<void> {
    for (;;) {
      const now = Date.now();
      const pause = await this.pauses.current(scope, now);
      if (pause === null) {
        return;
      }
      if (pause.until >= deadline) {
        throw new AtlassianApiRateLimitedError(
          429,
          call.method,
          call.path,
          pause.until - now,
          pause.reason,
          pause.kind,
        );
      }
      const waitMs = pause.until - now;
      await this.sleep(waitMs + jitterMs(waitMs), call, signal);
    }
  }

  private async recordPause(scope: AtlassianApiCallScope, waitMs: number | null, reason: string | null): Promise<void> {
    const kind = pauseKindOf(reason);
    if (kind === null || waitMs === null || reason === null) {
      return;
    }
    const until = Date.now() + waitMs;
    await this.pauses.pause(kind, scope, until, reason);
    this.metrics?.apiPause(kind);
    const what =
      kind === 'app'
        ? `every ${scope.platform} call of the app`
        : kind === 'tenant'
          ? `the calls of ${describeStateKey(scope.platform, scope.tenantId)}`
          : `${scope.endpoint} of ${describeStateKey(scope.platform, scope.tenantId)} in this process`;
    this.logger.warn(`Atlassian rate limited (${reason}): pausing ${what} for ${waitMs} ms.`);
  }

  /** A new access token in place of the refused one (single flight fleet-wide, skipped when already replaced). */
  private async refresh(token: TokenInUse, call: BuiltRequest, reason: AtlassianApiRetryReason): Promise<void> {
    token.value = await this.tokens.accessToken(call.platform, call.tenantId, { refused: token.value });
    token.refreshed = true;
    this.metrics?.apiRetry(reason);
  }

  /** Whether `accessible-resources` refuses the token (401): then a 403/404 came from a dead token, not the resource. */
  private async isDead(token: string, signal: AbortSignal): Promise<boolean> {
    try {
      const url = atlassianApiUrl(this.options, ACCESSIBLE_RESOURCES_PATH);
      const response = await this.http.request({
        origin: url.origin,
        path: url.pathname,
        method: 'GET',
        headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
        signal,
      });
      await response.body.dump();
      return response.statusCode === 401;
    } catch {
      // No verdict: the 403/404 stands as Atlassian's answer.
      return false;
    }
  }

  private async retryAfter(
    reason: AtlassianApiRetryReason,
    waitMs: number,
    call: BuiltRequest,
    signal: AbortSignal,
  ): Promise<void> {
    this.metrics?.apiRetry(reason);
    await this.sleep(waitMs, call, signal);
  }

  private async sleep(ms: number, call: BuiltRequest, signal: AbortSignal): Promise<void> {
    try {
      await sleep(ms, undefined, { signal });
    } catch {
      this.throwIfAborted(call, signal);
    }
  }

  /** The caller's abort reason when its signal aborted; a deadline error when the deadline passed. */
  private throwIfAborted(
    call: BuiltRequest,
    signal: AbortSignal,
    deadlineMessage = `Atlassian gave no answer to ${call.method} ${call.path} within its deadline of ${call.deadlineMs} ms.`,
  ): void {
    if (!signal.aborted) {
      return;
    }
    if (call.signal?.aborted) {
      throw call.signal.reason;
    }
    throw new AtlassianApiError(null, call.method, call.path, [], deadlineMessage);
  }

  private markAlive(platform: string, tenantId: string, token: string): void {
    this.provedAlive.set(stateKeyId({ platform, tenantId }), { token: hashOf(token), at: Date.now() });
  }

  private isProvedAlive(platform: string, tenantId: string, token: string): boolean {
    const proof = this.provedAlive.get(stateKeyId({ platform, tenantId }));
    return proof !== undefined && proof.token === hashOf(token) && Date.now() - proof.at < TOKEN_PROVED_ALIVE_MS;
  }
}

/** The base URL's path without a trailing slash (empty for `https://api.atlassian.com`). */
function basePath(baseUrl: URL): string {
  return baseUrl.pathname.replace(/\/+$/, '');
}

function hashOf(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

function statusClass(status: number): string {
  return `${Math.floor(status / 100)}xx`;
}

function errorName(error: unknown): Error {
  // The cause keeps only the kind of failure: a fetch error's message may quote the URL's query.
  return new Error(error instanceof Error ? (error.cause instanceof Error ? error.cause.name : error.name) : 'error');
}

/** An answer's headers as the `Headers` callers read (a repeated header keeps every value). */
function headersOf(raw: Dispatcher.ResponseData['headers']): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(raw)) {
    if (Array.isArray(value)) {
      value.forEach((item) => headers.append(name, item));
    } else if (value !== undefined) {
      headers.append(name, value);
    }
  }
  return headers;
}

/** The body: parsed JSON when the answer says it is JSON, else text; `null` when empty. */
async function readBody(body: Dispatcher.ResponseData['body'], headers: Headers): Promise<unknown> {
  const text = await body.text();
  if (text === '') {
    return null;
  }
  if (/\bjson\b/i.test(headers.get('content-type') ?? '')) {
    return JSON.parse(text) as unknown;
  }
  return text;
}

/** Atlassian's `errorMessages` of an error answer, if it is JSON and has them. */
async function readErrorMessages(body: Dispatcher.ResponseData['body']): Promise<string[]> {
  try {
    const parsed = (await body.json()) as { errorMessages?: unknown };
    return Array.isArray(parsed.errorMessages)
      ? parsed.errorMessages.filter((m): m is string => typeof m === 'string')
      : [];
  } catch {
    return [];
  }
}
