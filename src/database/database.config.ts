import { createSecretKey } from 'node:crypto';
import { resolve } from 'node:path';
import { DatabaseConfigError } from './database.errors';
import { TokenKey } from '../token-cipher/token-cipher';
import { TokenEncryptionConfigError } from '../token-cipher/token-cipher.errors';

/** Where the embedded SQLite database lives when nothing else is configured. */
export const DEFAULT_DATABASE_PATH = 'data/agent-core.sqlite';

/** Bytes of an AES-256 key. */
export const TOKEN_KEY_BYTES = 32;

/**
 * What a key id may look like: it is stored in every envelope, between `:` separators. At most 32
 * characters, so that a key written where its id belongs (43-44 base64 characters) is never taken
 * for an id and quoted in an error message.
 */
const KEY_ID_PATTERN = /^[A-Za-z0-9_.-]{1,32}$/;

/** Connections per process to a server database unless `DATABASE_POOL_SIZE` says otherwise. */
export const DEFAULT_POOL_SIZE = 10;

/** How long connecting to a server database may take unless `DATABASE_CONNECT_TIMEOUT_MS` says otherwise. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** The TypeORM driver of a server database: `postgres` (through `pg`) or `mysql` (MariaDB and MySQL, through `mysql2`). */
export type ServerDatabaseType = 'postgres' | 'mysql';

/** URL scheme of `DATABASE_URL` -> the server database it selects, and that server's default port. */
const SERVER_SCHEMES: Readonly<
  Record<string, { type: ServerDatabaseType; dialect: ServerDatabaseConfig['dialect']; defaultPort: number }>
> = {
  'postgres:': { type: 'postgres', dialect: 'postgres', defaultPort: 5432 },
  'postgresql:': { type: 'postgres', dialect: 'postgres', defaultPort: 5432 },
  'mysql:': { type: 'mysql', dialect: 'mysql', defaultPort: 3306 },
  'mariadb:': { type: 'mysql', dialect: 'mariadb', defaultPort: 3306 },
};

/** What every engine's configuration has. */
interface CommonDatabaseConfig {
  /** TypeORM query logging (`DATABASE_LOGGING=true`); token values are never logged. */
  readonly logging: boolean;
  /**
   * The token key ring from `OAUTH_STATE_ENCRYPTION_KEYS`, active key first. Empty means tokens are
   * stored in plaintext, which only happens outside production or with
   * `OAUTH_STATE_ALLOW_PLAINTEXT=true`.
   */
  readonly tokenKeys: readonly TokenKey[];
}

/** The embedded SQLite database: the default, and plan BJ-5's only engine. */
export interface SqliteDatabaseConfig extends CommonDatabaseConfig {
  readonly type: 'better-sqlite3';
  /** Absolute path of the SQLite file, or `:memory:`. */
  readonly database: string;
  /** What to tell a human about where the data is: the file path. */
  readonly location: string;
}

/** A PostgreSQL, MariaDB or MySQL server, chosen by `DATABASE_URL`. */
export interface ServerDatabaseConfig extends CommonDatabaseConfig {
  /** Which server family, and so which set of migrations. */
  readonly type: ServerDatabaseType;
  /**
   * The TypeORM driver type the URL asks for: `mariadb://` is `mariadb`. A `mysql://` URL that
   * turns out to reach a MariaDB server is switched to `mariadb` when it connects.
   */
  readonly dialect: 'postgres' | 'mysql' | 'mariadb';
  readonly host: string;
  readonly port: number;
  /** The database (schema, on MariaDB/MySQL) name from the URL's path. */
  readonly database: string;
  /** The login; unset lets the driver pick its default (e.g. `PGUSER`). */
  readonly username: string | undefined;
  /** The password from the URL. Never log it; {@link location} is the printable form. */
  readonly password: string | undefined;
  /** `DATABASE_URL` with the password replaced by `***`: safe to print. */
  readonly location: string;
  /** Maximum connections in this process's pool (`DATABASE_POOL_SIZE`). */
  readonly poolSize: number;
  /** Connect timeout in milliseconds (`DATABASE_CONNECT_TIMEOUT_MS`). */
  readonly connectTimeoutMs: number;
}

/** The database settings of agent-core, resolved once from the environment. */
export type DatabaseConfig = SqliteDatabaseConfig | ServerDatabaseConfig;

/**
 * Reads the database configuration: the one place that looks at `process.env` for it.
 *
 * - `DATABASE_URL` selects a server: `postgres://` or `postgresql://` is PostgreSQL,
 *   `mysql://` or `mariadb://` is MariaDB/MySQL, as `scheme://user:password@host:port/database`
 *   (user and password percent-encoded). `DATABASE_POOL_SIZE` and `DATABASE_CONNECT_TIMEOUT_MS`
 *   tune the connection pool.
 * - Without it, SQLite: `DATABASE_PATH` names the file (relative paths resolve from the working
 *   directory); otherwise `NODE_ENV=test` gives `:memory:`, as plan BJ-5 says; otherwise the file
 *   is {@link DEFAULT_DATABASE_PATH}.
 * - `OAUTH_STATE_ENCRYPTION_KEYS` is the token key ring ({@link parseTokenKeys}), on every engine.
 *
 * @throws DatabaseConfigError for a malformed or unsupported `DATABASE_URL` (the message never
 *   contains its password), for `DATABASE_URL` together with `DATABASE_PATH`, or for a pool
 *   setting that is not a positive integer.
 * @throws TokenEncryptionConfigError for a malformed key entry, or for `NODE_ENV=production`
 *   without keys unless `OAUTH_STATE_ALLOW_PLAINTEXT=true`.
 */
export function loadDatabaseConfig(env: NodeJS.ProcessEnv = process.env): DatabaseConfig {
  const tokenKeys = parseTokenKeys(env.OAUTH_STATE_ENCRYPTION_KEYS ?? '');
  if (tokenKeys.length === 0 && env.NODE_ENV === 'production' && env.OAUTH_STATE_ALLOW_PLAINTEXT !== 'true') {
    throw new TokenEncryptionConfigError(
      'NODE_ENV=production needs OAUTH_STATE_ENCRYPTION_KEYS so that OAuth tokens are encrypted at rest ' +
        '(generate a key with `openssl rand -base64 32`). Set OAUTH_STATE_ALLOW_PLAINTEXT=true to store them in plaintext on purpose.',
    );
  }
  const common: CommonDatabaseConfig = { logging: env.DATABASE_LOGGING === 'true', tokenKeys };
  const url = env.DATABASE_URL?.trim();
  const path = env.DATABASE_PATH?.trim();
  if (url) {
    if (path) {
      throw new DatabaseConfigError('DATABASE_PATH', 'cannot be combined with DATABASE_URL: set one of them');
    }
    return { ...parseServerUrl(url, env), ...common };
  }
  let database: string;
  if (path) {
    database = path === ':memory:' ? path : resolve(path);
  } else if (env.NODE_ENV === 'test') {
    database = ':memory:';
  } else {
    database = resolve(DEFAULT_DATABASE_PATH);
  }
  return { type: 'better-sqlite3', database, location: database, ...common };
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
    ring.push({ id, key: createSecretKey(bytes) });
    bytes.fill(0);
  });
  return ring;
}

/**
 * `url` with its password replaced by `***`, for messages and logs. A string that is not a URL
 * comes back as a placeholder rather than as itself, since where its password sits is unknown.
 */
export function redactDatabaseUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '<unparsable database URL>';
  }
  if (parsed.password) {
    parsed.password = '***';
  }
  return parsed.toString();
}

function parseServerUrl(url: string, env: NodeJS.ProcessEnv): Omit<ServerDatabaseConfig, keyof CommonDatabaseConfig> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DatabaseConfigError(
      'DATABASE_URL',
      'is not a valid URL (expected scheme://user:password@host:port/database)',
    );
  }
  const scheme = SERVER_SCHEMES[parsed.protocol];
  if (!scheme) {
    throw new DatabaseConfigError(
      'DATABASE_URL',
      `has the unsupported scheme "${parsed.protocol}//" (use postgres://, postgresql://, mysql:// or mariadb://)`,
    );
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) {
    throw new DatabaseConfigError('DATABASE_URL', 'must name a host');
  }
  const database = decodeUrlPart(parsed.pathname.replace(/^\//, ''));
  if (!database || database.includes('/')) {
    throw new DatabaseConfigError(
      'DATABASE_URL',
      'must name exactly one database as its path, e.g. postgres://user@host:5432/agent_core',
    );
  }
  return {
    type: scheme.type,
    dialect: scheme.dialect,
    host,
    port: parsed.port ? Number(parsed.port) : scheme.defaultPort,
    database,
    username: parsed.username ? decodeUrlPart(parsed.username) : undefined,
    password: parsed.password ? decodeUrlPart(parsed.password) : undefined,
    location: redactDatabaseUrl(url),
    poolSize: positiveInteger(env, 'DATABASE_POOL_SIZE', DEFAULT_POOL_SIZE),
    connectTimeoutMs: positiveInteger(env, 'DATABASE_CONNECT_TIMEOUT_MS', DEFAULT_CONNECT_TIMEOUT_MS),
  };
}

function decodeUrlPart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new DatabaseConfigError('DATABASE_URL', 'has a malformed percent-encoding in its user, password or database');
  }
}

function positiveInteger(env: NodeJS.ProcessEnv, variable: string, fallback: number): number {
  const raw = env[variable]?.trim();
  if (!raw) {
    return fallback;
  }
  if (!/^[1-9][0-9]*$/.test(raw)) {
    throw new DatabaseConfigError(variable, 'must be a positive integer');
  }
  return Number(raw);
}
