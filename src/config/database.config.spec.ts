import { resolve } from 'node:path';
import { DatabaseConfigError } from './config.errors';
import {
  DEFAULT_CONNECT_RETRY_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_QUERY_TIMEOUT_MS,
  DEFAULT_POOL_SIZE,
  databaseConfig,
  readDatabaseConfig,
  redactDatabaseUrl,
} from './database.config';

const SECRET = 'p@ss:w/rd%secret';
const ENCODED_SECRET = encodeURIComponent(SECRET);

describe(readDatabaseConfig.name, () => {
  describe('without DATABASE_URL: SQLite', () => {
    it('is :memory: under NODE_ENV=test', () => {
      expect(readDatabaseConfig({ NODE_ENV: 'test' })).toEqual({
        type: 'better-sqlite3',
        database: ':memory:',
        location: ':memory:',
        logging: false,
      });
    });

    it('is the default file otherwise, and DATABASE_PATH when set', () => {
      expect(readDatabaseConfig({})).toMatchObject({
        type: 'better-sqlite3',
        database: resolve('data/agent-core.sqlite'),
      });
      expect(readDatabaseConfig({ DATABASE_PATH: 'x/y.sqlite', NODE_ENV: 'test' })).toMatchObject({
        type: 'better-sqlite3',
        database: resolve('x/y.sqlite'),
      });
    });

    it('treats a blank DATABASE_URL as unset', () => {
      expect(readDatabaseConfig({ DATABASE_URL: '  ', NODE_ENV: 'test' })).toMatchObject({
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
      expect(readDatabaseConfig({ DATABASE_URL: url })).toEqual({
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
        queryTimeoutMs: DEFAULT_QUERY_TIMEOUT_MS,
        connectRetryMs: DEFAULT_CONNECT_RETRY_MS,
        logging: false,
      });
    });

    it('decodes a percent-encoded user, password and database, and keeps the password out of location', () => {
      const config = readDatabaseConfig({
        DATABASE_URL: `postgres://svc%40corp:${ENCODED_SECRET}@[::1]:5432/agent%2Dcore`,
      });

      expect(config).toMatchObject({ host: '::1', username: 'svc@corp', password: SECRET, database: 'agent-core' });
      expect(config.location).toBe('postgres://svc%40corp:***@[::1]:5432/agent%2Dcore');
      expect(config.location).not.toContain(ENCODED_SECRET);
    });

    it('reads the pool settings', () => {
      expect(
        readDatabaseConfig({
          DATABASE_URL: 'mysql://u@h/d',
          DATABASE_POOL_SIZE: '25',
          DATABASE_CONNECT_TIMEOUT_MS: '1500',
          DATABASE_QUERY_TIMEOUT_MS: '750',
          DATABASE_CONNECT_RETRY_MS: '0',
          DATABASE_LOGGING: 'true',
        }),
      ).toMatchObject({
        poolSize: 25,
        connectTimeoutMs: 1500,
        queryTimeoutMs: 750,
        connectRetryMs: 0,
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
      [
        'a zero query timeout',
        { DATABASE_URL: 'postgres://u@h/d', DATABASE_QUERY_TIMEOUT_MS: '0' },
        'DATABASE_QUERY_TIMEOUT_MS',
      ],
      [
        'a negative boot retry time',
        { DATABASE_URL: 'postgres://u@h/d', DATABASE_CONNECT_RETRY_MS: '-1' },
        'DATABASE_CONNECT_RETRY_MS',
      ],
      ['a negative pool size', { DATABASE_URL: 'postgres://u@h/d', DATABASE_POOL_SIZE: '-3' }, 'DATABASE_POOL_SIZE'],
      ['a logging switch that is neither true nor false', { DATABASE_LOGGING: 'yes' }, 'DATABASE_LOGGING'],
    ])('refuses %s, naming the variable and never the password', (_case, env, variable) => {
      const error = (() => {
        try {
          readDatabaseConfig(env);
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

describe('the database namespace', () => {
  it('is registered as "database" and reads the environment it is given', () => {
    expect(databaseConfig.KEY).toBe('CONFIGURATION(database)');
    expect(databaseConfig({ DATABASE_PATH: ':memory:' })).toEqual(readDatabaseConfig({ DATABASE_PATH: ':memory:' }));
  });

  it('says what a bad value must be: the message the operator sees', () => {
    expect(() => readDatabaseConfig({ DATABASE_URL: 'postgres://u@h/d', DATABASE_POOL_SIZE: 'ten' })).toThrow(
      'Invalid database configuration: DATABASE_POOL_SIZE must be a positive integer.',
    );
    expect(() => readDatabaseConfig({ DATABASE_URL: 'postgres://u@h/d', DATABASE_PATH: 'x.sqlite' })).toThrow(
      'Invalid database configuration: DATABASE_PATH cannot be combined with DATABASE_URL: set one of them.',
    );
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
