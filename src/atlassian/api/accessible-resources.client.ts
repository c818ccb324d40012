import { DEFAULT_MAX_RESPONSE_BYTES, ResponseTooLargeError, readCappedBody } from '../../common/capped-response';
import { retryAfterMs } from '../client/atlassian-oauth-client';
import { AtlassianApiOptions, atlassianApiUrl } from './atlassian-api.options';
import { AtlassianSitesEndpointError } from './atlassian-sites.errors';

/** The path of Atlassian's list of the sites an access token reaches, under `ATLASSIAN_API_BASE_URL`. */
export const ACCESSIBLE_RESOURCES_PATH = 'oauth/token/accessible-resources';

/** One entry of `accessible-resources`, checked: a site, once per product it is reached for. */
export interface AtlassianAccessibleResource {
  /** The site's cloud id. */
  readonly id: string;
  /** The site's https address, as Atlassian gave it. */
  readonly url: string;
  /** `''` when Atlassian gave none. */
  readonly name: string;
  /** `[]` when Atlassian gave none. */
  readonly scopes: readonly string[];
  readonly avatarUrl: string | null;
}

/**
 * Atlassian's `GET https://api.atlassian.com/oauth/token/accessible-resources`: which sites an
 * access token reaches (https://developer.atlassian.com/cloud/oauth/getting-started/making-calls-to-api).
 * It stores nothing and keeps no token.
 *
 * Every request is aborted after the configured timeout; an answer over 256 KiB is refused as it
 * arrives. The answer must be a JSON array of objects, each with a non-empty string `id` and an
 * https `url` (and, when present, a string `name` and `avatarUrl` and an array of string
 * `scopes`): anything else is refused as a whole, with the first item and field at fault named.
 */
export class AtlassianAccessibleResourcesClient {
  constructor(private readonly options: AtlassianApiOptions) {}

  /**
   * The resources `accessToken` reaches, in Atlassian's order.
   *
   * @throws AtlassianSitesEndpointError: `unauthorized` (401), `rate-limited` (429, with
   *   `retryAfterMs`), `server-error` (5xx, with `retryAfterMs`), `timeout`, `network`,
   *   `too-large`, `invalid-response`, `rejected` (any other status).
   */
  async fetch(accessToken: string): Promise<AtlassianAccessibleResource[]> {
    const signal = AbortSignal.timeout(this.options.timeoutMs);
    let response: Response;
    try {
      response = await fetch(atlassianApiUrl(this.options, ACCESSIBLE_RESOURCES_PATH), {
        headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
        redirect: 'error',
        signal,
      });
    } catch (error) {
      // fetch rejects with the abort reason on a timeout, a TypeError ('fetch failed') otherwise;
      // neither carries the request's headers.
      if (signal.aborted) {
        throw new AtlassianSitesEndpointError('timeout', null);
      }
      throw new AtlassianSitesEndpointError('network', null, null, null, { cause: error });
    }
    const { status } = response;
    if (status !== 200) {
      await response.body?.cancel().catch(() => undefined);
      const retryAfter = retryAfterMs(response.headers.get('retry-after'));
      if (status === 401) {
        throw new AtlassianSitesEndpointError('unauthorized', status);
      }
      if (status === 429 || status >= 500) {
        throw new AtlassianSitesEndpointError(status === 429 ? 'rate-limited' : 'server-error', status, retryAfter);
      }
      throw new AtlassianSitesEndpointError('rejected', status);
    }
    let body: Buffer;
    try {
      body = await readCappedBody(response, DEFAULT_MAX_RESPONSE_BYTES);
    } catch (error) {
      if (error instanceof ResponseTooLargeError) {
        throw new AtlassianSitesEndpointError('too-large', status);
      }
      throw new AtlassianSitesEndpointError(signal.aborted ? 'timeout' : 'network', status);
    }
    return parseResources(body);
  }
}

/**
 * The checked resources of an answer's body.
 *
 * @throws AtlassianSitesEndpointError `invalid-response` naming the first item and field at fault.
 */
export function parseResources(body: Buffer | string): AtlassianAccessibleResource[] {
  let answer: unknown;
  try {
    answer = JSON.parse(body.toString()) as unknown;
  } catch {
    throw invalid('not JSON');
  }
  if (!Array.isArray(answer)) {
    throw invalid('not a JSON array');
  }
  return answer.map((item: unknown, index) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      throw invalid(`item ${index} is not an object`);
    }
    const { id, url, name, scopes, avatarUrl } = item as Record<string, unknown>;
    if (typeof id !== 'string' || id.trim() === '') {
      throw invalid(`item ${index}: id must be a non-empty string`);
    }
    if (typeof url !== 'string' || !isHttpsUrl(url)) {
      throw invalid(`item ${index}: url must be an https URL`);
    }
    if (name !== undefined && name !== null && typeof name !== 'string') {
      throw invalid(`item ${index}: name must be a string`);
    }
    if (
      scopes !== undefined &&
      scopes !== null &&
      (!Array.isArray(scopes) || scopes.some((scope) => typeof scope !== 'string'))
    ) {
      throw invalid(`item ${index}: scopes must be an array of strings`);
    }
    return {
      id,
      url,
      name: typeof name === 'string' ? name : '',
      scopes: Array.isArray(scopes) ? (scopes as string[]) : [],
      avatarUrl: typeof avatarUrl === 'string' ? avatarUrl : null,
    };
  });
}

function isHttpsUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'https:' && url.hostname !== '' && url.username === '' && url.password === '';
  } catch {
    return false;
  }
}

function invalid(problem: string): AtlassianSitesEndpointError {
  return new AtlassianSitesEndpointError('invalid-response', 200, null, problem);
}
