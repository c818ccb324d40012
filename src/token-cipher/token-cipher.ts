import { createCipheriv, createDecipheriv, KeyObject, randomFillSync } from 'node:crypto';
import { TokenKey } from '../config/token-encryption.config';
import { TokenIntegrityError, TokenLocation, UnknownTokenKeyError } from './token-cipher.errors';

// The key ring's entry is the configuration's type: config/ is read first and imports nothing above it.
export type { TokenKey } from '../config/token-encryption.config';

/** What every sealed value starts with; a stored value without it is a legacy plaintext token. */
export const ENVELOPE_PREFIX = 'enc:';
/** The envelope version this code writes: `enc:v1:<keyId>:<iv>:<ciphertext>:<tag>`, base64url parts. */
const VERSION = 'v1';
const ALGORITHM = 'aes-256-gcm';
/** The alphabet of an envelope's parts: unpadded base64url (RFC 4648, section 5). */
const BASE64URL = /^[A-Za-z0-9_-]*$/;
/** The same alphabet in value order (RFC 4648, table 2): a character's index is its 6-bit value. */
const BASE64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/** 96 bits, the IV length GCM is specified for (NIST SP 800-38D). */
const IV_BYTES = 12;
const TAG_BYTES = 16;
/**
 * IVs drawn from the CSPRNG in one call: a `randomBytes(12)` per seal cost about as much as a
 * quarter of the seal itself (`npm run bench:reencrypt`, which seals two tokens per row). The IVs
 * are as random as before; they are not secret (every envelope stores its own).
 */
const IVS_PER_DRAW = 1024;

/**
 * Seals and opens stored secrets (OAuth tokens) with AES-256-GCM.
 *
 * Every sealed value gets a fresh random 96-bit IV and is stored as a versioned envelope that
 * names its key id. Its associated data is the envelope header plus the {@link TokenLocation} the
 * caller names (table, `platform`, `tenantId`, column), so a value copied to another row, column
 * or table fails with {@link TokenIntegrityError} instead of decrypting. The cipher knows no table
 * of its own: whoever stores the value says where it lives.
 *
 * The first key of the ring seals; every key opens. With an empty ring the cipher is in plaintext
 * mode: `seal` returns its input and `open` returns a stored value without the
 * {@link ENVELOPE_PREFIX} unchanged. With keys, such a value is refused as tampered with: anyone
 * who can write to the database could otherwise plant a token of their choosing. Only
 * `acceptPlaintext` (the migration window after encryption was switched on) reads it as it is.
 */
export class TokenCipher {
  private readonly keys: ReadonlyMap<string, KeyObject>;

  private readonly acceptsPlaintext: boolean;

  /** Random bytes for the next {@link IVS_PER_DRAW} IVs, and how many of them are used. */
  private readonly ivPool = Buffer.alloc(IV_BYTES * IVS_PER_DRAW);

  private ivsUsed = IVS_PER_DRAW;

  /**
   * @param ring the key ring, active key first; empty for plaintext mode.
   * @param options.acceptPlaintext with keys, still open a stored value that is not sealed (as it
   *   is): only while legacy plaintext rows are being migrated.
   */
  constructor(ring: readonly TokenKey[], options: { readonly acceptPlaintext?: boolean } = {}) {
    this.keys = new Map(ring.map(({ id, key }) => [id, key]));
    this.activeKeyId = ring[0]?.id ?? null;
    this.acceptsPlaintext = options.acceptPlaintext === true;
  }

  /** The id of the key that seals new values, or `null` in plaintext mode. */
  readonly activeKeyId: string | null;

  /** True when new values are sealed; false in plaintext mode. */
  get encrypts(): boolean {
    return this.activeKeyId !== null;
  }

  /** Seals `plaintext` for `location` under the active key; returns it unchanged in plaintext mode. */
  seal(plaintext: string, location: TokenLocation): string {
    if (this.activeKeyId === null) {
      return plaintext;
    }
    const header = `${ENVELOPE_PREFIX}${VERSION}:${this.activeKeyId}`;
    const iv = this.nextIv();
    const cipher = createCipheriv(ALGORITHM, this.requireKey(this.activeKeyId, location), iv, {
      authTagLength: TAG_BYTES,
    });
    cipher.setAAD(associatedData(header, location));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [header, iv, ciphertext, cipher.getAuthTag()]
      .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
      .join(':');
  }

  /**
   * Opens a stored value of `location`.
   *
   * @returns the plaintext token; a value that is not sealed is returned as it is in plaintext
   *   mode, or with `acceptPlaintext`.
   * @throws UnknownTokenKeyError when the value is sealed under a key id the ring does not hold.
   * @throws TokenIntegrityError when the envelope is malformed (anything but canonical unpadded
   *   base64url of the expected lengths), was altered, or belongs to another row or column; and,
   *   with keys, for a value that is not sealed at all.
   */
  open(stored: string, location: TokenLocation): string {
    if (this.isPlaintext(stored)) {
      if (this.activeKeyId !== null && !this.acceptsPlaintext) {
        throw new TokenIntegrityError(
          location,
          'it is not a sealed envelope, though OAUTH_STATE_ENCRYPTION_KEYS is set (while legacy plaintext rows are being migrated, OAUTH_STATE_ACCEPT_PLAINTEXT_ROWS=true reads them)',
        );
      }
      return stored;
    }
    const parts = stored.split(':');
    if (parts.length !== 6 || parts[1] !== VERSION) {
      throw new TokenIntegrityError(location, `the envelope is not a ${ENVELOPE_PREFIX}${VERSION} envelope`);
    }
    const [, , keyId = '', iv = '', ciphertext = '', tag = ''] = parts;
    const key = this.requireKey(keyId, location);
    const ivBytes = decodeCanonical(iv);
    const tagBytes = decodeCanonical(tag);
    const ciphertextBytes = decodeCanonical(ciphertext);
    if (ivBytes?.length !== IV_BYTES || tagBytes?.length !== TAG_BYTES || ciphertextBytes === null) {
      throw new TokenIntegrityError(location, 'the envelope is malformed');
    }
    const decipher = createDecipheriv(ALGORITHM, key, ivBytes, { authTagLength: TAG_BYTES });
    decipher.setAAD(associatedData(`${ENVELOPE_PREFIX}${VERSION}:${keyId}`, location));
    decipher.setAuthTag(tagBytes);
    try {
      return Buffer.concat([decipher.update(ciphertextBytes), decipher.final()]).toString('utf8');
    } catch {
      throw new TokenIntegrityError(location, 'authenticated decryption failed');
    }
  }

  /** True when a stored value is not sealed: a legacy plaintext token, or one written in plaintext mode. */
  isPlaintext(stored: string): boolean {
    return !stored.startsWith(ENVELOPE_PREFIX);
  }

  /**
   * True when a stored value needs no rewrite: sealed under the active key in the current
   * envelope version, or (in plaintext mode) not sealed at all.
   */
  isCurrent(stored: string): boolean {
    if (this.activeKeyId === null) {
      return !stored.startsWith(ENVELOPE_PREFIX);
    }
    return stored.startsWith(`${ENVELOPE_PREFIX}${VERSION}:${this.activeKeyId}:`);
  }

  /** A fresh random 96-bit IV (a copy: no two envelopes share the pool's bytes). */
  private nextIv(): Buffer {
    if (this.ivsUsed === IVS_PER_DRAW) {
      randomFillSync(this.ivPool);
      this.ivsUsed = 0;
    }
    const start = IV_BYTES * this.ivsUsed++;
    return Buffer.from(this.ivPool.subarray(start, start + IV_BYTES));
  }

  private requireKey(keyId: string, location: TokenLocation): KeyObject {
    const key = this.keys.get(keyId);
    if (!key) {
      throw new UnknownTokenKeyError(location, keyId);
    }
    return key;
  }
}

/**
 * The bytes of `text` when it is canonical unpadded base64url (the only form `seal` writes), else
 * `null`. `Buffer.from` alone skips characters outside the alphabet, reads `+` and `/` as `-` and
 * `_`, accepts `=` and ignores non-zero trailing bits, so an envelope with junk appended would
 * still open. The alphabet is checked first; then the text is canonical exactly when it has the
 * length the decoded bytes encode to (a skipped or extra character changes it) and the bits its
 * last character carries beyond the last byte are zero (cheaper than encoding the bytes again).
 */
function decodeCanonical(text: string): Buffer | null {
  if (!BASE64URL.test(text)) {
    return null;
  }
  const bytes = Buffer.from(text, 'base64url');
  if (text.length !== Math.ceil((bytes.length * 4) / 3)) {
    return null;
  }
  // 4 unused bits after 1 byte in the last group of 2 characters, 2 after 2 bytes in a group of 3.
  const unusedBits = [0, 0, 4, 2][text.length % 4] ?? 0;
  const lastValue = BASE64URL_ALPHABET.indexOf(text.charAt(text.length - 1));
  return (lastValue & ((1 << unusedBits) - 1)) === 0 ? bytes : null;
}

/**
 * Unambiguous encoding (a JSON array of strings) of what a ciphertext is bound to. These bytes are
 * part of every stored envelope: changing their order or encoding makes every stored value unreadable.
 */
function associatedData(header: string, { table, platform, tenantId, column }: TokenLocation): Buffer {
  return Buffer.from(JSON.stringify([header, table, platform, tenantId, column]), 'utf8');
}
