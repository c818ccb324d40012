import { Logger, Module } from '@nestjs/common';
import { TokenEncryptionConfig, tokenEncryptionConfig } from '../config/token-encryption.config';
import { TokenCipher } from './token-cipher';

/** Logged once at boot when no key ring is configured. */
export const PLAINTEXT_WARNING =
  'OAUTH_STATE_ENCRYPTION_KEYS is not set: Atlassian OAuth tokens are stored in plaintext. ' +
  'Set it (see docs/security.md) before this database holds real tokens.';

/** Builds the {@link TokenCipher} of a resolved configuration and warns once if it is in plaintext mode. */
export function createTokenCipher(config: TokenEncryptionConfig): TokenCipher {
  const cipher = new TokenCipher(config.keys, { acceptPlaintext: config.acceptPlaintextRows });
  if (!cipher.encrypts) {
    new Logger(TokenCipher.name).warn(PLAINTEXT_WARNING);
  }
  return cipher;
}

/**
 * Provides the {@link TokenCipher} of the application's `tokenEncryption` configuration (the key
 * ring of `OAUTH_STATE_ENCRYPTION_KEYS`), injected from the `AgentCoreConfigModule` that
 * `DatabaseModule` registers, so whichever module seals tokens uses the one ring read at boot.
 */
@Module({
  providers: [
    {
      provide: TokenCipher,
      useFactory: (config: TokenEncryptionConfig) => createTokenCipher(config),
      inject: [tokenEncryptionConfig.KEY],
    },
  ],
  exports: [TokenCipher],
})
export class TokenCipherModule {}
