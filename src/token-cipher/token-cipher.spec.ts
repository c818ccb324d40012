import { createSecretKey, randomBytes } from 'node:crypto';
import { ENVELOPE_PREFIX, TokenCipher, TokenKey } from './token-cipher';
import { TokenIntegrityError, TokenLocation, UnknownTokenKeyError } from './token-cipher.errors';

const key = (id: string): TokenKey => ({ id, key: createSecretKey(randomBytes(32)) });
const K1 = key('k1');
const K2 = key('k2');
const HERE: TokenLocation = {
  table: 'atlassian_oauth_state',
  platform: 'jira',
  tenantId: 'tenant-a',
  column: 'refreshToken',
};
const TOKEN = 'refresh-token-värde-令牌';

describe(TokenCipher.name, () => {
  const sut = new TokenCipher([K1]);

  it('seals into a versioned envelope that names the key id and opens it back exactly', () => {
    const sealed = sut.seal(TOKEN, HERE);

    expect(sealed).toMatch(/^enc:v1:k1:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]+:[A-Za-z0-9_-]{22}$/);
    expect(sealed).not.toContain(TOKEN);
    expect(sut.open(sealed, HERE)).toBe(TOKEN);
  });

  it('uses a fresh 96-bit IV for every value, across the draws of random bytes its IVs come from', () => {
    // IVs come from the CSPRNG 1,024 at a time: 2,500 seals span three draws, and a second cipher draws its own.
    const other = new TokenCipher([K1]);
    const ivs = [...Array.from({ length: 2_500 }, () => sut), other].map(
      (cipher) => cipher.seal(TOKEN, HERE).split(':')[3],
    );

    expect(new Set(ivs).size).toBe(2_501);
    expect(Buffer.from(ivs[0] ?? '', 'base64url')).toHaveLength(12);
  });

  it.each<[string, TokenLocation]>([
    ['another tenant', { ...HERE, tenantId: 'tenant-b' }],
    ['another platform', { ...HERE, platform: 'confluence' }],
    ['another column', { ...HERE, column: 'accessToken' }],
    ['another table', { ...HERE, table: 'other_state' }],
  ])('refuses a value moved to %s with an integrity error', (_case, elsewhere) => {
    const sealed = sut.seal(TOKEN, HERE);

    expect(() => sut.open(sealed, elsewhere)).toThrow(TokenIntegrityError);
  });

  it('binds platform and tenantId unambiguously: (ji, ratenant-a) is not (jira, tenant-a)', () => {
    const sealed = sut.seal(TOKEN, { ...HERE, platform: 'ji', tenantId: 'ratenant-a' });

    expect(() => sut.open(sealed, { ...HERE, platform: 'jira', tenantId: 'tenant-a' })).toThrow(TokenIntegrityError);
  });

  it.each([
    [
      'a flipped ciphertext character',
      (parts: string[]) => (parts[4] = (parts[4]?.startsWith('A') ? 'B' : 'A') + (parts[4] ?? '').slice(1)),
    ],
    [
      'a flipped tag character',
      (parts: string[]) => (parts[5] = (parts[5]?.startsWith('A') ? 'B' : 'A') + (parts[5] ?? '').slice(1)),
    ],
    ['a truncated tag', (parts: string[]) => (parts[5] = (parts[5] ?? '').slice(0, 10))],
    ['an unknown version', (parts: string[]) => (parts[1] = 'v9')],
    ['a missing part', (parts: string[]) => parts.pop()],
  ])('refuses %s with an integrity error naming the row and column, not the token', (_case, tamper) => {
    const parts = sut.seal(TOKEN, HERE).split(':');
    tamper(parts);

    let error: unknown;
    try {
      sut.open(parts.join(':'), HERE);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(TokenIntegrityError);
    expect(error).toMatchObject({
      name: 'TokenIntegrityError',
      location: HERE,
      message: expect.stringContaining('refreshToken of ("jira", "tenant-a")'),
    });
    expect((error as Error).message).not.toContain(TOKEN);
  });

  it('opens with any key of the ring and seals with the first', () => {
    const old = sut.seal(TOKEN, HERE);
    const rotated = new TokenCipher([K2, K1]);

    expect(rotated.open(old, HERE)).toBe(TOKEN);
    expect(rotated.seal(TOKEN, HERE)).toMatch(/^enc:v1:k2:/);
    expect(rotated.activeKeyId).toBe('k2');
  });

  it('refuses a value sealed under a key id it does not hold, naming that id', () => {
    const sealed = new TokenCipher([K2]).seal(TOKEN, HERE);

    expect(() => sut.open(sealed, HERE)).toThrow(UnknownTokenKeyError);
    expect(() => sut.open(sealed, HERE)).toThrow(/key id "k2"/);
  });

  it('refuses a value sealed under the same id but another key with an integrity error', () => {
    const sealed = new TokenCipher([key('k1')]).seal(TOKEN, HERE);

    expect(() => sut.open(sealed, HERE)).toThrow(TokenIntegrityError);
  });

  it.each([
    ['junk characters appended to the ciphertext', (parts: string[]) => (parts[4] += '!!')],
    ['= padding appended to the ciphertext', (parts: string[]) => (parts[4] += '==')],
    ['a space inside the ciphertext', (parts: string[]) => (parts[4] = ` ${parts[4] ?? ''}`)],
    ['standard base64 characters in the tag', (parts: string[]) => (parts[5] = (parts[5] ?? '').slice(0, 21) + '+')],
    ['padding appended to the IV', (parts: string[]) => (parts[3] += '=')],
    [
      'non-canonical trailing bits in the tag',
      (parts: string[]) => {
        // The 22nd character carries 2 bits of the tag and 4 unused ones: set one of the unused.
        const tag = parts[5] ?? '';
        const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
        parts[5] = tag.slice(0, 21) + (alphabet[alphabet.indexOf(tag.slice(21)) | 1] ?? '');
      },
    ],
  ])('refuses %s: only canonical unpadded base64url of the expected lengths opens', (_case, tamper) => {
    const parts = sut.seal(TOKEN, HERE).split(':');
    tamper(parts);
    expect(() => sut.open(parts.join(':'), HERE)).toThrow(TokenIntegrityError);
    expect(() => sut.open(parts.join(':'), HERE)).toThrow(/the envelope is malformed/);
  });

  it.each(['a', 'ab', 'abc', 'abcd'])(
    'refuses the ciphertext of %j with an unused trailing bit set or characters appended, and opens it untouched',
    (token) => {
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const sealed = sut.seal(token, HERE);
      const parts = sealed.split(':');
      const ciphertext = parts[4] ?? '';
      const withCiphertext = (text: string): string => [...parts.slice(0, 4), text, parts[5]].join(':');

      expect(sut.open(sealed, HERE)).toBe(token);
      // Appended characters: not canonical, or the canonical form of other bytes, which do not authenticate.
      for (const text of [`${ciphertext}A`, `${ciphertext}AA`, `${ciphertext}AAA`]) {
        expect(() => sut.open(withCiphertext(text), HERE)).toThrow(TokenIntegrityError);
      }
      // 1 byte -> 2 characters (4 unused bits), 2 -> 3 (2 unused bits), 3 -> 4 (none), 4 -> 6 (4 unused).
      if (ciphertext.length % 4 !== 0) {
        const lastValue = alphabet.indexOf(ciphertext.slice(-1));
        const flipped = ciphertext.slice(0, -1) + (alphabet[lastValue | 1] ?? '');
        expect(() => sut.open(withCiphertext(flipped), HERE)).toThrow(/the envelope is malformed/);
      }
    },
  );

  it('quotes a key id read from a tampered value escaped, on one line', () => {
    const parts = sut.seal(TOKEN, HERE).split(':');
    parts[2] = 'k9\nWARN forged line';
    expect(() => sut.open(parts.join(':'), HERE)).toThrow('key id "k9\\nWARN forged line"');
  });

  it('refuses a value that is not sealed, naming the setting that reads it, and never quotes it', () => {
    expect(() => sut.open('attacker-token', HERE)).toThrow(TokenIntegrityError);
    expect(() => sut.open('attacker-token', HERE)).toThrow(
      /not a sealed envelope.*OAUTH_STATE_ACCEPT_PLAINTEXT_ROWS=true/,
    );
    expect(() => sut.open('attacker-token', HERE)).not.toThrow(/attacker-token/);
  });

  it('reads a legacy plaintext value as it is only with acceptPlaintext (the migration window)', () => {
    const migrating = new TokenCipher([K1], { acceptPlaintext: true });
    expect(migrating.open('legacy-plaintext-token', HERE)).toBe('legacy-plaintext-token');
    expect(migrating.open(sut.seal(TOKEN, HERE), HERE)).toBe(TOKEN);
    expect(migrating.isPlaintext('legacy-plaintext-token')).toBe(true);
    expect(migrating.isPlaintext(sut.seal(TOKEN, HERE))).toBe(false);
  });

  it('tells which stored values are current under the active key', () => {
    const rotated = new TokenCipher([K2, K1]);

    expect(rotated.isCurrent(rotated.seal(TOKEN, HERE))).toBe(true);
    expect(rotated.isCurrent(sut.seal(TOKEN, HERE))).toBe(false);
    expect(rotated.isCurrent('legacy-plaintext-token')).toBe(false);
  });

  describe('envelopes stored by earlier releases', () => {
    // Sealed with this fixed key before the cipher took its location from the caller: the envelope
    // format and the associated data bytes must never change, or stored rows stop opening.
    const fixed = new TokenCipher([
      { id: 'k1', key: createSecretKey(Buffer.from('AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=', 'base64')) },
    ]);
    const row = { table: 'atlassian_oauth_state', platform: 'jira', tenantId: 'tenant-a' };

    it('opens both tokens of a row sealed then', () => {
      expect(
        fixed.open(
          'enc:v1:k1:namThQBJ1InwDC_u:tx4H2xkHc6vSq10atN9rtKi8FyWdooq1lXpW5xTcigrYgqFR:EPhs76N8oK4oJt8-JBX2eg',
          { ...row, column: 'refreshToken' },
        ),
      ).toBe('refresh-token-sealed-before-the-move');
      expect(
        fixed.open(
          'enc:v1:k1:K6y-bD0pHsbXxA1q:HK3MfLsFwdGXWzE_SpJyqWJ1UEpJij17E62WYbIy2z4VXzg:LaLyUsP0KNzku4ro-xsoOQ',
          { ...row, column: 'accessToken' },
        ),
      ).toBe('access-token-sealed-before-the-move');
    });
  });

  describe('in plaintext mode (no keys)', () => {
    const plain = new TokenCipher([]);

    it('stores and reads tokens as they are', () => {
      expect(plain.encrypts).toBe(false);
      expect(plain.activeKeyId).toBeNull();
      expect(plain.seal(TOKEN, HERE)).toBe(TOKEN);
      expect(plain.open(TOKEN, HERE)).toBe(TOKEN);
      expect(plain.isCurrent(TOKEN)).toBe(true);
    });

    it('refuses a sealed value, naming its key id', () => {
      const sealed = sut.seal(TOKEN, HERE);

      expect(plain.isCurrent(sealed)).toBe(false);
      expect(() => plain.open(sealed, HERE)).toThrow(UnknownTokenKeyError);
      expect(sealed.startsWith(ENVELOPE_PREFIX)).toBe(true);
    });
  });
});
