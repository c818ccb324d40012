import { Logger, Module } from '@nestjs/common';
import { DatabaseConfig, loadDatabaseConfig } from '../database/database.config';
import { TokenCipher } from './token-cipher';

/** Logged once at boot when no key ring is configured. */
export const PLAINTEXT_WARNING =
  'OAUTH_STATE_ENCRYPTION_KEYS is not set: Atlassian OAuth tokens are stored in plaintext. ' +
  'Set it (see the README, Security) before this database holds real tokens.';

/** Builds the {@link TokenCipher} of a resolved configuration and warns once if it is in plaintext mode. */
export function createTokenCipher(config: DatabaseConfig): TokenCipher {
  const cipher = new TokenCipher(config.tokenKeys);
  if (!cipher.encrypts) {
    new Logger(TokenCipher.name).warn(PLAINTEXT_WARNING);
  }
  return cipher;
}

/**
 * Provides the {@link TokenCipher} configured by `OAUTH_STATE_ENCRYPTION_KEYS`.
 *
 * `AtlassianModule` imports it, so whatever TypeORM connection an application brings, its tokens
 * are sealed with the same ring. Creating it fails with `TokenEncryptionConfigError` (and so does
 * the application's boot) for a malformed key entry, or for `NODE_ENV=production` without keys
 * unless `OAUTH_STATE_ALLOW_PLAINTEXT=true`.
 */
@Module({
  providers: [{ provide: TokenCipher, useFactory: () => createTokenCipher(loadDatabaseConfig()) }],
  exports: [TokenCipher],
})
export class TokenCipherModule {}
