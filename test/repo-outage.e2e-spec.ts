import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { Test, TestingModule } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AtlassianModule, DatabaseUnavailableError } from '../src/atlassian';
import { AtlassianOauthRefreshHealthRepo } from '../src/atlassian/atlassian-oauth-refresh-health.repo';
import { AtlassianOauthRefreshLeaseRepo } from '../src/atlassian/atlassian-oauth-refresh-lease.repo';
import { AtlassianOauthSealedStateRepo } from '../src/atlassian/atlassian-oauth-sealed-state.repo';
import { AtlassianOauthStateRepo } from '../src/atlassian/atlassian-oauth-state.repo';
import { AtlassianApiPauseRepo } from '../src/atlassian/api/atlassian-api-pause.repo';
import { AtlassianSiteRepo } from '../src/atlassian/api/atlassian-site.repo';
import { AtlassianOauthConsentStateRepo } from '../src/atlassian/consent/atlassian-oauth-consent-state.repo';
import { DatabaseRepo, repoMethodNames } from '../src/database/database-repo';
import { DatabaseModule } from '../src/database/database.module';
import {
  AtlassianApiPauseEntity,
  AtlassianOauthConsentStateEntity,
  AtlassianOauthRefreshHealthEntity,
  AtlassianOauthStateEntity,
} from '../src/database/entities';
import { testConfig, withConfig } from './support/config';
import { FreezablePostgres, freezablePostgresUnavailable } from './support/freezable-postgres';

const SRC = join(__dirname, '..', 'src');
const TOKEN = 'refresh-token-that-must-not-leak';
const KEY = { platform: 'jira', tenantId: 'acme' };
const ID = '00000000-0000-4000-8000-000000000001';

/** Every repo of the service, with its source file (to tell its public methods from its private ones). */
const REPOS = [
  { repo: AtlassianOauthStateRepo, file: 'atlassian/atlassian-oauth-state.repo.ts' },
  { repo: AtlassianOauthSealedStateRepo, file: 'atlassian/atlassian-oauth-sealed-state.repo.ts' },
  { repo: AtlassianOauthRefreshLeaseRepo, file: 'atlassian/atlassian-oauth-refresh-lease.repo.ts' },
  { repo: AtlassianOauthRefreshHealthRepo, file: 'atlassian/atlassian-oauth-refresh-health.repo.ts' },
  { repo: AtlassianOauthConsentStateRepo, file: 'atlassian/consent/atlassian-oauth-consent-state.repo.ts' },
  { repo: AtlassianSiteRepo, file: 'atlassian/api/atlassian-site.repo.ts' },
  { repo: AtlassianApiPauseRepo, file: 'atlassian/api/atlassian-api-pause.repo.ts' },
] as const;

const storedRow = (): AtlassianOauthStateEntity =>
  Object.assign(new AtlassianOauthStateEntity(), {
    id: ID,
    ...KEY,
    accessToken: null,
    refreshToken: TOKEN,
    expiresAt: null,
    updatedAt: new Date(),
  });

const healthRow = (): AtlassianOauthRefreshHealthEntity =>
  Object.assign(new AtlassianOauthRefreshHealthEntity(), {
    ...KEY,
    status: 'failing',
    stateId: ID,
    stateUpdatedAt: new Date(),
    failure: 'server-error',
    httpStatus: 503,
    failures: 1,
  });

/** Valid arguments for every public method of every repo: a method missing here fails the spec. */
const CALLS: Readonly<Record<string, Readonly<Record<string, readonly (readonly unknown[])[]>>>> = {
  [AtlassianOauthStateRepo.name]: {
    get: [[KEY.platform, KEY.tenantId]],
    upsert: [
      [KEY.platform, KEY.tenantId, { refreshToken: TOKEN, accessToken: 'access-token-that-must-not-leak' }],
      [KEY.platform, KEY.tenantId, { refreshToken: TOKEN }, { expectedRefreshToken: `${TOKEN}-old` }],
      [KEY.platform, KEY.tenantId, { refreshToken: TOKEN }, { expectedRefreshToken: null }],
    ],
    readForRefresh: [[KEY.platform, KEY.tenantId]],
    replaceRefreshed: [
      [
        { state: storedRow(), health: null, storedRefreshToken: TOKEN },
        { refreshToken: `${TOKEN}-new`, accessToken: 'access-token-that-must-not-leak' },
      ],
    ],
    delete: [[KEY.platform, KEY.tenantId]],
    list: [[], [{ platform: KEY.platform }]],
    count: [[]],
    findIdlePage: [[new Date(), undefined, 10]],
    countByIdleness: [[new Date()]],
  },
  [AtlassianOauthSealedStateRepo.name]: {
    count: [[]],
    findSealedPage: [[undefined, 10]],
    findSealedById: [[ID]],
    replaceSealedTokens: [[storedRow(), { accessToken: null, refreshToken: `${TOKEN}-resealed` }]],
    replaceSealedTokensBatch: [
      [
        [
          {
            id: ID,
            storedAccessToken: null,
            storedRefreshToken: TOKEN,
            accessToken: null,
            refreshToken: `${TOKEN}-resealed`,
          },
        ],
      ],
    ],
  },
  [AtlassianOauthRefreshLeaseRepo.name]: {
    tryAcquire: [[KEY, 30_000]],
    takeOver: [[KEY, 'holder-1', 30_000]],
    findLapsed: [[10]],
    deleteLapsed: [[KEY]],
    release: [[KEY, 'holder-1']],
  },
  [AtlassianOauthRefreshHealthRepo.name]: {
    get: [[KEY.platform, KEY.tenantId]],
    list: [[]],
    listCurrent: [[]],
    save: [[healthRow()]],
    clear: [[KEY.platform, KEY.tenantId]],
  },
  [AtlassianOauthConsentStateRepo.name]: {
    create: [[{ ...KEY, returnTo: 'https://app.example.test/done' }, new Date(Date.now() + 60_000)]],
    bind: [['F'.repeat(43), 'B'.repeat(43), new Date(Date.now() + 60_000)]],
    consume: [['A'.repeat(43), 'B'.repeat(43)]],
  },
  [AtlassianSiteRepo.name]: {
    list: [[KEY.platform, KEY.tenantId]],
    replace: [
      [
        KEY.platform,
        KEY.tenantId,
        [
          {
            cloudId: '11111111-1111-4111-8111-111111111111',
            url: 'https://acme.atlassian.net',
            name: 'acme',
            scopes: ['read:jira-work'],
            avatarUrl: null,
          },
        ],
        new Date(),
      ],
    ],
    countByKey: [[], [{ platform: KEY.platform }]],
  },
  [AtlassianApiPauseRepo.name]: {
    inForce: [[new Date()]],
    save: [
      [
        Object.assign(new AtlassianApiPauseEntity(), {
          scope: 'app',
          platform: KEY.platform,
          tenantId: '',
          pausedUntil: new Date(Date.now() + 60_000),
          reason: 'jira-quota-global-based',
          pausedAt: new Date(),
        }),
      ],
    ],
  },
};

/** The methods a repo's source declares without `private` or `protected`: its public face. */
function publicMethods(file: string): string[] {
  const source = readFileSync(join(SRC, file), 'utf8');
  return [...source.matchAll(/^ {2}(?:async )?([a-zA-Z]\w*)\(/gm)]
    .map((match) => match[1] ?? '')
    .filter((name) => name !== 'constructor');
}

describe('every repo', () => {
  it('is a DatabaseRepo, and the spec below has arguments for each of its public methods', () => {
    for (const { repo, file } of REPOS) {
      expect(repo.prototype).toBeInstanceOf(DatabaseRepo);
      expect(Object.keys(CALLS[repo.name] ?? {}).sort()).toEqual(publicMethods(file).sort());
    }
  });
});

const unavailable = freezablePostgresUnavailable();
// A stopped server of the test's own (never the shared one); it needs root and the server binaries.
(unavailable ? describe.skip : describe)(
  `every public repo method while the database is down${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    let pg: FreezablePostgres;
    let moduleRef: TestingModule;

    beforeAll(async () => {
      pg = await FreezablePostgres.create();
      const config = testConfig({ DATABASE_URL: pg.url, DATABASE_QUERY_TIMEOUT_MS: '1000' });
      moduleRef = await withConfig(
        Test.createTestingModule({
          imports: [
            DatabaseModule,
            AtlassianModule,
            TypeOrmModule.forFeature([AtlassianOauthConsentStateEntity, AtlassianApiPauseEntity]),
          ],
          providers: [AtlassianOauthConsentStateRepo, AtlassianApiPauseRepo],
        }),
        config,
      ).compile();
      await moduleRef.init();
      // The repos work while it is up.
      await moduleRef.get(AtlassianOauthStateRepo).upsert(KEY.platform, KEY.tenantId, { refreshToken: TOKEN });
      await pg.stop();
    }, 120_000);

    afterAll(async () => {
      await pg?.start();
      await moduleRef?.close();
      await pg?.destroy();
    }, 60_000);

    const cases = REPOS.flatMap(({ repo }) =>
      Object.entries(CALLS[repo.name] ?? {}).flatMap(([method, calls]) =>
        calls.map((args, index) => [`${repo.name}.${method}`, repo, method, args, index] as const),
      ),
    );

    it.each(cases)(
      '%s rejects with DatabaseUnavailableError, never a raw driver error, and quotes no token',
      async (_label, repo, method, args) => {
        const sut = moduleRef.get<DatabaseRepo>(repo);
        expect(repoMethodNames(sut)).toContain(method);
        const call = (sut as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>)[method];

        const error = await Promise.resolve()
          .then(() => call?.apply(sut, [...args]))
          .then(
            () => undefined,
            (rejected: unknown) => rejected,
          );

        expect(error).toBeInstanceOf(DatabaseUnavailableError);
        expect(error).toMatchObject({ engine: 'postgres', retryable: true });
        expect(inspect(error, { depth: 10 })).not.toContain(TOKEN);
      },
    );
  },
);
