import { validateKey } from '../atlassian-oauth-state.validation';
import { AtlassianApiRequestValidationError } from './atlassian-api.errors';
import { AtlassianApiClientOptions } from './atlassian-api.options';

/** A query parameter's value; an array repeats the parameter, `undefined` leaves it out. */
export type AtlassianApiQueryValue = string | number | boolean | readonly (string | number | boolean)[] | undefined;

/** One call of `AtlassianApiClient.request`. */
export interface AtlassianApiRequest {
  /** `jira` or `confluence`: the `/ex/{platform}/` of the URL, and the stored state's platform. */
  platform: string;
  tenantId: string;
  /** Which site of the grant: a cloudId or a site URL (see `AtlassianSitesService.site`); none for the only one. */
  site?: string;
  /** Default `GET`. */
  method?: string;
  /** The REST path under the site, e.g. `/rest/api/3/issue/ABC-1`: starts with `/`, no scheme, no `//`, no `..`. */
  path: string;
  query?: Record<string, AtlassianApiQueryValue>;
  /** Sent as JSON unless it is a string or bytes (then as given, with your `content-type`). */
  body?: unknown;
  /** Extra headers; `Authorization` is the client's own and refused here. */
  headers?: Record<string, string>;
  /** Whether the call may be sent twice after a 5xx or a network error. Default: true for GET, HEAD, PUT, DELETE, OPTIONS. */
  idempotent?: boolean;
  /** Aborts the call (waits included); it rejects with the signal's reason. */
  signal?: AbortSignal;
  /** How long the call may take, waits and retries included (default 60 000). */
  deadlineMs?: number;
  /** Retries after 429, 503, or for idempotent calls 500/502/504 and network errors (default 4). */
  maxRetries?: number;
}

/** Atlassian's 2xx answer. */
export interface AtlassianApiResponse<T = unknown> {
  status: number;
  headers: Headers;
  /** Parsed JSON when the answer is JSON; text otherwise; `null` when empty. */
  body: T;
}

/** A request checked and ready to send. */
export interface BuiltRequest {
  readonly platform: string;
  readonly tenantId: string;
  readonly site: string | undefined;
  readonly method: string;
  /** The path as given, without the query: what errors, logs and the burst pause name. */
  readonly path: string;
  readonly pathAndQuery: string;
  readonly headers: Record<string, string>;
  readonly body: string | Uint8Array | undefined;
  readonly idempotent: boolean | undefined;
  readonly signal: AbortSignal | undefined;
  readonly deadlineMs: number;
  readonly maxRetries: number;
}

const METHOD = /^[A-Z]+$/;

/**
 * Checks a request and prepares what is sent. The path can never move the call to another host or
 * out of the site's `/ex/{platform}/{cloudId}` prefix: the token goes nowhere but Atlassian.
 *
 * @throws AtlassianOauthStateValidationError for a blank key; AtlassianApiRequestValidationError
 *   naming any other option at fault.
 */
export function buildRequest(request: AtlassianApiRequest, options: AtlassianApiClientOptions): BuiltRequest {
  if (typeof request !== 'object' || request === null) {
    throw new AtlassianApiRequestValidationError('request', 'must be an object');
  }
  const { platform, tenantId } = validateKey(request.platform, request.tenantId);
  const method = (request.method ?? 'GET').toUpperCase();
  if (!METHOD.test(method)) {
    throw new AtlassianApiRequestValidationError('method', 'must be an HTTP method such as GET or POST');
  }
  const [path, inlineQuery] = checkPath(request.path);
  const deadlineMs = request.deadlineMs ?? options.deadlineMs;
  if (typeof deadlineMs !== 'number' || !Number.isFinite(deadlineMs) || deadlineMs <= 0) {
    throw new AtlassianApiRequestValidationError('deadlineMs', 'must be a number of milliseconds above 0');
  }
  const maxRetries = request.maxRetries ?? options.maxRetries;
  if (!Number.isSafeInteger(maxRetries) || maxRetries < 0) {
    throw new AtlassianApiRequestValidationError('maxRetries', 'must be a whole number, 0 or more');
  }
  if (request.site !== undefined && (typeof request.site !== 'string' || request.site.trim() === '')) {
    throw new AtlassianApiRequestValidationError('site', 'must be a cloudId or a site URL when given');
  }
  const headers: Record<string, string> = { accept: 'application/json' };
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    if (name.toLowerCase() === 'authorization') {
      throw new AtlassianApiRequestValidationError(
        'headers.authorization',
        "is the client's own (the tenant's access token)",
      );
    }
    headers[name.toLowerCase()] = value;
  }
  let body: string | Uint8Array | undefined;
  if (request.body === undefined) {
    body = undefined;
  } else if (typeof request.body === 'string' || request.body instanceof Uint8Array) {
    body = request.body;
  } else {
    body = JSON.stringify(request.body);
    headers['content-type'] ??= 'application/json';
  }
  return {
    platform,
    tenantId,
    site: request.site,
    method,
    path,
    pathAndQuery: path + queryString(inlineQuery, request.query),
    headers,
    body,
    idempotent: request.idempotent,
    signal: request.signal,
    deadlineMs,
    maxRetries,
  };
}

/**
 * The path and its inline query (after `?`), refused unless the path starts with `/` and has no
 * scheme, no `//`, no `.`/`..` segment (encoded or not), no fragment.
 */
function checkPath(given: unknown): [string, string] {
  if (typeof given !== 'string' || !given.startsWith('/')) {
    throw new AtlassianApiRequestValidationError(
      'path',
      'must be a string that starts with "/" (e.g. /rest/api/3/myself)',
    );
  }
  const queryAt = given.indexOf('?');
  const path = queryAt === -1 ? given : given.slice(0, queryAt);
  const inlineQuery = queryAt === -1 ? '' : given.slice(queryAt + 1);
  if (path.includes('//') || path.includes('\\') || /^[a-z][a-z0-9+.-]*:/i.test(path.slice(1))) {
    throw new AtlassianApiRequestValidationError(
      'path',
      'must not contain "//", "\\" or a scheme: it cannot change the host',
    );
  }
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    throw new AtlassianApiRequestValidationError('path', 'is not validly percent-encoded');
  }
  if (decoded.split('/').some((segment) => segment === '..' || segment === '.') || decoded.includes('//')) {
    throw new AtlassianApiRequestValidationError('path', 'must not contain a "." or ".." segment (encoded or not)');
  }
  if (/[#\s]/.test(given) || [...decoded].some((character) => character.charCodeAt(0) < 0x20)) {
    throw new AtlassianApiRequestValidationError('path', 'must not contain "#", whitespace or control characters');
  }
  return [path, inlineQuery];
}

function queryString(inline: string, query: Record<string, AtlassianApiQueryValue> | undefined): string {
  const params = new URLSearchParams(inline);
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value === undefined) {
      continue;
    }
    for (const item of Array.isArray(value) ? value : [value]) {
      params.append(name, String(item));
    }
  }
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}
