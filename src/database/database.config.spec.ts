import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { inspect } from 'node:util';
import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_POOL_SIZE,
  loadDatabaseConfig,
  parseTokenKeys,
  redactDatabaseUrl,
} from './database.config';
import { DatabaseConfigError } from './database.errors';
import { TokenEncryptionConfigError } from '../token-cipher/token-cipher.errors';

const KEY_A = randomBytes(32).toString('base64');
const KEY_B = randomBytes(32).toString('base64');

describe(loadDatabaseConfig.name, () => {
  describe('OAUTH_STATE_ENCRYPTION_KEYS', () => {
    it('parses comma-separated keyId:base64key entries in order, first one first', () => {
      const config = loadDatabaseConfig({ OAUTH_STATE_ENCRYPTION_KEYS: ` k2:${KEY_B} , k1:${KEY_A}` });

      expect(config.tokenKeys.map((k) => k.id)).toEqual(['k2', 'k1']);
      expect(config.tokenKeys.map((k) => k.key.export().toString('base64'))).toEqual([KEY_B, KEY_A]);
    });

    it('accepts a key without its = padding', () => {
      expect(parseTokenKeys(`k1:${KEY_A.replace(/=+$/, '')}`).map((k) => k.id)).toEqual(['k1']);
    });

    it('means plaintext mode when unset or blank', () => {
      expect(loadDatabaseConfig({}).tokenKeys).toEqual([]);
      expect(loadDatabaseConfig({ OAUTH_STATE_ENCRYPTION_KEYS: '  ' }).tokenKeys).toEqual([]);
    });

    it('never prints key material when the config is logged or serialized', () => {
      const config = loadDatabaseConfig({ OAUTH_STATE_ENCRYPTION_KEYS: `k1:${KEY_A}` });
      const hex = Buffer.from(KEY_A, 'base64').toString('hex');

      for (const text of [inspect(config, { depth: 10, showHidden: true }), JSON.stringify(config)]) {
        expect(text).not.toContain(KEY_A);
        expect(text).not.toContain(hex);
      }
    });

    const short = randomBytes(16).toString('base64');
    const long = randomBytes(33).toString('base64');
    const malformed: [string, string, RegExp, string][] = [
      ['a 16-byte key', 'short', /key "short" is 16 bytes; it must be 32/, `k1:${KEY_A},short:${short}`],
      ['a 33-byte key', 'long', /key "long" is 33 bytes; it must be 32/, `long:${long}`],
      ['bad base64', 'bad', /key "bad" is not valid base64/, `bad:${KEY_A.slice(0, 20)}!$${KEY_A.slice(22)}`],
      ['an empty key', 'nokey', /key "nokey" is not valid base64/, 'nokey:'],
      ['a duplicate id', 'k1', /key "k1" is listed twice/, `k1:${KEY_A},k1:${KEY_B}`],
      ['an empty id', 'entry #2', /entry #2 has an empty key id/, `k1:${KEY_A}, :${KEY_B}`],
      ['an entry without a colon', 'entry #2', /entry #2 is not of the form keyId:base64key/, `k1:${KEY_A},${KEY_B}`],
      ['an empty entry', 'entry #2', /entry #2 is not of the form/, `k1:${KEY_A},,k2:${KEY_B}`],
      ['an id with a separator in it', 'entry #1', /entry #1 has a key id that is not/, `k/1:${KEY_A}`],
    ];

    it.each(malformed)('refuses %s, naming %s and no key material', (_case, named, message, value) => {
      let error: unknown;
      try {
        loadDatabaseConfig({ OAUTH_STATE_ENCRYPTION_KEYS: value });
      } catch (caught) {
        error = caught;
      }

      expect(error).toBeInstanceOf(TokenEncryptionConfigError);
      const { name, message: text } = error as Error;
      expect(name).toBe('TokenEncryptionConfigError');
      expect(text).toMatch(message);
      expect(text).toContain(named);
      for (const material of [KEY_A, KEY_B, short, long, KEY_A.slice(0, 20), KEY_A.slice(22)]) {
        expect(text).not.toContain(material);
      }
    });
  });

  describe('the production rule', () => {
    it('refuses NODE_ENV=production without keys, saying what to set', () => {
      expect(() => loadDatabaseConfig({ NODE_ENV: 'production' })).toThrow(TokenEncryptionConfigError);
      expect(() => loadDatabaseConfig({ NODE_ENV: 'production', OAUTH_STATE_ALLOW_PLAINTEXT: 'yes' })).toThrow(
        /OAUTH_STATE_ENCRYPTION_KEYS.*OAUTH_STATE_ALLOW_PLAINTEXT=true/s,
      );
    });

    it('allows plaintext in production only with OAUTH_STATE_ALLOW_PLAINTEXT=true', () => {
      expect(loadDatabaseConfig({ NODE_ENV: 'production', OAUTH_STATE_ALLOW_PLAINTEXT: 'true' }).tokenKeys).toEqual([]);
    });

    it('boots in production with keys', () => {
      expect(
        loadDatabaseConfig({ NODE_ENV: 'production', OAUTH_STATE_ENCRYPTION_KEYS: `k1:${KEY_A}` }).tokenKeys,
      ).toHaveLength(1);
    });
  });
});

const SECRET = 'p@ss:w/rd%secret';
const ENCODED_SECRET = encodeURIComponent(SECRET);

describe(`${loadDatabaseConfig.name}: the engine`, () => {
  describe('without DATABASE_URL (plan BJ-5: SQLite)', () => {
    it('is :memory: under NODE_ENV=test', () => {
      expect(loadDatabaseConfig({ NODE_ENV: 'test' })).toEqual({
        type: 'better-sqlite3',
        database: ':memory:',
        location: ':memory:',
        logging: false,
        tokenKeys: [],
      });
    });

    it('is the default file otherwise, and DATABASE_PATH when set', () => {
      expect(loadDatabaseConfig({})).toMatchObject({
        type: 'better-sqlite3',
        database: resolve('data/agent-core.sqlite'),
      });
      expect(loadDatabaseConfig({ DATABASE_PATH: 'x/y.sqlite', NODE_ENV: 'test' })).toMatchObject({
        type: 'better-sqlite3',
        database: resolve('x/y.sqlite'),
      });
    });

    it('treats a blank DATABASE_URL as unset', () => {
      expect(loadDatabaseConfig({ DATABASE_URL: '  ', NODE_ENV: 'test' })).toMatchObject({
        type: 'better-sqlite3',
        database: ':memory:',
      });
    });
  });

  describe('with DATABASE_URL', () => {
    it.each([
      ['postgres://u@db.example:6543/agent', 'postgres', 'postgres', 6543],
      ['postgresql://u@db.example/agent', 'postgres', 'postgres', 5432],
      ['mysql://u@db.example:3307/agent', 'mysql', 'mysql', 3307],
      ['mariadb://u@db.example/agent', 'mysql', 'mariadb', 3306],
    ] as const)('reads %s as %s (%s) on port %d', (url, type, dialect, port) => {
      expect(loadDatabaseConfig({ DATABASE_URL: url })).toEqual({
        type,
        dialect,
        host: 'db.example',
        port,
        database: 'agent',
        username: 'u',
        password: undefined,
        location: url,
        poolSize: DEFAULT_POOL_SIZE,
        connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS,
        logging: false,
        tokenKeys: [],
      });
    });

    it('decodes a percent-encoded user, password and database, and keeps the password out of location', () => {
      const config = loadDatabaseConfig({
        DATABASE_URL: `postgres://svc%40corp:${ENCODED_SECRET}@[::1]:5432/agent%2Dcore`,
      });

      expect(config).toMatchObject({ host: '::1', username: 'svc@corp', password: SECRET, database: 'agent-core' });
      expect(config.location).toBe('postgres://svc%40corp:***@[::1]:5432/agent%2Dcore');
      expect(config.location).not.toContain(ENCODED_SECRET);
    });

    it('reads the pool settings', () => {
      expect(
        loadDatabaseConfig({
          DATABASE_URL: 'mysql://u@h/d',
          DATABASE_POOL_SIZE: '25',
          DATABASE_CONNECT_TIMEOUT_MS: '1500',
          DATABASE_LOGGING: 'true',
        }),
      ).toMatchObject({
        poolSize: 25,
        connectTimeoutMs: 1500,
        logging: true,
      });
    });

    it.each([
      ['a malformed URL', { DATABASE_URL: `postgres://u:${SECRET}@` }, 'DATABASE_URL'],
      ['an unsupported scheme', { DATABASE_URL: `mongodb://u:${ENCODED_SECRET}@h/d` }, 'DATABASE_URL'],
      ['no database', { DATABASE_URL: `postgres://u:${ENCODED_SECRET}@h:5432` }, 'DATABASE_URL'],
      ['a nested path', { DATABASE_URL: `postgres://u:${ENCODED_SECRET}@h/a/b` }, 'DATABASE_URL'],
      ['a bad percent-encoding', { DATABASE_URL: `postgres://u:%E0%A4%A@h/d` }, 'DATABASE_URL'],
      [
        'DATABASE_PATH as well',
        { DATABASE_URL: `postgres://u:${ENCODED_SECRET}@h/d`, DATABASE_PATH: 'x.sqlite' },
        'DATABASE_PATH',
      ],
      ['a zero pool size', { DATABASE_URL: 'postgres://u@h/d', DATABASE_POOL_SIZE: '0' }, 'DATABASE_POOL_SIZE'],
      [
        'a non-numeric timeout',
        { DATABASE_URL: 'postgres://u@h/d', DATABASE_CONNECT_TIMEOUT_MS: '10s' },
        'DATABASE_CONNECT_TIMEOUT_MS',
      ],
    ])('refuses %s, naming the variable and never the password', (_case, env, variable) => {
      const error = (() => {
        try {
          loadDatabaseConfig(env);
        } catch (e) {
          return e;
        }
        return undefined;
      })() as Error;

      expect(error).toBeInstanceOf(DatabaseConfigError);
      expect(error).toMatchObject({
        name: 'DatabaseConfigError',
        variable,
        message: expect.stringContaining(variable),
      });
      expect(error.message).not.toContain(SECRET);
      expect(error.message).not.toContain(ENCODED_SECRET);
    });
  });
});

describe(redactDatabaseUrl.name, () => {
  it('replaces the password and keeps the rest', () => {
    expect(redactDatabaseUrl(`mariadb://root:${ENCODED_SECRET}@127.0.0.1:3306/test?x=1`)).toBe(
      'mariadb://root:***@127.0.0.1:3306/test?x=1',
    );
    expect(redactDatabaseUrl('postgres://postgres@127.0.0.1:5432/test')).toBe(
      'postgres://postgres@127.0.0.1:5432/test',
    );
  });

  it('never echoes a string it cannot parse', () => {
    expect(redactDatabaseUrl(`postgres://u:${SECRET}@`)).toBe('<unparsable database URL>');
  });
});
