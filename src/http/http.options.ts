import { z } from 'zod';

/** The HTTP surface's settings, read once from the environment by {@link loadHttpOptions}. */
export interface HttpOptions {
  /** `PORT`: where the HTTP server listens (default 3000; 0 picks a free port). */
  readonly port: number;
  /**
   * `AGENT_CORE_INTERNAL_TOKEN`: the bearer token internal callers present to start a consent.
   * Unset: nobody can start one (every such request is refused). Never log it.
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

/** The port unless `PORT` says otherwise. */
export const DEFAULT_PORT = 3000;

/** Shortest `AGENT_CORE_INTERNAL_TOKEN` accepted: 32 characters, e.g. `openssl rand -base64 32` gives 44. */
export const MIN_INTERNAL_TOKEN_LENGTH = 32;

/** A setting of the HTTP surface is invalid; the message names the variable, never its value when secret. */
export class HttpConfigError extends Error {
  override readonly name = 'HttpConfigError';
}

const httpUrl = (message: string) => z.url({ protocol: /^https?$/, error: message }).transform((text) => new URL(text));

const schema = z.object({
  PORT: z
    .string()
    .trim()
    .regex(/^\d+$/, 'PORT must be a whole number from 0 to 65535')
    .transform(Number)
    .refine((port) => port <= 65_535, 'PORT must be a whole number from 0 to 65535')
    .optional(),
  AGENT_CORE_INTERNAL_TOKEN: z
    .string()
    .min(
      MIN_INTERNAL_TOKEN_LENGTH,
      `AGENT_CORE_INTERNAL_TOKEN must be at least ${MIN_INTERNAL_TOKEN_LENGTH} characters`,
    )
    .optional(),
  AGENT_CORE_RETURN_URLS: z
    .string()
    .transform((list) =>
      list
        .split(',')
        .map((entry) => entry.trim())
        .filter((entry) => entry !== ''),
    )
    .pipe(z.array(httpUrl('AGENT_CORE_RETURN_URLS must list absolute http(s) URLs, separated by commas')))
    .optional(),
  AGENT_CORE_PUBLIC_URL: httpUrl('AGENT_CORE_PUBLIC_URL must be an absolute http(s) URL').optional(),
  METRICS_TENANT_LABELS: z
    .enum(['true', 'false'], { error: 'METRICS_TENANT_LABELS must be true or false' })
    .transform((value) => value === 'true')
    .optional(),
});

/**
 * Reads and checks the HTTP settings. Empty variables count as unset.
 *
 * @throws HttpConfigError naming the variable for a port out of range, a short internal token, a
 *   return or public URL that is not an absolute http(s) URL, or a tenant-labels flag that is
 *   neither `true` nor `false`.
 */
export function loadHttpOptions(env: NodeJS.ProcessEnv = process.env): HttpOptions {
  const present = Object.fromEntries(
    Object.keys(schema.shape)
      .map((name) => [name, env[name]])
      .filter(([, value]) => value !== undefined && value !== ''),
  ) as Record<string, string>;
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    throw new HttpConfigError(parsed.error.issues.map((issue) => issue.message).join('; '));
  }
  const vars = parsed.data;
  return {
    port: vars.PORT ?? DEFAULT_PORT,
    internalToken: vars.AGENT_CORE_INTERNAL_TOKEN,
    returnUrls: (vars.AGENT_CORE_RETURN_URLS ?? []).map(originAndPath),
    publicUrl: vars.AGENT_CORE_PUBLIC_URL,
    metricsTenantLabels: vars.METRICS_TENANT_LABELS ?? false,
  };
}

/** A URL's origin and path: what a `returnTo` is compared by, so neither its query nor its fragment can widen the list. */
export function originAndPath(url: URL): string {
  return `${url.origin}${url.pathname}`;
}
