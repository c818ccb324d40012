import { createSecretKey } from 'node:crypto';
import { resolve } from 'node:path';
import { TokenKey } from './token-cipher';
import { TokenEncryptionConfigError } from './token-cipher.errors';

/** Where the embedded SQLite database lives when nothing else is configured. */
export const DEFAULT_DATABASE_PATH = 'data/agent-core.sqlite';

/** Bytes of an AES-256 key. */
export const TOKEN_KEY_BYTES = 32;

/** What a key id may look like: it is stored in every envelope, between `:` separators. */
const KEY_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

/** The database settings of agent-core, resolved once from the environment. */
export interface DatabaseConfig {
  /** Absolute path of the SQLite file, or `:memory:`. */
  readonly database: string;
  /** TypeORM query logging (`DATABASE_LOGGING=true`); token values are never logged. */
  readonly logging: boolean;
  /**
   * The token key ring from `OAUTH_STATE_ENCRYPTION_KEYS`, active key first. Empty means tokens are
   * stored in plaintext, which only happens outside production or with
   * `OAUTH_STATE_ALLOW_PLAINTEXT=true`.
   */
  readonly tokenKeys: readonly TokenKey[];
}

/**
 * Reads the database configuration: the one place that looks at `process.env` for it.
 *
 * - `DATABASE_PATH` names the SQLite file (relative paths resolve from the working directory).
 * - Otherwise `NODE_ENV=test` gives `:memory:`, as plan BJ-5 says.
 * - Otherwise the file is {@link DEFAULT_DATABASE_PATH}.
 * - `OAUTH_STATE_ENCRYPTION_KEYS` is the token key ring ({@link parseTokenKeys}).
 *
 * @throws TokenEncryptionConfigError for a malformed key entry, or for `NODE_ENV=production`
 *   without keys unless `OAUTH_STATE_ALLOW_PLAINTEXT=true`.
 */
export function loadDatabaseConfig(env: NodeJS.ProcessEnv = process.env): DatabaseConfig {
  const path = env.DATABASE_PATH?.trim();
  let database: string;
  if (path) {
    database = path === ':memory:' ? path : resolve(path);
  } else if (env.NODE_ENV === 'test') {
    database = ':memory:';
  } else {
    database = resolve(DEFAULT_DATABASE_PATH);
  }
  const tokenKeys = parseTokenKeys(env.OAUTH_STATE_ENCRYPTION_KEYS ?? '');
  if (tokenKeys.length === 0 && env.NODE_ENV === 'production' && env.OAUTH_STATE_ALLOW_PLAINTEXT !== 'true') {
    throw new TokenEncryptionConfigError(
      'NODE_ENV=production needs OAUTH_STATE_ENCRYPTION_KEYS so that OAuth tokens are encrypted at rest ' +
        '(generate a key with `openssl rand -base64 32`). Set OAUTH_STATE_ALLOW_PLAINTEXT=true to store them in plaintext on purpose.',
    );
  }
  return { database, logging: env.DATABASE_LOGGING === 'true', tokenKeys };
}

/**
 * Parses `OAUTH_STATE_ENCRYPTION_KEYS`: comma-separated `keyId:base64key` entries, each key 32
 * bytes of standard base64 (`openssl rand -base64 32`; the `=` padding may be left off). Blank means no keys.
 *
 * @returns the ring in the order given: the first key seals, all of them open.
 * @throws TokenEncryptionConfigError for an entry without `:`, an empty or ill-formed key id, a
 *   duplicate id, bad base64, or a key that is not 32 bytes. The message names the key id (or the
 *   entry's position when the id is unusable), never the key.
 */
export function parseTokenKeys(value: string): TokenKey[] {
  if (value.trim() === '') {
    return [];
  }
  const ring: TokenKey[] = [];
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
      throw new TokenEncryptionConfigError(`${position} has a key id that is not 1 to 64 of the characters A-Z a-z 0-9 _ . -`);
    }
    const named = `OAUTH_STATE_ENCRYPTION_KEYS key "${id}"`;
    if (ring.some((key) => key.id === id)) {
      throw new TokenEncryptionConfigError(`${named} is listed twice; every key id must be unique.`, id);
    }
    const bytes = Buffer.from(encoded, 'base64');
    // Buffer.from skips characters outside the alphabet; re-encoding shows whether any were there.
    if (encoded === '' || bytes.toString('base64').replace(/=+$/, '') !== encoded.replace(/=+$/, '')) {
      throw new TokenEncryptionConfigError(`${named} is not valid base64; generate one with \`openssl rand -base64 32\`.`, id);
    }
    if (bytes.length !== TOKEN_KEY_BYTES) {
      throw new TokenEncryptionConfigError(`${named} is ${bytes.length} bytes; it must be ${TOKEN_KEY_BYTES} (generate one with \`openssl rand -base64 32\`).`, id);
    }
    ring.push({ id, key: createSecretKey(bytes) });
    bytes.fill(0);
  });
  return ring;
}
