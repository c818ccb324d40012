import { quoteForLog } from '../../common/quote-for-log';
import { describeStateKey } from '../atlassian-oauth-state.types';

/**
 * The errors of the sites lookup. None of them carries a token or the answer's body; the URLs they
 * list are the sites' own addresses, which Atlassian shows every user of the site.
 */

/** Why `accessible-resources` gave no usable list, in the token endpoint's words where they apply. */
export type AtlassianSitesEndpointFailure =
  /** 401: Atlassian refused the access token (revoked, or expired before its `exp`). */
  | 'unauthorized'
  /** 429 Too Many Requests. */
  | 'rate-limited'
  /** A 5xx status. */
  | 'server-error'
  /** No complete answer within the timeout. */
  | 'timeout'
  /** The connection failed (DNS, refused, reset). */
  | 'network'
  /** An answer larger than the client reads (256 KiB): refused as it arrived, never parsed. */
  | 'too-large'
  /** A 200 that is not a JSON array of objects with a string `id` and an https `url`. */
  | 'invalid-response'
  /** Another status (403, 404, ...). */
  | 'rejected';

/**
 * Atlassian's `GET /oauth/token/accessible-resources` gave no usable list of sites: nothing was
 * stored, the sites stored before stay. `retryAfterMs` is the server's `Retry-After`, when it sent
 * one; `problem` says what was wrong with an `invalid-response` (which item, which field), never
 * quoting the answer.
 */
export class AtlassianSitesEndpointError extends Error {
  override readonly name = 'AtlassianSitesEndpointError';

  constructor(
    readonly failure: AtlassianSitesEndpointFailure,
    /** The HTTP status, or `null` when no answer came (timeout, network). */
    readonly status: number | null,
    readonly retryAfterMs: number | null = null,
    readonly problem: string | null = null,
    options?: ErrorOptions,
  ) {
    super(
      `Atlassian's accessible-resources gave no usable list of sites: ${describeFailure(failure, status, problem)}` +
        (retryAfterMs === null ? '' : `; it asks to retry after ${retryAfterMs} ms`) +
        '. Nothing was stored.',
      options,
    );
  }
}

/**
 * No site of the grant matches: the selector names a site the grant does not reach (after the list
 * was read again from Atlassian), or the grant reaches no site of the platform at all. `urls` lists
 * the sites it does reach.
 */
export class AtlassianSiteNotFoundError extends Error {
  override readonly name = 'AtlassianSiteNotFoundError';

  constructor(
    readonly platform: string,
    readonly tenantId: string,
    /** The cloud id or URL asked for; `undefined` when none was given. */
    readonly selector: string | undefined,
    /** The URLs of the sites the grant reaches. */
    readonly urls: readonly string[],
  ) {
    const key = describeStateKey(platform, tenantId);
    super(
      urls.length === 0
        ? `The Atlassian grant of ${key} reaches no ${platform} site${selector === undefined ? '' : ` (asked for ${quoteForLog(selector)})`}: ` +
            'the customer has to admit the app to a site, then connect again.'
        : `No Atlassian site of ${key} is ${quoteForLog(selector ?? '')}: the grant reaches ${urls.join(', ')}. ` +
            'Pass one of them (or its cloud id); a URL matches only the same origin.',
    );
  }
}

/** The grant reaches several sites of the platform and no selector said which one. */
export class AtlassianSiteAmbiguousError extends Error {
  override readonly name = 'AtlassianSiteAmbiguousError';

  constructor(
    readonly platform: string,
    readonly tenantId: string,
    /** The URLs of the sites the grant reaches. */
    readonly urls: readonly string[],
  ) {
    super(
      `The Atlassian grant of ${describeStateKey(platform, tenantId)} reaches ${urls.length} ${platform} sites ` +
        `(${urls.join(', ')}): pass the site's URL or cloud id to choose one.`,
    );
  }
}

function describeFailure(
  failure: AtlassianSitesEndpointFailure,
  status: number | null,
  problem: string | null,
): string {
  switch (failure) {
    case 'unauthorized':
      return 'the access token was refused (HTTP 401)';
    case 'rate-limited':
      return 'rate limited (HTTP 429)';
    case 'server-error':
      return `server error (HTTP ${status ?? '?'})`;
    case 'timeout':
      return 'no answer within the timeout';
    case 'network':
      return 'the connection failed';
    case 'too-large':
      return `the answer (HTTP ${status ?? '?'}) is larger than 256 KiB`;
    case 'invalid-response':
      return `the answer is not a list of sites${problem ? ` (${problem})` : ''}`;
    case 'rejected':
      return `the request was refused (HTTP ${status ?? '?'})`;
  }
}
