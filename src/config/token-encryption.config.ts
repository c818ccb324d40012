import { createSecretKey, KeyObject } from 'node:crypto';
import { channel } from 'node:diagnostics_channel';
import { registerAs } from '@nestjs/config';
import { z } from 'zod';
import { TokenEncryptionConfigError } from './config.errors';
import { Environment, flag, nodeEnvironment, validateEnvironment } from './environment';

/** One entry of the key ring: an id (stored in every envelope it seals) and a 32-byte AES key. */
export interface TokenKey {
  readonly id: string;
  /** A secret `KeyObject`, which neither `util.inspect` nor `JSON.stringify` can print. */
  readonly key: KeyObject;
}

/** Bytes of an AES-256 key. */
export const TOKEN_KEY_BYTES = 32;

/**
 * What a key id may look like: it is stored in every envelope, between `:` separators. At most 32
 * characters, so that a key written where its id belongs (43-44 base64 characters) is never taken
 * for an id and quoted in an error message.
 */
const KEY_ID_PATTERN = /^[A-Za-z0-9_.-]{1,32}$/;

/**
 * The diagnostics channel that {@link parseTokenKeys} publishes `{ keys }` (how many, never a key)
 * on after every parse of a key ring. The ring is meant to be parsed once per process; a
 * subscriber (a test, a tracer) can see that it is. Publishing costs nothing without one.
 */
export const TOKEN_KEY_RING_PARSED_CHANNEL = 'agent-core:config:token-key-ring-parsed';
const keyRingParsed = channel(TOKEN_KEY_RING_PARSED_CHANNEL);

/** The `tokenEncryption` namespace of the configuration. */
export interface TokenEncryptionConfig {
  /**
   * The token key ring from `OAUTH_STATE_ENCRYPTION_KEYS`, active key first. Empty means tokens are
   * stored in plaintext, which only happens outside production or with
   * `OAUTH_STATE_ALLOW_PLAINTEXT=true`.
   */
  readonly keys: readonly TokenKey[];
  /**
   * `OAUTH_STATE_ACCEPT_PLAINTEXT_ROWS=true`: while keys are configured, a stored token that is not a
   * sealed envelope is still read (and `reencryptAll` seals it). Only for the migration window from
   * plaintext to encrypted; otherwise such a row is refused as tampered with (`TokenIntegrityError`).
   */
  readonly acceptPlaintextRows: boolean;
}

/** The variables token encryption is configured by, as they must look. */
const tokenEncryptionEnvironment = z.object({
  NODE_ENV: nodeEnvironment,
  OAUTH_STATE_ENCRYPTION_KEYS: z.string().optional(),
  OAUTH_STATE_ALLOW_PLAINTEXT: flag,
  OAUTH_STATE_ACCEPT_PLAINTEXT_ROWS: flag,
});

/**
 * Reads the `tokenEncryption` namespace from `env`: the key ring of `OAUTH_STATE_ENCRYPTION_KEYS`
 * ({@link parseTokenKeys}), whether legacy plaintext rows are still read
 * (`OAUTH_STATE_ACCEPT_PLAINTEXT_ROWS`), and the rule that production never stores tokens in
 * plaintext by accident. `NODE_ENV` is compared ignoring case and surrounding space.
 *
 * @throws TokenEncryptionConfigError for a malformed key entry, or for `NODE_ENV=production`
 *   without keys unless `OAUTH_STATE_ALLOW_PLAINTEXT=true`.
 */
export function readTokenEncryptionConfig(env: Environment): TokenEncryptionConfig {
  const vars = validateEnvironment(
    tokenEncryptionEnvironment,
    env,
    (variable, problem) => new TokenEncryptionConfigError(`${variable} ${problem}.`),
  );
  const keys = parseTokenKeys(vars.OAUTH_STATE_ENCRYPTION_KEYS ?? '');
  if (keys.length === 0 && vars.NODE_ENV === 'production' && !vars.OAUTH_STATE_ALLOW_PLAINTEXT) {
    throw new TokenEncryptionConfigError(
      'NODE_ENV=production needs OAUTH_STATE_ENCRYPTION_KEYS so that OAuth tokens are encrypted at rest ' +
        '(generate a key with `openssl rand -base64 32`). Set OAUTH_STATE_ALLOW_PLAINTEXT=true to store them in plaintext on purpose.',
    );
  }
  return { keys, acceptPlaintextRows: vars.OAUTH_STATE_ACCEPT_PLAINTEXT_ROWS };
}

/**
 * The `tokenEncryption` namespace, for `ConfigModule`: read from `process.env` once when the
 * application boots, injected as `@Inject(tokenEncryptionConfig.KEY)`. Called with an
 * environment, it reads that one.
 */
export const tokenEncryptionConfig = registerAs('tokenEncryption', (env: Environment = process.env) =>
  readTokenEncryptionConfig(env),
);

/**
 * Parses `OAUTH_STATE_ENCRYPTION_KEYS`: comma-separated `keyId:base64key` entries, each key 32
 * bytes of standard base64 (`openssl rand -base64 32`; the `=` padding may be left off). Blank means no keys.
 *
 * @returns the ring in the order given: the first key seals, all of them open.
 * @throws TokenEncryptionConfigError for an entry without `:`, an empty or ill-formed key id, a
 *   duplicate id, bad base64, a key that is not 32 bytes, a key of one repeated byte (all zero: a
 *   placeholder, not a secret), or the same key bytes under two ids (a ring that looks rotated but
 *   is not). The message names the key ids (or the entry's position when the id is unusable),
 *   never the key.
 */
export function parseTokenKeys(value: string): TokenKey[] {
  const ring: TokenKey[] = [];
  if (value.trim() !== '') {
    value.split(',').forEach((rawEntry, index) => {
      const position = `OAUTH_STATE_ENCRYPTION_KEYS entry #${index + 1}`;
      const entry = rawEntry.trim();
      const colon = entry.indexOf(':');
      if (colon < 0) {
        throw new TokenEncryptionConfigError(`${position} is not of the form keyId:base64key.`);
      }
      const id = entry.slice(0, colon).trim();
      const encoded = entry.slice(colon + 1).trim();
      if (id === '') {
        throw new TokenEncryptionConfigError(`${position} has an empty key id; write it as keyId:base64key.`);
      }
      if (!KEY_ID_PATTERN.test(id)) {
        throw new TokenEncryptionConfigError(
          `${position} has a key id that is not 1 to 32 of the characters A-Z a-z 0-9 _ . -`,
        );
      }
      const named = `OAUTH_STATE_ENCRYPTION_KEYS key "${id}"`;
      if (ring.some((key) => key.id === id)) {
        throw new TokenEncryptionConfigError(`${named} is listed twice; every key id must be unique.`, id);
      }
      const bytes = Buffer.from(encoded, 'base64');
      // Buffer.from skips characters outside the alphabet; re-encoding shows whether any were there.
      if (encoded === '' || bytes.toString('base64').replace(/=+$/, '') !== encoded.replace(/=+$/, '')) {
        throw new TokenEncryptionConfigError(
          `${named} is not valid base64; generate one with \`openssl rand -base64 32\`.`,
          id,
        );
      }
      if (bytes.length !== TOKEN_KEY_BYTES) {
        throw new TokenEncryptionConfigError(
          `${named} is ${bytes.length} bytes; it must be ${TOKEN_KEY_BYTES} (generate one with \`openssl rand -base64 32\`).`,
          id,
        );
      }
      if (bytes.every((byte) => byte === bytes[0])) {
        bytes.fill(0);
        throw new TokenEncryptionConfigError(
          `${named} is one byte repeated (e.g. all zero), a placeholder rather than a secret; generate one with \`openssl rand -base64 32\`.`,
          id,
        );
      }
      const key = createSecretKey(bytes);
      bytes.fill(0);
      // KeyObject.equals compares the secret bytes without exporting them.
      const twin = ring.find((other) => other.key.equals(key));
      if (twin) {
        throw new TokenEncryptionConfigError(
          `${named} has the same key bytes as key "${twin.id}"; every key id needs a key of its own (a rotation needs a new key).`,
          id,
        );
      }
      ring.push({ id, key });
    });
  }
  keyRingParsed.publish({ keys: ring.length });
  return ring;
}
