import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource, QueryFailedError, Repository } from 'typeorm';
import { RepoTestEngine, repoTestEngines } from '../support/repo-test-engines';
import { HOUR_MS, bootRotationPerTest, countingRefresh, inMs } from '../support/rotation-fixtures';
import { JIRA, TENANT } from '../support/state-fixtures';
import { AtlassianOauthRefreshLeaseEntity } from '../../src/database/entities';
import { AtlassianOauthRotateTimeoutError } from '../../src/atlassian/atlassian-oauth-state.errors';
import { AtlassianOauthStateRepo } from '../../src/atlassian/atlassian-oauth-state.repo';
import { AtlassianOauthTokens } from '../../src/atlassian/atlassian-oauth-state.types';
import { AtlassianOauthRotationService } from '../../src/atlassian/rotation/atlassian-oauth-rotation.service';

// Run on SQLite always and on each server whose TEST_POSTGRES_URL / TEST_MARIADB_URL is set.
describe.each(repoTestEngines())(
  `${AtlassianOauthRotationService.name}.rotate's lease on %s`,
  (engineName: string, engine: RepoTestEngine) => {
    let sut: AtlassianOauthRotationService;
    let states: AtlassianOauthStateRepo;
    let dataSource: DataSource;
    let leases: Repository<AtlassianOauthRefreshLeaseEntity>;

    const seed = (
      tokens: AtlassianOauthTokens = { accessToken: 'access-0', refreshToken: 'refresh-0', expiresAt: null },
    ) => states.upsert(JIRA, TENANT, tokens);
    const foreignLease = (expiresAt: Date) =>
      leases.insert({ platform: JIRA, tenantId: TENANT, holder: 'another-process', expiresAt });

    const rotation = bootRotationPerTest(engine);
    beforeEach(() => {
      ({ sut, states, dataSource, leases } = rotation());
    });

    // The server engines' lease columns are checked in information_schema by test/server-databases.e2e-spec.ts.
    if (engineName === 'SQLite') {
      it('keeps the lease in a table of its own, keyed by (platform, tenant_id)', async () => {
        const columns = await dataSource.query<{ name: string; pk: number; notnull: number }[]>(
          `PRAGMA table_info('atlassian_oauth_refresh_lease')`,
        );

        expect(columns.map(({ name, pk, notnull }) => ({ name, pk, notnull }))).toEqual([
          { name: 'platform', pk: 1, notnull: 1 },
          { name: 'tenant_id', pk: 2, notnull: 1 },
          { name: 'holder', pk: 0, notnull: 1 },
          { name: 'expires_at', pk: 0, notnull: 1 },
        ]);
      });

      it('redacts the parameters of a database error that leaves rotate', async () => {
        await seed();
        await dataSource.query('DROP TABLE atlassian_oauth_refresh_lease');

        const failure = await sut.rotate(JIRA, TENANT, () => ({ refreshToken: 'refresh-1' })).catch((e: unknown) => e);

        expect(failure).toBeInstanceOf(QueryFailedError);
        expect(failure).toMatchObject({
          message: expect.stringContaining('no such table'),
          parameters: [expect.stringMatching(/^\[\d+ parameters? redacted\]$/)],
        });
        await expect(states.get(JIRA, TENANT)).resolves.toMatchObject({ refreshToken: 'refresh-0' });
      });
    }

    describe('the lease', () => {
      it('is held in the database while refresh runs and removed afterwards', async () => {
        await seed();
        const during: AtlassianOauthRefreshLeaseEntity[][] = [];

        await sut.rotate(JIRA, TENANT, async () => {
          during.push(await leases.find());
          return { refreshToken: 'refresh-1' };
        });

        expect(during).toEqual([
          [{ platform: JIRA, tenantId: TENANT, holder: expect.any(String), expiresAt: expect.any(Date) }],
        ]);
        await expect(leases.count()).resolves.toBe(0);
      });

      it('lasts leaseMs', async () => {
        await seed();
        let expiresAt: Date | undefined;

        await sut.rotate(
          JIRA,
          TENANT,
          async () => {
            expiresAt = (await leases.findOneByOrFail({ platform: JIRA, tenantId: TENANT })).expiresAt;
            return { refreshToken: 'refresh-1' };
          },
          { leaseMs: 5_000 },
        );
        const after = Date.now();

        expect(expiresAt?.getTime()).toBeGreaterThan(after + 5_000 - 1_000);
        expect(expiresAt?.getTime()).toBeLessThanOrEqual(after + 5_000);
      });

      it("makes callers wait while another process's live lease is held, then rejects after waitMs", async () => {
        await seed();
        await foreignLease(inMs(HOUR_MS));
        const { refresh, received } = countingRefresh();

        const rejection = sut.rotate(JIRA, TENANT, refresh, { waitMs: 100 });

        await expect(rejection).rejects.toBeInstanceOf(AtlassianOauthRotateTimeoutError);
        await expect(rejection).rejects.toMatchObject({
          platform: JIRA,
          tenantId: TENANT,
          waitMs: 100,
          message: expect.stringContaining('100 ms'),
        });
        expect(received).toEqual([]);
        await expect(states.get(JIRA, TENANT)).resolves.toMatchObject({ refreshToken: 'refresh-0' });
        await expect(leases.findOneByOrFail({ platform: JIRA, tenantId: TENANT })).resolves.toMatchObject({
          holder: 'another-process',
        });
      });

      it('gives up at waitMs also while queued behind a slow refresh of the same process', async () => {
        await seed();
        const slow = sut.rotate(JIRA, TENANT, async () => {
          await sleep(300);
          return { refreshToken: 'refresh-1' };
        });
        const { refresh, received } = countingRefresh();

        await expect(sut.rotate(JIRA, TENANT, refresh, { waitMs: 50 })).rejects.toBeInstanceOf(
          AtlassianOauthRotateTimeoutError,
        );
        await expect(slow).resolves.toMatchObject({ refreshToken: 'refresh-1' });
        expect(received).toEqual([]);
        // The timed-out caller gave its place up: the next one is served.
        await expect(
          sut.rotate(JIRA, TENANT, refresh, { minValidityMs: Number.MAX_SAFE_INTEGER, waitMs: 0 }),
        ).resolves.toMatchObject({ refreshToken: 'refresh-1' });
      });

      it('uses the state that another process stored while the caller waited, without refreshing', async () => {
        await seed();
        await foreignLease(inMs(HOUR_MS));
        const { refresh, received } = countingRefresh();

        const waiting = sut.rotate(JIRA, TENANT, refresh);
        await sleep(50);
        await states.upsert(
          JIRA,
          TENANT,
          { refreshToken: 'from-the-other-process', expiresAt: inMs(HOUR_MS) },
          { expectedRefreshToken: 'refresh-0' },
        );
        await leases.delete({ holder: 'another-process' });

        await expect(waiting).resolves.toMatchObject({ refreshToken: 'from-the-other-process' });
        expect(received).toEqual([]);
      });

      it('takes over a lease that lapsed (its holder died) and refreshes', async () => {
        await seed();
        await foreignLease(inMs(-1));
        const { refresh, received } = countingRefresh();

        await expect(sut.rotate(JIRA, TENANT, refresh, { waitMs: 0 })).resolves.toMatchObject({
          refreshToken: 'refresh-1',
        });
        expect(received).toEqual(['refresh-0']);
        await expect(leases.count()).resolves.toBe(0);
      });

      it('releases only its own lease: one taken over after it lapsed stays with the new holder', async () => {
        await seed();

        await sut.rotate(
          JIRA,
          TENANT,
          async () => {
            // Our lease lapses mid-refresh and another process takes it over.
            await leases.update(
              { platform: JIRA, tenantId: TENANT },
              { holder: 'another-process', expiresAt: inMs(HOUR_MS) },
            );
            return { refreshToken: 'refresh-1' };
          },
          { leaseMs: 10 },
        );

        await expect(leases.find()).resolves.toEqual([
          { platform: JIRA, tenantId: TENANT, holder: 'another-process', expiresAt: expect.any(Date) },
        ]);
      });
    });
  },
);
