import { AtlassianApiPauseKind } from './atlassian-api.errors';

/** First wait of the exponential backoff when Atlassian says nothing (full jitter). */
export const BACKOFF_BASE_MS = 1_000;
/** Longest wait of the exponential backoff. */
export const BACKOFF_CAP_MS = 30_000;
/** The most jitter added to a wait Atlassian named. */
const MAX_JITTER_MS = 1_000;

/** Methods that may be sent twice: RFC 9110's idempotent methods. */
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

/** Whether a call of `method` may be sent again after an answer that does not prove it was not processed. */
export function isIdempotent(method: string, idempotent: boolean | undefined): boolean {
  return idempotent ?? IDEMPOTENT_METHODS.has(method);
}

/**
 * How long Atlassian asks to wait, in ms: `Retry-After` (seconds or an HTTP date), else
 * `X-RateLimit-Reset` (an ISO time), else `null`. A time already past means 0.
 */
export function retryAfterMs(headers: Headers, now: number = Date.now()): number | null {
  const retryAfter = headers.get('retry-after')?.trim();
  if (retryAfter) {
    if (/^\d+(\.\d+)?$/.test(retryAfter)) {
      return Math.round(Number(retryAfter) * 1000);
    }
    const at = Date.parse(retryAfter);
    if (!Number.isNaN(at)) {
      return Math.max(0, at - now);
    }
  }
  const reset = headers.get('x-ratelimit-reset')?.trim();
  if (reset) {
    const at = Date.parse(reset);
    if (!Number.isNaN(at)) {
      return Math.max(0, at - now);
    }
  }
  return null;
}

/** Exponential backoff with full jitter (AWS's "full jitter"): a random wait up to min(cap, base * 2^retry). */
export function backoffMs(retry: number, random: () => number = Math.random): number {
  return Math.floor(random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** retry));
}

/** A little jitter after a wait Atlassian named, so that callers it paused together do not return together: up to 10% (at most 1 s). */
export function jitterMs(waitMs: number, random: () => number = Math.random): number {
  return Math.floor(random() * Math.min(MAX_JITTER_MS, Math.max(50, waitMs * 0.1)));
}

/**
 * What a 429's `RateLimit-Reason` pauses besides the call itself: the app-wide quota every call
 * of the app (all processes), a tenant's quota that tenant's calls (all processes), the burst and
 * per-issue write limits that tenant's endpoint (this process). `null` for no or an unknown reason:
 * only the call waits.
 */
export function pauseKindOf(reason: string | null): AtlassianApiPauseKind | null {
  switch (reason) {
    case 'jira-quota-global-based':
      return 'app';
    case 'jira-quota-tenant-based':
      return 'tenant';
    case 'jira-burst-based':
    case 'jira-per-issue-on-write':
      return 'endpoint';
    default:
      return null;
  }
}

/** Why a call was sent again, as the retries metric counts it. */
export type AtlassianApiRetryReason = 'rate-limited' | 'unavailable' | 'server-error' | 'network' | 'unauthorized';
