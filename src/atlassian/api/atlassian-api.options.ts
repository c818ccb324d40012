import { AtlassianConfig } from '../../config/atlassian.config';

export {
  DEFAULT_API_MAX_CONCURRENCY_PER_TENANT,
  DEFAULT_ATLASSIAN_API_BASE_URL,
  DEFAULT_ATLASSIAN_API_TIMEOUT_MS,
} from '../../config/atlassian.config';

/** What the calls to `api.atlassian.com` need: the `atlassian` configuration's API values, as a URL. */
export interface AtlassianApiOptions {
  /** `ATLASSIAN_API_BASE_URL`: https, or http on a loopback host (checked when the configuration loads). */
  readonly baseUrl: URL;
  readonly timeoutMs: number;
}

/** The Nest injection token of the {@link AtlassianApiOptions}. */
export const ATLASSIAN_API_OPTIONS = Symbol('AtlassianApiOptions');

/** The API's options from the `atlassian` configuration, whose values were validated when it loaded. */
export function atlassianApiOptions(config: AtlassianConfig): AtlassianApiOptions {
  return { baseUrl: new URL(config.apiBaseUrl), timeoutMs: config.apiTimeoutMs };
}

/** `path` (e.g. `oauth/token/accessible-resources`) under the base URL, keeping a base path such as a proxy's prefix. */
export function atlassianApiUrl(options: Pick<AtlassianApiOptions, 'baseUrl'>, path: string): URL {
  const base = options.baseUrl.href.endsWith('/') ? options.baseUrl.href : `${options.baseUrl.href}/`;
  return new URL(path.replace(/^\/+/, ''), base);
}

/** Retries of one call after 429, 503, or (idempotent calls only) 500/502/504 and network errors. */
export const DEFAULT_API_MAX_RETRIES = 4;
/** How long one call may take, waits and retries included. */
export const DEFAULT_API_DEADLINE_MS = 60_000;
/** A token that got a success within this long is not probed again after a 403/404. */
export const TOKEN_PROVED_ALIVE_MS = 60_000;

/** The Nest injection token of the {@link AtlassianApiClientOptions}. */
export const ATLASSIAN_API_CLIENT_OPTIONS = Symbol('AtlassianApiClientOptions');

/** What `AtlassianApiClient` needs, checked. */
export interface AtlassianApiClientOptions {
  /** `ATLASSIAN_API_BASE_URL`: `https://api.atlassian.com` in production. */
  readonly baseUrl: URL;
  /** `ATLASSIAN_API_MAX_CONCURRENCY_PER_TENANT`. */
  readonly maxConcurrencyPerTenant: number;
  /** Default of a request's retries. */
  readonly maxRetries: number;
  /** Default of a request's `deadlineMs`. */
  readonly deadlineMs: number;
  /** `ATLASSIAN_API_MAX_REQUESTS_PER_SECOND`: this process's ceiling on calls, `0` for none. */
  readonly maxRequestsPerSecond: number;
}

/** The client's options from the validated `atlassian` configuration (and the defaults of a request). */
export function atlassianApiClientOptions(
  config: Pick<AtlassianConfig, 'apiBaseUrl' | 'apiMaxConcurrencyPerTenant'> &
    Partial<Pick<AtlassianConfig, 'apiMaxRequestsPerSecond'>>,
): AtlassianApiClientOptions {
  return {
    baseUrl: new URL(config.apiBaseUrl),
    maxConcurrencyPerTenant: config.apiMaxConcurrencyPerTenant,
    maxRetries: DEFAULT_API_MAX_RETRIES,
    deadlineMs: DEFAULT_API_DEADLINE_MS,
    maxRequestsPerSecond: config.apiMaxRequestsPerSecond ?? 0,
  };
}
