import { AtlassianOauthStateEntity, AtlassianOauthStateKey } from '../../src/atlassian';
import { TokenCipher } from '../../src/token-cipher/token-cipher';
import { BenchApp } from './app';
import { tokensOf } from './keys';
import { Variant } from './measure';
import { ACCESS_TOKEN_VALID, ROTATE_VALID } from './results';
import { Floor, locate } from './target';

/** The key columns `Repository.upsert` conflicts on, as the repo passes them. */
const CONFLICT_PATHS = ['platform', 'tenantId'];

/** What the repo does to a stored row before returning it: a copy with both tokens opened (a pass-through in plaintext mode). */
function opened(cipher: TokenCipher, row: AtlassianOauthStateEntity): AtlassianOauthStateEntity {
  return Object.assign(new AtlassianOauthStateEntity(), row, {
    accessToken: row.accessToken === null ? null : cipher.open(row.accessToken, locate(row, 'accessToken')),
    refreshToken: cipher.open(row.refreshToken, locate(row, 'refreshToken')),
  });
}

/**
 * The ways of reading one state: the raw floor, the injected repo, and TypeORM's `findOneBy`
 * (what `repo.get` was built on), so the report shows where between the two the repo sits.
 * Both the floor and `findOneBy` open the tokens with the repo's cipher, as the repo does.
 * Add a variant here and every table gains a row.
 */
export function getVariants(app: BenchApp, floor: Floor): Variant<AtlassianOauthStateKey>[] {
  return [
    { name: 'raw', run: (key) => floor.get(key) },
    { name: 'repo.get', run: (key) => app.repo.get(key.platform, key.tenantId) },
    {
      name: 'typeorm findOneBy',
      run: async (key) => {
        const row = await app.typeormRepository.findOneBy({ platform: key.platform, tenantId: key.tenantId });
        return row && opened(app.cipher, row);
      },
    },
    {
      // What a caller pays on every API call when it asks `rotate` for a token: the stored one is
      // still valid (seeded to expire decades from now), so no lease, no refresh, no write.
      name: ROTATE_VALID,
      run: (key) => app.rotation.rotate(key.platform, key.tenantId, refuseRefresh, { minValidityMs: 0 }),
    },
    {
      // The same for the token service: a still-valid access token is one read.
      name: ACCESS_TOKEN_VALID,
      run: (key) => app.tokens.accessToken(key.platform, key.tenantId, { minValidityMs: 0 }),
    },
  ];
}

/** `rotate`'s refresh in {@link ROTATE_VALID}: never called while the stored token is valid. */
const refuseRefresh = (): never => {
  throw new Error('the bench seeded a token that has expired: rotate tried to refresh it');
};

/** Far enough ahead that `rotate` always refreshes: the bench measures the refresh path. */
const ALWAYS_REFRESH = { minValidityMs: Number.MAX_SAFE_INTEGER };

/**
 * The database side of a token refresh: read the state, then store the new tokens only if the
 * stored refresh token is still the one read (the repo's conditional upsert). The raw floor does
 * it by hand (SELECT, compare-and-swap UPDATE, read-back); the repo as a caller would with
 * `get` + `upsert(..., { expectedRefreshToken })`; and `rotate` adds its lease (taken and
 * released in the database) around the same conditional write.
 */
export function rotateVariants(app: BenchApp, floor: Floor): Variant<AtlassianOauthStateKey>[] {
  return [
    {
      name: 'raw',
      run: async (key, seq) => {
        const current = await floor.get(key);
        if (current === null) {
          throw new Error('no state to rotate');
        }
        return floor.replaceIfCurrent(key, current.refreshToken, tokensOf(seq));
      },
    },
    {
      name: 'repo get+upsert(expected)',
      run: async (key, seq) => {
        const current = await app.repo.get(key.platform, key.tenantId);
        return app.repo.upsert(key.platform, key.tenantId, tokensOf(seq), {
          expectedRefreshToken: current?.refreshToken ?? null,
        });
      },
    },
    {
      name: 'repo.rotate (forced refresh)',
      run: (key, seq) => app.rotation.rotate(key.platform, key.tenantId, () => tokensOf(seq), ALWAYS_REFRESH),
    },
  ];
}

/**
 * The ways of writing one state and reading it back: the raw floor, the injected repo, and a
 * bare `Repository.upsert` of the same row (the repo's SQL, tokens sealed with the repo's
 * cipher) plus `findOneByOrFail` and opening, which is what the repo would be without its
 * validation and wrapping.
 */
export function upsertVariants(app: BenchApp, floor: Floor): Variant<AtlassianOauthStateKey>[] {
  return [
    { name: 'raw', run: (key, seq) => floor.upsert(key, tokensOf(seq)) },
    { name: 'repo.upsert', run: (key, seq) => app.repo.upsert(key.platform, key.tenantId, tokensOf(seq)) },
    {
      name: 'typeorm upsert+findOneBy',
      run: async (key, seq) => {
        const where = { platform: key.platform, tenantId: key.tenantId };
        const tokens = tokensOf(seq);
        const sealed = {
          accessToken: app.cipher.seal(tokens.accessToken, locate(key, 'accessToken')),
          refreshToken: app.cipher.seal(tokens.refreshToken, locate(key, 'refreshToken')),
        };
        await app.typeormRepository.upsert({ ...where, ...tokens, ...sealed, updatedAt: new Date() }, CONFLICT_PATHS);
        return opened(app.cipher, await app.typeormRepository.findOneByOrFail(where));
      },
    },
  ];
}
