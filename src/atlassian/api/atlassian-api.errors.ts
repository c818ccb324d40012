/**
 * The errors of `AtlassianApiClient`. None of them carries a token, an `Authorization` header, a
 * request body or a query string: only the method, the path without its query, the status and
 * what Atlassian said about it (`errorMessages`).
 */

/** A request refused before anything was sent: `field` names what is wrong. */
export class AtlassianApiRequestValidationError extends Error {
  override readonly name = 'AtlassianApiRequestValidationError';

  constructor(
    /** The option at fault, e.g. `path`. */
    readonly field: string,
    problem: string,
  ) {
    super(`Invalid Atlassian API request: ${field} ${problem}. Nothing was sent.`);
  }
}

/**
 * Atlassian answered a status that is not a success and that retrying does not change: a 400, a
 * real 403/404 (the token was proved alive), a 5xx of a call that may not be sent twice, or a
 * 5xx/network failure that lasted past the retries. `status` is `null` when no answer came.
 */
export class AtlassianApiError extends Error {
  override readonly name: string = 'AtlassianApiError';

  constructor(
    readonly status: number | null,
    readonly method: string,
    /** The path as given, without its query string. */
    readonly path: string,
    /** Atlassian's `errorMessages` when the answer carried them, otherwise empty. */
    readonly errorMessages: readonly string[] = [],
    message?: string,
    options?: ErrorOptions,
  ) {
    super(
      message ??
        `Atlassian answered ${status === null ? 'nothing (the connection failed)' : `HTTP ${status}`} to ${method} ${path}` +
          (errorMessages.length > 0 ? `: ${errorMessages.join('; ')}` : '') +
          '.',
      options,
    );
  }
}

/**
 * Atlassian refused the access token again after it was refreshed: the app lacks the scope or the
 * account lost access. Retrying with the same grant cannot help.
 */
export class AtlassianApiUnauthorizedError extends AtlassianApiError {
  override readonly name = 'AtlassianApiUnauthorizedError';

  constructor(method: string, path: string, errorMessages: readonly string[] = []) {
    super(
      401,
      method,
      path,
      errorMessages,
      `Atlassian refused the access token for ${method} ${path} (HTTP 401) even after a refresh: ` +
        "check the app's scopes and that the account still has access; the customer may have to connect again.",
    );
  }
}

/**
 * Atlassian's rate limit (429) or unavailability (503) outlasted the call: the retries ran out, the
 * wait would pass the call's deadline, or a pause recorded by any process does. `retryAfterMs` is
 * how long until Atlassian accepts calls again, as far as it said.
 */
export class AtlassianApiRateLimitedError extends AtlassianApiError {
  override readonly name = 'AtlassianApiRateLimitedError';

  constructor(
    status: number,
    method: string,
    path: string,
    /** How long to wait before calling again (ms), or `null` when Atlassian did not say. */
    readonly retryAfterMs: number | null,
    /** Atlassian's `RateLimit-Reason` (e.g. `jira-quota-global-based`), or `null`. */
    readonly reason: string | null,
    /** Where the wait came from: Atlassian's answer to this call, or a pause in force (`app`, `tenant`, `endpoint`). */
    readonly pausedBy: 'answer' | AtlassianApiPauseKind,
  ) {
    super(
      status,
      method,
      path,
      [],
      `Atlassian is rate limiting ${method} ${path} (HTTP ${status}${reason ? `, ${reason}` : ''}` +
        (pausedBy === 'answer' ? '' : `, ${pausedBy} pause in force`) +
        `): ${retryAfterMs === null ? 'no wait given' : `retry after ${retryAfterMs} ms`}, past the call's retries or deadline.`,
    );
  }
}

/** The reach of a pause: every call of the app, one tenant's calls, or one tenant's endpoint in this process. */
export type AtlassianApiPauseKind = 'app' | 'tenant' | 'endpoint';
