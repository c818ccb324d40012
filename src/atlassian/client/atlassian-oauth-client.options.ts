import { AtlassianOauthClientConfigError } from './atlassian-oauth-client.errors';

export {
  DEFAULT_ATLASSIAN_OAUTH_AUTHORIZE_URL,
  DEFAULT_ATLASSIAN_OAUTH_TOKEN_URL,
} from '../../config/atlassian.config';
/** Well under the rotation lease (30 s by default), so a hung request never outlives the lease. */
export const DEFAULT_TOKEN_ENDPOINT_TIMEOUT_MS = 10_000;

/**
 * The Atlassian settings as configured: the client id and secret may be absent, because a
 * service that only stores tokens never talks to Atlassian. {@link atlassianOauthClientOptions}
 * turns them into the options of a client that is used, or refuses naming the variable.
 */
export interface AtlassianOauthSettings {
  /** `ATLASSIAN_CLIENT_ID` */
  clientId?: string;
  /** `ATLASSIAN_CLIENT_SECRET` */
  clientSecret?: string;
  /** `ATLASSIAN_OAUTH_TOKEN_URL` */
  tokenUrl: string;
  /** `ATLASSIAN_OAUTH_AUTHORIZE_URL` */
  authorizeUrl: string;
  /** How long one token endpoint request may take, answer included. */
  tokenEndpointTimeoutMs?: number;
  /** `ATLASSIAN_REFRESH_COOLDOWN_MS`: the token service's wait after a transient refresh failure. */
  refreshCooldownMs?: number;
  /** `ATLASSIAN_KEEPALIVE_INTERVAL_MS`: how often the service sweeps idle grants; `0` turns the sweep off. */
  keepAliveIntervalMs?: number;
}

/** The Nest injection token of the {@link AtlassianOauthSettings}; tests override it. */
export const ATLASSIAN_OAUTH_SETTINGS = Symbol('AtlassianOauthSettings');

/** What an {@link AtlassianOauthClient} needs, checked. */
export interface AtlassianOauthClientOptions {
  clientId: string;
  clientSecret: string;
  tokenUrl: URL;
  authorizeUrl: URL;
  timeoutMs: number;
}

/**
 * The client's options from the settings.
 *
 * @throws AtlassianOauthClientConfigError naming `ATLASSIAN_CLIENT_ID`, `ATLASSIAN_CLIENT_SECRET`,
 *   `ATLASSIAN_OAUTH_TOKEN_URL` or `ATLASSIAN_OAUTH_AUTHORIZE_URL` when one is missing or not an
 *   https URL (http is accepted for 127.0.0.1, ::1 and localhost only: tests and local proxies).
 *   The message never repeats a value: the secret is one, and a URL may carry credentials.
 */
export function atlassianOauthClientOptions(settings: AtlassianOauthSettings): AtlassianOauthClientOptions {
  const timeoutMs = settings.tokenEndpointTimeoutMs ?? DEFAULT_TOKEN_ENDPOINT_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
    throw new AtlassianOauthClientConfigError(
      'The Atlassian token endpoint timeout must be a positive whole number of milliseconds.',
    );
  }
  return {
    clientId: required(settings.clientId, 'ATLASSIAN_CLIENT_ID'),
    clientSecret: required(settings.clientSecret, 'ATLASSIAN_CLIENT_SECRET'),
    tokenUrl: endpoint(settings.tokenUrl, 'ATLASSIAN_OAUTH_TOKEN_URL'),
    authorizeUrl: endpoint(settings.authorizeUrl, 'ATLASSIAN_OAUTH_AUTHORIZE_URL'),
    timeoutMs,
  };
}

function required(value: string | undefined, variable: string): string {
  if (value === undefined || value.trim() === '') {
    throw new AtlassianOauthClientConfigError(
      `${variable} is not set: the Atlassian OAuth client needs it to call Atlassian's token endpoint. ` +
        "Set it to the value of your app's Settings page in the Atlassian developer console.",
      variable,
    );
  }
  return value;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

function endpoint(value: string, variable: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new AtlassianOauthClientConfigError(`${variable} is not a valid absolute URL.`, variable);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))) {
    throw new AtlassianOauthClientConfigError(
      `${variable} must be an https URL (plain http only for 127.0.0.1, ::1 or localhost): tokens must not cross the network unencrypted.`,
      variable,
    );
  }
  return url;
}
