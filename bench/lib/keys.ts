import { AtlassianOauthStateKey } from '../../src/atlassian';

/** Lengths close to what Atlassian hands out (a JWT access token is longer; size only moves copying cost). */
export const ACCESS_TOKEN_LENGTH = 256;
export const REFRESH_TOKEN_LENGTH = 96;

const ACCESS_PAD = 'a'.repeat(ACCESS_TOKEN_LENGTH);
const REFRESH_PAD = 'r'.repeat(REFRESH_TOKEN_LENGTH);

/** 32-bit integer mix (splitmix/murmur finalizer): spreads consecutive numbers over the key space. */
function mix32(value: number): number {
  let x = value | 0;
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

const hex8 = (value: number): string => value.toString(16).padStart(8, '0');

/**
 * The key of tenant number `i`: a UUID-shaped cloud id, as Atlassian's are, derived from `i`
 * alone so that no list of keys is ever held in memory. The id starts with `i` in hex, so tenants
 * sort in the order they are seeded: the load appends to the unique index instead of dirtying
 * pages all over it, which keeps loading 1M rows into a WAL file at seconds instead of minutes.
 * The lookups then draw tenants at random. One tenant in four is on Confluence, the rest on Jira.
 */
export function keyOf(i: number): AtlassianOauthStateKey {
  const b = hex8(mix32(i ^ 0x5bd1e995));
  const c = hex8(mix32(i + 0x27d4eb2f));
  const tenantId = `${hex8(i)}-${b.slice(0, 4)}-4${b.slice(5, 8)}-8${c.slice(1, 4)}-${c.slice(4)}${hex8(mix32(i))}`;
  return { platform: i % 4 === 0 ? 'confluence' : 'jira', tenantId };
}

/** A UUID-shaped row id for seeded tenant `i` that sorts with `i` (as a UUIDv7 sorts by time). */
export function seedIdOf(i: number): string {
  return `${hex8(i)}-${hex8(mix32(i ^ 0x68e31da4)).slice(0, 4)}-7${hex8(mix32(i)).slice(0, 3)}-8${hex8(mix32(i + 1)).slice(0, 3)}-${hex8(mix32(i + 2)).slice(0, 4)}${hex8(mix32(i + 3))}`;
}

/** Far in the future (2096): every token the bench writes is still valid when `rotate` reads it. */
const VALID_UNTIL_MS = 4_000_000_000_000;

/** Token strings of the lengths above, unique per `seq`, expiring around {@link VALID_UNTIL_MS}. */
export function tokensOf(seq: number): { accessToken: string; refreshToken: string; expiresAt: Date } {
  const tag = `-${seq}`;
  return {
    accessToken: ACCESS_PAD.slice(tag.length) + tag,
    refreshToken: REFRESH_PAD.slice(tag.length) + tag,
    expiresAt: new Date(VALID_UNTIL_MS + seq * 1000),
  };
}

/** A small deterministic PRNG (mulberry32), so every run draws the same keys. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` different keys drawn uniformly from the first `rows` tenants (all of them if fewer). */
export function distinctRandomKeys(random: () => number, rows: number, count: number): AtlassianOauthStateKey[] {
  const picked = new Set<number>();
  while (picked.size < Math.min(count, rows)) {
    picked.add(Math.floor(random() * rows));
  }
  return [...picked].map(keyOf);
}

/** `count` keys drawn uniformly from the first `rows` tenants. */
export function randomKeys(random: () => number, rows: number, count: number): AtlassianOauthStateKey[] {
  return Array.from({ length: count }, () => keyOf(Math.floor(random() * rows)));
}
