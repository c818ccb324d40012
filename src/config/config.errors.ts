/**
 * Every error the configuration is refused with. Each names the variable at fault and never its
 * value when that value can be a secret (a key, a password, a client secret, a bearer token). They
 * live here, on the ground floor, so that `src/config/` imports nothing else from `src/`; the
 * layers above re-export the ones they document (`database/database.errors.ts`,
 * `token-cipher/token-cipher.errors.ts`, `atlassian/client/atlassian-oauth-client.errors.ts`).
 */

/**
 * The database configuration in the environment is unusable: thrown at boot, before any
 * connection is tried. The message names the variable and what it must be; it never contains a
 * password.
 */
export class DatabaseConfigError extends Error {
  override readonly name = 'DatabaseConfigError';

  constructor(
    /** The environment variable at fault, e.g. `DATABASE_URL`. */
    readonly variable: string,
    problem: string,
  ) {
    super(`Invalid database configuration: ${variable} ${problem}.`);
  }
}

/**
 * The token encryption settings cannot be used: a malformed `OAUTH_STATE_ENCRYPTION_KEYS` entry,
 * or `NODE_ENV=production` without keys. Thrown while the application boots, so the service never
 * starts with a key ring it cannot trust. The message names the key id (or the entry's position
 * when it has no usable id), never the key.
 */
export class TokenEncryptionConfigError extends Error {
  override readonly name = 'TokenEncryptionConfigError';

  constructor(
    message: string,
    /** The key id of the offending entry, when it has one. */
    readonly keyId?: string,
  ) {
    super(message);
  }
}

/** A setting of the HTTP server is invalid; the message names the variable, never a secret's value. */
export class HttpConfigError extends Error {
  override readonly name = 'HttpConfigError';
}

/**
 * The Atlassian OAuth client is not configured, or Atlassian does not accept its credentials
 * (`invalid_client`, `unauthorized_client`, or a 401). `variable` names the environment variable
 * to fix when one is missing or malformed. Thrown when the configuration loads (a malformed
 * `ATLASSIAN_*` value), at boot by the module that provides the client (no client id or secret),
 * and by any call the token endpoint refuses this way; retrying with the same configuration
 * cannot help.
 */
export class AtlassianOauthClientConfigError extends Error {
  override readonly name = 'AtlassianOauthClientConfigError';

  constructor(
    message: string,
    /** The variable to fix, e.g. `ATLASSIAN_CLIENT_ID`, when one is at fault. */
    readonly variable: string | null = null,
  ) {
    super(message);
  }
}

/** `LOG_LEVEL` is neither `log` nor `debug`. */
export class LoggingConfigError extends Error {
  override readonly name = 'LoggingConfigError';

  constructor(
    /** The variable at fault: `LOG_LEVEL`. */
    readonly variable: string,
    problem: string,
  ) {
    super(`Invalid logging configuration: ${variable} ${problem}.`);
  }
}
