import { registerAs } from '@nestjs/config';
import { z } from 'zod';
import { AtlassianOauthClientConfigError } from './config.errors';
import {
  Environment,
  flag,
  nonNegativeInteger,
  optionalText,
  positiveInteger,
  validateEnvironment,
} from './environment';

export const DEFAULT_ATLASSIAN_OAUTH_TOKEN_URL = 'https://auth.atlassian.com/oauth/token';
export const DEFAULT_ATLASSIAN_OAUTH_AUTHORIZE_URL = 'https://auth.atlassian.com/authorize';
/** Where Atlassian's cloud REST APIs and `oauth/token/accessible-resources` live (`ATLASSIAN_API_BASE_URL`). */
export const DEFAULT_ATLASSIAN_API_BASE_URL = 'https://api.atlassian.com';
/** How long one call to Atlassian's REST APIs may take, answer included. */
export const DEFAULT_ATLASSIAN_API_TIMEOUT_MS = 10_000;
/** Default `ATLASSIAN_API_MAX_CONCURRENCY_PER_TENANT`: calls of one tenant in flight at once in a process. */
export const DEFAULT_API_MAX_CONCURRENCY_PER_TENANT = 4;
/** Well under the rotation lease (30 s by default), so a hung request never outlives the lease. */
export const DEFAULT_TOKEN_ENDPOINT_TIMEOUT_MS = 10_000;
/** How long a key waits after a transient refresh failure before its next refresh is tried (`ATLASSIAN_REFRESH_COOLDOWN_MS`). */
export const DEFAULT_REFRESH_COOLDOWN_MS = 30_000;
/** Default `ATLASSIAN_KEEPALIVE_INTERVAL_MS`: once a day. */
export const DEFAULT_KEEP_ALIVE_INTERVAL_MS = 24 * 3_600_000;
/** Node's longest timer (about 24.8 days): a longer keep-alive interval would fire at once. */
export const MAX_KEEP_ALIVE_INTERVAL_MS = 2_147_483_647;

/**
 * The `atlassian` namespace of the configuration: the OAuth 2.0 (3LO) app, its endpoints and the
 * timings of refreshing, every value validated when the configuration loads. The client id and
 * secret may be absent: a service that only stores tokens never talks to Atlassian, and the modules
 * that do call Atlassian refuse to boot without them, naming the variable
 * (`AtlassianOauthClientConfigError`). Tests hand the Atlassian modules an object of this type
 * (`ATLASSIAN_OAUTH_SETTINGS`) to point them at a local OAuth server.
 */
export interface AtlassianConfig {
  /** `ATLASSIAN_CLIENT_ID`; a blank value counts as unset. */
  readonly clientId?: string;
  /** `ATLASSIAN_CLIENT_SECRET`, kept as written (never trimmed); a blank value counts as unset. */
  readonly clientSecret?: string;
  /** `ATLASSIAN_OAUTH_TOKEN_URL`, {@link DEFAULT_ATLASSIAN_OAUTH_TOKEN_URL} when unset: https, or http on a loopback host. */
  readonly tokenUrl: string;
  /** `ATLASSIAN_OAUTH_AUTHORIZE_URL`, {@link DEFAULT_ATLASSIAN_OAUTH_AUTHORIZE_URL} when unset: https, or http on a loopback host. */
  readonly authorizeUrl: string;
  /**
   * `ATLASSIAN_API_BASE_URL`, {@link DEFAULT_ATLASSIAN_API_BASE_URL} when unset: https, or http on a
   * loopback host. Atlassian's REST APIs (`/ex/<platform>/<cloudId>/...`) and `accessible-resources`.
   */
  readonly apiBaseUrl: string;
  /**
   * How long one call to Atlassian's REST APIs may take, answer included: {@link DEFAULT_ATLASSIAN_API_TIMEOUT_MS}.
   * Not read from the environment (tests shorten it).
   */
  readonly apiTimeoutMs: number;
  /**
   * `ATLASSIAN_TOKEN_ENDPOINT_TIMEOUT_MS`: how long one token endpoint request may take, answer
   * included, {@link DEFAULT_TOKEN_ENDPOINT_TIMEOUT_MS} when unset; keep it under the rotation lease.
   */
  readonly tokenEndpointTimeoutMs: number;
  /** `ATLASSIAN_REFRESH_COOLDOWN_MS`: the token service's wait after a transient refresh failure, {@link DEFAULT_REFRESH_COOLDOWN_MS} when unset. */
  readonly refreshCooldownMs: number;
  /** `ATLASSIAN_KEEPALIVE_INTERVAL_MS`: how often the service sweeps idle grants (`0`: never), {@link DEFAULT_KEEP_ALIVE_INTERVAL_MS} when unset. */
  readonly keepAliveIntervalMs: number;
  /**
   * `ATLASSIAN_OAUTH_PKCE=true`: the consent flow sends a PKCE S256 challenge (RFC 7636) and its
   * verifier with the code exchange. Off by default: Atlassian does not document PKCE for 3LO.
   */
  readonly pkce: boolean;
  /** `ATLASSIAN_API_MAX_CONCURRENCY_PER_TENANT`: a whole number from 1, {@link DEFAULT_API_MAX_CONCURRENCY_PER_TENANT} when unset. */
  readonly apiMaxConcurrencyPerTenant: number;
  /**
   * `ATLASSIAN_API_MAX_REQUESTS_PER_SECOND`: this process's ceiling on REST calls to Atlassian a
   * second, on average, the waiting tenants served in turn (`AtlassianApiPacer`); decimals allowed;
   * `0` when unset: no ceiling.
   */
  readonly apiMaxRequestsPerSecond: number;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/**
 * An endpoint URL, `fallback` when unset or blank: absolute, and https (plain http only on a
 * loopback host: tests and local proxies), so no token crosses the network unencrypted. The
 * message never repeats the value: a URL may carry credentials.
 */
const endpointUrl = (fallback: string) =>
  z
    .string()
    .optional()
    .transform((value) => value?.trim() || fallback)
    .superRefine((value, context) => {
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        context.addIssue({ code: 'custom', message: 'is not a valid absolute URL' });
        return;
      }
      if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))) {
        context.addIssue({
          code: 'custom',
          message:
            'must be an https URL (plain http only for 127.0.0.1, ::1 or localhost): tokens must not cross the network unencrypted',
        });
      }
    });

/** A credential kept exactly as written (a secret is never trimmed); blank counts as unset. */
const credential = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value));

/** Milliseconds: a whole number from 0 to `max`, `fallback` when unset or blank. */
const milliseconds = (fallback: number, max = Number.MAX_SAFE_INTEGER) =>
  nonNegativeInteger(fallback).refine(
    (value) => Number.isSafeInteger(value) && value <= max,
    `must be at most ${max} (milliseconds)`,
  );

/** Requests per second: a decimal number of 0 or more (`2`, `0.5`), 0 when unset or blank. */
const requestsPerSecond = optionalText
  .refine(
    (value) => value === undefined || (/^(0|[1-9][0-9]*)(\.[0-9]+)?$/.test(value) && Number(value) <= 1_000_000),
    'must be a number of requests per second from 0 to 1000000 (0: no ceiling)',
  )
  .transform((value) => (value === undefined ? 0 : Number(value)));

/** The variables the Atlassian app is configured by, as they must look. */
const atlassianEnvironment = z.object({
  ATLASSIAN_CLIENT_ID: credential,
  ATLASSIAN_CLIENT_SECRET: credential,
  ATLASSIAN_OAUTH_TOKEN_URL: endpointUrl(DEFAULT_ATLASSIAN_OAUTH_TOKEN_URL),
  ATLASSIAN_OAUTH_AUTHORIZE_URL: endpointUrl(DEFAULT_ATLASSIAN_OAUTH_AUTHORIZE_URL),
  ATLASSIAN_API_BASE_URL: endpointUrl(DEFAULT_ATLASSIAN_API_BASE_URL),
  ATLASSIAN_REFRESH_COOLDOWN_MS: milliseconds(DEFAULT_REFRESH_COOLDOWN_MS),
  ATLASSIAN_KEEPALIVE_INTERVAL_MS: milliseconds(DEFAULT_KEEP_ALIVE_INTERVAL_MS, MAX_KEEP_ALIVE_INTERVAL_MS),
  ATLASSIAN_OAUTH_PKCE: flag,
  ATLASSIAN_TOKEN_ENDPOINT_TIMEOUT_MS: positiveInteger(DEFAULT_TOKEN_ENDPOINT_TIMEOUT_MS),
  ATLASSIAN_API_MAX_CONCURRENCY_PER_TENANT: positiveInteger(DEFAULT_API_MAX_CONCURRENCY_PER_TENANT).refine(
    (value) => value <= 1_000,
    'must be at most 1000',
  ),
  ATLASSIAN_API_MAX_REQUESTS_PER_SECOND: requestsPerSecond,
});

/**
 * Reads the `atlassian` namespace from `env`, with the documented defaults.
 *
 * @throws AtlassianOauthClientConfigError naming the variable (`variable`) for an endpoint URL that
 *   is not absolute or not https (http on a loopback host only), a cooldown or keep-alive
 *   interval that is not a whole number of milliseconds in range, or a token endpoint timeout that
 *   is not a positive whole number of milliseconds. The message never repeats the
 *   value.
 */
export function readAtlassianConfig(env: Environment): AtlassianConfig {
  const vars = validateEnvironment(
    atlassianEnvironment,
    env,
    (variable, problem) =>
      new AtlassianOauthClientConfigError(`Invalid Atlassian configuration: ${variable} ${problem}.`, variable),
  );
  return {
    clientId: vars.ATLASSIAN_CLIENT_ID,
    clientSecret: vars.ATLASSIAN_CLIENT_SECRET,
    tokenUrl: vars.ATLASSIAN_OAUTH_TOKEN_URL,
    authorizeUrl: vars.ATLASSIAN_OAUTH_AUTHORIZE_URL,
    apiBaseUrl: vars.ATLASSIAN_API_BASE_URL,
    apiTimeoutMs: DEFAULT_ATLASSIAN_API_TIMEOUT_MS,
    tokenEndpointTimeoutMs: vars.ATLASSIAN_TOKEN_ENDPOINT_TIMEOUT_MS,
    refreshCooldownMs: vars.ATLASSIAN_REFRESH_COOLDOWN_MS,
    keepAliveIntervalMs: vars.ATLASSIAN_KEEPALIVE_INTERVAL_MS,
    pkce: vars.ATLASSIAN_OAUTH_PKCE,
    apiMaxConcurrencyPerTenant: vars.ATLASSIAN_API_MAX_CONCURRENCY_PER_TENANT,
    apiMaxRequestsPerSecond: vars.ATLASSIAN_API_MAX_REQUESTS_PER_SECOND,
  };
}

/**
 * The `atlassian` namespace, for `ConfigModule`: read from `process.env` once when the application
 * boots, injected as `@Inject(atlassianConfig.KEY)`. Called with an environment, it reads that one.
 */
export const atlassianConfig = registerAs('atlassian', (env: Environment = process.env) => readAtlassianConfig(env));
