import { registerAs } from '@nestjs/config';
import { z } from 'zod';
import { Environment, validateEnvironment } from './environment';

export const DEFAULT_ATLASSIAN_OAUTH_TOKEN_URL = 'https://auth.atlassian.com/oauth/token';
export const DEFAULT_ATLASSIAN_OAUTH_AUTHORIZE_URL = 'https://auth.atlassian.com/authorize';

/**
 * The `atlassian` namespace of the configuration: the OAuth 2.0 (3LO) app and its endpoints, as
 * configured. The client id and secret may be absent and nothing here is refused: a service that
 * only stores tokens never talks to Atlassian. The modules that do call Atlassian check these
 * values when they boot and refuse, naming the variable (`AtlassianOauthClientConfigError`).
 */
export interface AtlassianConfig {
  /** `ATLASSIAN_CLIENT_ID` */
  readonly clientId?: string;
  /** `ATLASSIAN_CLIENT_SECRET` */
  readonly clientSecret?: string;
  /** `ATLASSIAN_OAUTH_TOKEN_URL`, {@link DEFAULT_ATLASSIAN_OAUTH_TOKEN_URL} when unset or empty. */
  readonly tokenUrl: string;
  /** `ATLASSIAN_OAUTH_AUTHORIZE_URL`, {@link DEFAULT_ATLASSIAN_OAUTH_AUTHORIZE_URL} when unset or empty. */
  readonly authorizeUrl: string;
  /** `ATLASSIAN_REFRESH_COOLDOWN_MS` as a number (NaN for a non-number, refused where it is used), or unset. */
  readonly refreshCooldownMs?: number;
  /** `ATLASSIAN_KEEPALIVE_INTERVAL_MS` as a number (NaN for a non-number, refused where it is used), or unset. */
  readonly keepAliveIntervalMs?: number;
}

/** The variables the Atlassian app is configured by. Values are kept as written: a secret is never trimmed. */
const atlassianEnvironment = z.object({
  ATLASSIAN_CLIENT_ID: z.string().optional(),
  ATLASSIAN_CLIENT_SECRET: z.string().optional(),
  ATLASSIAN_OAUTH_TOKEN_URL: z
    .string()
    .optional()
    .transform((value) => value || DEFAULT_ATLASSIAN_OAUTH_TOKEN_URL),
  ATLASSIAN_OAUTH_AUTHORIZE_URL: z
    .string()
    .optional()
    .transform((value) => value || DEFAULT_ATLASSIAN_OAUTH_AUTHORIZE_URL),
  ATLASSIAN_REFRESH_COOLDOWN_MS: z
    .string()
    .optional()
    .transform((value) => (value ? Number(value) : undefined)),
  ATLASSIAN_KEEPALIVE_INTERVAL_MS: z
    .string()
    .optional()
    .transform((value) => (value ? Number(value) : undefined)),
});

/** Reads the `atlassian` namespace from `env`, with the documented defaults. */
export function readAtlassianConfig(env: Environment): AtlassianConfig {
  const vars = validateEnvironment(
    atlassianEnvironment,
    env,
    (variable, problem) => new Error(`Invalid Atlassian configuration: ${variable} ${problem}.`),
  );
  return {
    clientId: vars.ATLASSIAN_CLIENT_ID,
    clientSecret: vars.ATLASSIAN_CLIENT_SECRET,
    tokenUrl: vars.ATLASSIAN_OAUTH_TOKEN_URL,
    authorizeUrl: vars.ATLASSIAN_OAUTH_AUTHORIZE_URL,
    refreshCooldownMs: vars.ATLASSIAN_REFRESH_COOLDOWN_MS,
    keepAliveIntervalMs: vars.ATLASSIAN_KEEPALIVE_INTERVAL_MS,
  };
}

/**
 * The `atlassian` namespace, for `ConfigModule`: read from `process.env` once when the application
 * boots, injected as `@Inject(atlassianConfig.KEY)`. Called with an environment, it reads that one.
 */
export const atlassianConfig = registerAs('atlassian', (env: Environment = process.env) => readAtlassianConfig(env));
