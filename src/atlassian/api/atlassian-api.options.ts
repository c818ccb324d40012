import { AtlassianConfig } from '../../config/atlassian.config';

export { DEFAULT_ATLASSIAN_API_BASE_URL, DEFAULT_ATLASSIAN_API_TIMEOUT_MS } from '../../config/atlassian.config';

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
export function atlassianApiUrl(options: AtlassianApiOptions, path: string): URL {
  const base = options.baseUrl.href.endsWith('/') ? options.baseUrl.href : `${options.baseUrl.href}/`;
  return new URL(path.replace(/^\/+/, ''), base);
}
