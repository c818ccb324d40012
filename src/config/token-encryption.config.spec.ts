import { randomBytes } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { inspect } from 'node:util';
import { TokenEncryptionConfigError } from './config.errors';
import {
  TOKEN_KEY_RING_PARSED_CHANNEL,
  parseTokenKeys,
  readTokenEncryptionConfig,
  tokenEncryptionConfig,
} from './token-encryption.config';

const KEY_A = randomBytes(32).toString('base64');
const KEY_B = randomBytes(32).toString('base64');

describe(readTokenEncryptionConfig.name, () => {
  describe('OAUTH_STATE_ENCRYPTION_KEYS', () => {
    it('parses comma-separated keyId:base64key entries in order, first one first', () => {
      const config = readTokenEncryptionConfig({ OAUTH_STATE_ENCRYPTION_KEYS: ` k2:${KEY_B} , k1:${KEY_A}` });

      expect(config.keys.map((k) => k.id)).toEqual(['k2', 'k1']);
      expect(config.keys.map((k) => k.key.export().toString('base64'))).toEqual([KEY_B, KEY_A]);
    });

    it('accepts a key without its = padding', () => {
      expect(parseTokenKeys(`k1:${KEY_A.replace(/=+$/, '')}`).map((k) => k.id)).toEqual(['k1']);
    });

    it('means plaintext mode when unset or blank', () => {
      expect(readTokenEncryptionConfig({}).keys).toEqual([]);
      expect(readTokenEncryptionConfig({ OAUTH_STATE_ENCRYPTION_KEYS: '  ' }).keys).toEqual([]);
    });

    it('never prints key material when the config is logged or serialized', () => {
      const config = readTokenEncryptionConfig({ OAUTH_STATE_ENCRYPTION_KEYS: `k1:${KEY_A}` });
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
      [
        'an all-zero key',
        'zero',
        /key "zero" is one byte repeated/,
        `k1:${KEY_A},zero:${Buffer.alloc(32).toString('base64')}`,
      ],
      [
        'a key of one repeated byte',
        'ff',
        /key "ff" is one byte repeated/,
        `ff:${Buffer.alloc(32, 0xff).toString('base64')}`,
      ],
      ['the same key under two ids', 'k2', /key "k2" has the same key bytes as key "k1"/, `k1:${KEY_A},k2:${KEY_A}`],
    ];

    it.each(malformed)('refuses %s, naming %s and no key material', (_case, named, message, value) => {
      let error: unknown;
      try {
        readTokenEncryptionConfig({ OAUTH_STATE_ENCRYPTION_KEYS: value });
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
      expect(() => readTokenEncryptionConfig({ NODE_ENV: 'production' })).toThrow(TokenEncryptionConfigError);
      expect(() => readTokenEncryptionConfig({ NODE_ENV: 'production', OAUTH_STATE_ALLOW_PLAINTEXT: 'false' })).toThrow(
        /OAUTH_STATE_ENCRYPTION_KEYS.*OAUTH_STATE_ALLOW_PLAINTEXT=true/s,
      );
    });

    it('allows plaintext in production only with OAUTH_STATE_ALLOW_PLAINTEXT=true', () => {
      expect(readTokenEncryptionConfig({ NODE_ENV: 'production', OAUTH_STATE_ALLOW_PLAINTEXT: 'true' }).keys).toEqual(
        [],
      );
    });

    it.each(['Production', ' production', 'PRODUCTION\n', '\tproduction '])(
      'takes NODE_ENV=%j for production: case and surrounding space are ignored',
      (nodeEnv) => {
        expect(() => readTokenEncryptionConfig({ NODE_ENV: nodeEnv })).toThrow(/NODE_ENV=production needs/);
      },
    );

    it('boots in production with keys', () => {
      expect(
        readTokenEncryptionConfig({ NODE_ENV: 'production', OAUTH_STATE_ENCRYPTION_KEYS: `k1:${KEY_A}` }).keys,
      ).toHaveLength(1);
    });
  });
});

describe('OAUTH_STATE_ACCEPT_PLAINTEXT_ROWS', () => {
  it('is on for true, off for false or unset', () => {
    expect(readTokenEncryptionConfig({}).acceptPlaintextRows).toBe(false);
    expect(readTokenEncryptionConfig({ OAUTH_STATE_ACCEPT_PLAINTEXT_ROWS: 'false' }).acceptPlaintextRows).toBe(false);
    expect(readTokenEncryptionConfig({ OAUTH_STATE_ACCEPT_PLAINTEXT_ROWS: 'true' }).acceptPlaintextRows).toBe(true);
  });

  it.each(['OAUTH_STATE_ACCEPT_PLAINTEXT_ROWS', 'OAUTH_STATE_ALLOW_PLAINTEXT'])(
    'refuses %s=yes when the configuration loads, naming it: a switch meant to be on is never silently off',
    (variable) => {
      expect(() => readTokenEncryptionConfig({ [variable]: 'yes' })).toThrow(
        new TokenEncryptionConfigError(`${variable} must be true or false.`),
      );
    },
  );
});

describe('the tokenEncryption namespace', () => {
  it('is registered as "tokenEncryption" and reads the environment it is given', () => {
    expect(tokenEncryptionConfig.KEY).toBe('CONFIGURATION(tokenEncryption)');
    expect(tokenEncryptionConfig({ OAUTH_STATE_ENCRYPTION_KEYS: `k1:${KEY_A}` }).keys.map((k) => k.id)).toEqual(['k1']);
  });
});

describe(`${parseTokenKeys.name} on ${TOKEN_KEY_RING_PARSED_CHANNEL}`, () => {
  it('publishes how many keys each parse produced, and never a key', () => {
    const published: unknown[] = [];
    const listener = (message: unknown): void => void published.push(message);
    subscribe(TOKEN_KEY_RING_PARSED_CHANNEL, listener);
    try {
      parseTokenKeys(`k1:${KEY_A},k2:${KEY_B}`);
      parseTokenKeys('');
    } finally {
      unsubscribe(TOKEN_KEY_RING_PARSED_CHANNEL, listener);
    }

    expect(published).toEqual([{ keys: 2 }, { keys: 0 }]);
  });
});
