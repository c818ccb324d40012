import { registerAs } from '@nestjs/config';
import { z } from 'zod';
import { HttpConfigError } from './config.errors';
import { Environment, flag, nodeEnvironment, optionalText, validateEnvironment } from './environment';

export { HttpConfigError } from './config.errors';

/** The `http` namespace of the configuration: the HTTP server, its consent flow and its metrics. */
export interface HttpConfig {
  /**
   * `PORT`: the public listener of `npm start` (default {@link DEFAULT_PORT}; 0 picks a free port):
   * only `/atlassian/authorize` and `/atlassian/callback`, what a customer's browser opens.
   */
  readonly port: number;
  /**
   * `INTERNAL_PORT`: the internal listener (default {@link DEFAULT_INTERNAL_PORT}; 0 picks a free
   * port): `POST /atlassian/authorizations`, `/health/*` and `/metrics`, for your services, the
   * orchestrator's probes and Prometheus. Never expose it.
   */
  readonly internalPort: number;
  /**
   * `INTERNAL_HOST`: the interface the internal listener binds (default {@link DEFAULT_INTERNAL_HOST},
   * every interface, so that probes and Prometheus reach it in a pod; `127.0.0.1` when only
   * processes on the same host call it).
   */
  readonly internalHost: string;
  /**
   * `AGENT_CORE_INTERNAL_TOKEN`: the bearer token internal callers present to start a consent.
   * Unset: the consent flow is not served. Never log it.
   */
  readonly internalToken: string | undefined;
  /**
   * `AGENT_CORE_RETURN_URLS`: comma-separated URLs a consent may send the browser back to. Each is
   * kept as origin plus path (`https://app.example.com/settings/atlassian`), the form a `returnTo`
   * is compared in; its query and fragment are ignored.
   */
  readonly returnUrls: readonly string[];
  /** `AGENT_CORE_PUBLIC_URL`: the service's URL as a browser reaches it; the consent callback hangs off it. */
  readonly publicUrl: URL | undefined;
  /** `METRICS_TENANT_LABELS=true`: label refresh metrics with the tenant (off: cardinality). */
  readonly metricsTenantLabels: boolean;
}

/** The public port unless `PORT` says otherwise. */
export const DEFAULT_PORT = 3000;

/** The internal port unless `INTERNAL_PORT` says otherwise. */
export const DEFAULT_INTERNAL_PORT = 3001;

/** The internal listener's interface unless `INTERNAL_HOST` says otherwise: every interface. */
export const DEFAULT_INTERNAL_HOST = '0.0.0.0';

const port = (fallback: number) =>
  optionalText
    .refine((value) => value === undefined || (/^\d{1,5}$/.test(value) && Number(value) <= 65_535), {
      error: 'must be a whole number from 0 to 65535',
    })
    .transform((value) => (value === undefined ? fallback : Number(value)));

/** Shortest `AGENT_CORE_INTERNAL_TOKEN` accepted: 32 characters, e.g. `openssl rand -base64 32` gives 44. */
export const MIN_INTERNAL_TOKEN_LENGTH = 32;

/**
 * Fewest distinct characters an `AGENT_CORE_INTERNAL_TOKEN` must have: a token of one repeated
 * character, or of a handful, is a placeholder or a typed password, not a generated secret
 * (`openssl rand -base64 32` gives about 30 distinct characters in 44).
 */
export const MIN_INTERNAL_TOKEN_DISTINCT_CHARACTERS = 16;

const httpUrl = (problem: string) => z.url({ protocol: /^https?$/, error: problem }).transform((text) => new URL(text));

/** The variables the HTTP server is configured by, as they must look; blank counts as unset. */
const httpEnvironment = z.object({
  PORT: port(DEFAULT_PORT),
  INTERNAL_PORT: port(DEFAULT_INTERNAL_PORT),
  INTERNAL_HOST: optionalText
    .refine((value) => value === undefined || /^[A-Za-z0-9.:[\]-]{1,253}$/.test(value), {
      error: 'must be a host name or an IP address, e.g. 127.0.0.1 or 0.0.0.0',
    })
    .transform((value) => value ?? DEFAULT_INTERNAL_HOST),
  // A secret is kept as written, never trimmed.
  AGENT_CORE_INTERNAL_TOKEN: z
    .string()
    .optional()
    .transform((value) => value || undefined)
    .refine((value) => value === undefined || value.length >= MIN_INTERNAL_TOKEN_LENGTH, {
      error: `must be at least ${MIN_INTERNAL_TOKEN_LENGTH} characters`,
    })
    .refine((value) => value === undefined || new Set(value).size >= MIN_INTERNAL_TOKEN_DISTINCT_CHARACTERS, {
      error:
        `has too little variety (fewer than ${MIN_INTERNAL_TOKEN_DISTINCT_CHARACTERS} distinct characters): ` +
        'generate a random one, e.g. openssl rand -base64 32',
    }),
  AGENT_CORE_RETURN_URLS: optionalText
    .transform((list) =>
      (list ?? '')
        .split(',')
        .map((entry) => entry.trim())
        .filter((entry) => entry !== ''),
    )
    .pipe(z.array(httpUrl('must list absolute http(s) URLs, separated by commas'))),
  AGENT_CORE_PUBLIC_URL: optionalText.pipe(httpUrl('must be an absolute http(s) URL').optional()),
  METRICS_TENANT_LABELS: flag,
  NODE_ENV: nodeEnvironment,
});

/**
 * With `NODE_ENV=production` the browser's way in and out must be https: the callback carries the
 * authorization code and the consent cookie, and a return URL over http would hand the customer,
 * fresh from Atlassian, to anyone on the path.
 */
const httpsInProduction = httpEnvironment.superRefine((vars, context) => {
  if (vars.NODE_ENV !== 'production') {
    return;
  }
  if (vars.AGENT_CORE_PUBLIC_URL && vars.AGENT_CORE_PUBLIC_URL.protocol !== 'https:') {
    context.addIssue({
      code: 'custom',
      path: ['AGENT_CORE_PUBLIC_URL'],
      message: 'must be an https URL with NODE_ENV=production',
    });
  }
  if (vars.AGENT_CORE_RETURN_URLS.some((url) => url.protocol !== 'https:')) {
    context.addIssue({
      code: 'custom',
      path: ['AGENT_CORE_RETURN_URLS'],
      message: 'must list only https URLs with NODE_ENV=production',
    });
  }
});

/**
 * Reads the `http` namespace from `env`.
 *
 * @throws HttpConfigError naming the variable for a port out of range, a short internal token or
 *   one of fewer than 16 distinct characters, a return or public URL that is not an absolute
 *   http(s) URL (https with `NODE_ENV=production`), or a tenant-labels flag that is
 *   neither `true` nor `false`. Whether the consent flow has all it needs is checked where it is
 *   served (`AtlassianOauthConsentModule`).
 */
export function readHttpConfig(env: Environment): HttpConfig {
  const vars = validateEnvironment(
    httpsInProduction,
    env,
    (variable, problem) => new HttpConfigError(`${variable} ${problem}`),
  );
  return {
    port: vars.PORT,
    internalPort: vars.INTERNAL_PORT,
    internalHost: vars.INTERNAL_HOST,
    internalToken: vars.AGENT_CORE_INTERNAL_TOKEN,
    returnUrls: vars.AGENT_CORE_RETURN_URLS.map(originAndPath),
    publicUrl: vars.AGENT_CORE_PUBLIC_URL,
    metricsTenantLabels: vars.METRICS_TENANT_LABELS,
  };
}

/** A URL's origin and path: what a `returnTo` is compared by, so neither its query nor its fragment can widen the list. */
export function originAndPath(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/**
 * The `http` namespace, for `ConfigModule`: read from `process.env` once when the application
 * boots, injected as `@Inject(httpConfig.KEY)`. Called with an environment, it reads that one.
 */
export const httpConfig = registerAs('http', (env: Environment = process.env) => readHttpConfig(env));
