import { AtlassianConfig, atlassianConfig } from './atlassian.config';
import { DatabaseConfig, databaseConfig } from './database.config';
import { Environment } from './environment';
import { HttpConfig, httpConfig } from './http.config';
import { TokenEncryptionConfig, tokenEncryptionConfig } from './token-encryption.config';

/**
 * The whole configuration of agent-core, one namespace per concern. Each namespace has a file of its
 * own in `src/config/` (a zod schema of its variables, a reader, and its `registerAs` namespace);
 * a new one is added here, in {@link loadConfig} and in {@link CONFIG_NAMESPACES}.
 */
export interface AgentCoreConfig {
  readonly database: DatabaseConfig;
  readonly tokenEncryption: TokenEncryptionConfig;
  readonly atlassian: AtlassianConfig;
  readonly http: HttpConfig;
}

/** Every `registerAs` namespace, under its key in {@link AgentCoreConfig}. */
export const CONFIG_NAMESPACES = {
  database: databaseConfig,
  tokenEncryption: tokenEncryptionConfig,
  atlassian: atlassianConfig,
  http: httpConfig,
} as const satisfies Record<keyof AgentCoreConfig, unknown>;

/**
 * Reads and validates the whole configuration from `env`, once: what code outside Nest's container
 * (the CLI, the TypeORM CLI's `data-source.ts`) calls, with the same readers the application's
 * `ConfigModule` uses.
 *
 * @throws TokenEncryptionConfigError for a key ring that cannot be used (checked first, as it
 *   decides whether tokens are safe at all), then DatabaseConfigError for database settings; each
 *   message names the variable and never a key or a password; HttpConfigError for the HTTP server's.
 */
export function loadConfig(env: Environment = process.env): AgentCoreConfig {
  const tokenEncryption = tokenEncryptionConfig(env);
  return {
    database: databaseConfig(env),
    tokenEncryption,
    atlassian: atlassianConfig(env),
    http: httpConfig(env),
  };
}
