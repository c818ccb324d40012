import { DataSource, Repository } from 'typeorm';
import { RepoTestEngine, bootRepoPerTest, repoTestEngines } from '../../test/support/repo-test-engines';
import { AtlassianOauthRefreshLeaseEntity, AtlassianOauthStateEntity } from '../database/entities';
import {
  AtlassianOauthRefreshFailedError,
  AtlassianOauthRotateTimeoutError,
  AtlassianOauthStateNotFoundError,
  AtlassianOauthStateValidationError,
} from './atlassian-oauth-state.errors';
import {
  AtlassianOauthRefresh,
  AtlassianOauthRotateOptions,
  AtlassianOauthStateRepo,
  AtlassianOauthTokens,
} from './atlassian-oauth-state.repo';

const JIRA = 'jira';
const TENANT = 'tenant-a';
const HOUR_MS = 3_600_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const inMs = (ms: number) => new Date(Date.now() + ms);

/** A refresh that counts its calls, records the refresh tokens it was given, and returns `refresh-<n>` valid for an hour. */
function countingRefresh(delayMs = 0) {
  const received: string[] = [];
  const refresh: AtlassianOauthRefresh = async (current) => {
    received.push(current.refreshToken);
    await sleep(delayMs);
    const n = received.length;
    return { accessToken: `access-${n}`, refreshToken: `refresh-${n}`, expiresAt: inMs(HOUR_MS) };
  };
  return { refresh, received };
}

// Run on SQLite always and on each server whose TEST_POSTGRES_URL / TEST_MARIADB_URL is set.
describe.each(repoTestEngines())(
  `${AtlassianOauthStateRepo.name}.rotate on %s`,
  (engineName: string, engine: RepoTestEngine) => {
    let sut: AtlassianOauthStateRepo;
    let dataSource: DataSource;
    let leases: Repository<AtlassianOauthRefreshLeaseEntity>;

    const seed = (
      tokens: AtlassianOauthTokens = { accessToken: 'access-0', refreshToken: 'refresh-0', expiresAt: null },
    ) => sut.upsert(JIRA, TENANT, tokens);
    const foreignLease = (expiresAt: Date) =>
      leases.insert({ platform: JIRA, tenantId: TENANT, holder: 'another-process', expiresAt });

    const booted = bootRepoPerTest(engine);
    beforeEach(() => {
      ({ sut, dataSource } = booted());
      leases = dataSource.getRepository(AtlassianOauthRefreshLeaseEntity);
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
    }

    describe('when a refresh happens', () => {
      it('returns a state valid for longer than minValidityMs without calling refresh', async () => {
        const stored = await seed({ refreshToken: 'refresh-0', expiresAt: inMs(HOUR_MS) });
        const { refresh, received } = countingRefresh();

        await expect(sut.rotate(JIRA, TENANT, refresh)).resolves.toEqual(stored);
        expect(received).toEqual([]);
      });

      it('refreshes a state that expires within the default minValidityMs of 60 s, and stores and returns the new tokens', async () => {
        await seed({ accessToken: 'access-0', refreshToken: 'refresh-0', expiresAt: inMs(59_000) });
        const { refresh, received } = countingRefresh();

        const rotated = await sut.rotate(JIRA, TENANT, refresh);

        expect(received).toEqual(['refresh-0']);
        expect(rotated).toMatchObject({
          platform: JIRA,
          tenantId: TENANT,
          accessToken: 'access-1',
          refreshToken: 'refresh-1',
        });
        await expect(sut.get(JIRA, TENANT)).resolves.toEqual(rotated);
      });

      it('honours a custom minValidityMs', async () => {
        await seed({ refreshToken: 'refresh-0', expiresAt: inMs(10 * 60_000) });
        const { refresh, received } = countingRefresh();

        await expect(sut.rotate(JIRA, TENANT, refresh, { minValidityMs: 5 * 60_000 })).resolves.toMatchObject({
          refreshToken: 'refresh-0',
        });
        await expect(sut.rotate(JIRA, TENANT, refresh, { minValidityMs: 15 * 60_000 })).resolves.toMatchObject({
          refreshToken: 'refresh-1',
        });
        expect(received).toEqual(['refresh-0']);
      });

      it('forces a refresh with minValidityMs: Infinity', async () => {
        await seed({ refreshToken: 'refresh-0', expiresAt: inMs(365 * 24 * HOUR_MS) });
        const { refresh, received } = countingRefresh();

        await expect(sut.rotate(JIRA, TENANT, refresh, { minValidityMs: Infinity })).resolves.toMatchObject({
          refreshToken: 'refresh-1',
        });
        expect(received).toEqual(['refresh-0']);
      });

      it('treats a null expiresAt as needing a refresh', async () => {
        await seed({ refreshToken: 'refresh-0', expiresAt: null });
        const { refresh, received } = countingRefresh();

        await expect(sut.rotate(JIRA, TENANT, refresh, { minValidityMs: 0 })).resolves.toMatchObject({
          refreshToken: 'refresh-1',
        });
        expect(received).toEqual(['refresh-0']);
      });

      it('passes refresh the whole stored state', async () => {
        const stored = await seed({ accessToken: 'access-0', refreshToken: 'refresh-0', expiresAt: inMs(1_000) });
        const seen: AtlassianOauthStateEntity[] = [];

        await sut.rotate(JIRA, TENANT, (current) => {
          seen.push(current);
          return { refreshToken: 'refresh-1' };
        });

        expect(seen).toEqual([stored]);
      });

      it('rejects with a not-found error when nothing is stored, without calling refresh', async () => {
        const { refresh, received } = countingRefresh();

        const rejection = sut.rotate(JIRA, 'nobody', refresh);

        await expect(rejection).rejects.toBeInstanceOf(AtlassianOauthStateNotFoundError);
        await expect(rejection).rejects.toMatchObject({
          name: 'AtlassianOauthStateNotFoundError',
          platform: JIRA,
          tenantId: 'nobody',
        });
        expect(received).toEqual([]);
        await expect(leases.count()).resolves.toBe(0);
      });
    });

    describe('single flight within one process', () => {
      it('runs one refresh for 20 concurrent callers and gives all of them its result', async () => {
        await seed();
        const { refresh, received } = countingRefresh(20);

        const results = await Promise.all(Array.from({ length: 20 }, () => sut.rotate(JIRA, TENANT, refresh)));

        expect(received).toEqual(['refresh-0']);
        expect(new Set(results.map((r) => r.refreshToken))).toEqual(new Set(['refresh-1']));
        await expect(leases.count()).resolves.toBe(0);
      });

      it('chains forced refreshes of concurrent callers: each gets the token the previous one returned', async () => {
        await seed();
        const { refresh, received } = countingRefresh(2);

        const results = await Promise.all(
          Array.from({ length: 10 }, () =>
            sut.rotate(JIRA, TENANT, refresh, { minValidityMs: Number.MAX_SAFE_INTEGER }),
          ),
        );

        expect(received).toEqual(Array.from({ length: 10 }, (_, i) => `refresh-${i}`));
        expect(results.map((r) => r.refreshToken).sort()).toEqual(
          Array.from({ length: 10 }, (_, i) => `refresh-${i + 1}`).sort(),
        );
        await expect(sut.get(JIRA, TENANT)).resolves.toMatchObject({ refreshToken: 'refresh-10' });
      });

      it('keeps different tenants apart: their refreshes do not wait for each other', async () => {
        await seed();
        await sut.upsert(JIRA, 'tenant-b', { refreshToken: 'b-0' });
        let release!: () => void;
        const blocked = new Promise<void>((resolve) => (release = resolve));
        const slow = sut.rotate(JIRA, TENANT, async () => {
          await blocked;
          return { refreshToken: 'refresh-1' };
        });

        await expect(
          sut.rotate(JIRA, 'tenant-b', () => ({ refreshToken: 'b-1' }), { waitMs: 0 }),
        ).resolves.toMatchObject({ refreshToken: 'b-1' });
        release();
        await expect(slow).resolves.toMatchObject({ refreshToken: 'refresh-1' });
      });
    });

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
        await expect(sut.get(JIRA, TENANT)).resolves.toMatchObject({ refreshToken: 'refresh-0' });
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
        await sut.upsert(
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

    describe('fencing', () => {
      it('a holder overtaken mid-refresh does not overwrite the newer token and resolves with it', async () => {
        await seed();
        const { refresh, received } = countingRefresh();

        const rotated = await sut.rotate(JIRA, TENANT, async (current) => {
          // Meanwhile another holder rotated the token past ours.
          await sut.upsert(
            JIRA,
            TENANT,
            { refreshToken: 'newer', expiresAt: inMs(HOUR_MS) },
            { expectedRefreshToken: current.refreshToken },
          );
          return refresh(current);
        });

        expect(received).toEqual(['refresh-0']);
        expect(rotated).toMatchObject({ refreshToken: 'newer' });
        await expect(sut.get(JIRA, TENANT)).resolves.toMatchObject({ refreshToken: 'newer' });
      });

      it('rejects with not-found when the state was deleted during the refresh', async () => {
        await seed();

        await expect(
          sut.rotate(JIRA, TENANT, async () => {
            await sut.delete(JIRA, TENANT);
            return { refreshToken: 'refresh-1' };
          }),
        ).rejects.toBeInstanceOf(AtlassianOauthStateNotFoundError);
        await expect(sut.get(JIRA, TENANT)).resolves.toBeNull();
        await expect(leases.count()).resolves.toBe(0);
      });
    });

    describe('a failing refresh', () => {
      it('reaches the caller with its cause and no token in the message; the state is unchanged and the lease released', async () => {
        const before = await seed({
          accessToken: 'secret-access-0',
          refreshToken: 'secret-refresh-0',
          expiresAt: null,
        });
        const cause = new Error('Atlassian said invalid_grant for secret-refresh-0');

        const error = (await sut
          .rotate(JIRA, TENANT, () => {
            throw cause;
          })
          .catch((e: unknown) => e)) as AtlassianOauthRefreshFailedError;

        expect(error).toBeInstanceOf(AtlassianOauthRefreshFailedError);
        expect(error).toMatchObject({ name: 'AtlassianOauthRefreshFailedError', platform: JIRA, tenantId: TENANT });
        expect(error.cause).toBe(cause);
        expect(error.message).not.toContain('secret');
        expect(error.message).toContain('Error: Atlassian said invalid_grant for [redacted]');
        await expect(sut.get(JIRA, TENANT)).resolves.toEqual(before);
        await expect(leases.count()).resolves.toBe(0);
        // Released, not lapsed: the next caller refreshes at once.
        await expect(
          sut.rotate(JIRA, TENANT, () => ({ refreshToken: 'refresh-1' }), { waitMs: 0 }),
        ).resolves.toMatchObject({ refreshToken: 'refresh-1' });
      });

      it('also for a rejected promise', async () => {
        const before = await seed();
        const cause = new Error('network down');

        const rejection = sut.rotate(JIRA, TENANT, () => Promise.reject(cause));

        await expect(rejection).rejects.toMatchObject({ name: 'AtlassianOauthRefreshFailedError', cause });
        await expect(sut.get(JIRA, TENANT)).resolves.toEqual(before);
        await expect(leases.count()).resolves.toBe(0);
      });

      it('refuses invalid tokens returned by refresh, naming the field, and releases the lease', async () => {
        const before = await seed();

        const rejection = sut.rotate(JIRA, TENANT, () => ({ refreshToken: '' }));

        await expect(rejection).rejects.toMatchObject({
          name: 'AtlassianOauthStateValidationError',
          field: 'refreshToken',
        });
        await expect(sut.get(JIRA, TENANT)).resolves.toEqual(before);
        await expect(leases.count()).resolves.toBe(0);
      });
    });

    describe('bad input', () => {
      const noop: AtlassianOauthRefresh = () => ({ refreshToken: 'never' });
      const badCalls: [string, string, () => Promise<unknown>][] = [
        [
          'a refresh that is not a function',
          'refresh',
          () => sut.rotate(JIRA, TENANT, 'refresh' as unknown as AtlassianOauthRefresh),
        ],
        ['a missing refresh', 'refresh', () => sut.rotate(JIRA, TENANT, undefined as unknown as AtlassianOauthRefresh)],
        [
          'null options',
          'options',
          () => sut.rotate(JIRA, TENANT, noop, null as unknown as AtlassianOauthRotateOptions),
        ],
        ['a negative minValidityMs', 'minValidityMs', () => sut.rotate(JIRA, TENANT, noop, { minValidityMs: -1 })],
        ['a NaN minValidityMs', 'minValidityMs', () => sut.rotate(JIRA, TENANT, noop, { minValidityMs: NaN })],
        ['a zero leaseMs', 'leaseMs', () => sut.rotate(JIRA, TENANT, noop, { leaseMs: 0 })],
        [
          'a string leaseMs',
          'leaseMs',
          () => sut.rotate(JIRA, TENANT, noop, { leaseMs: '30000' as unknown as number }),
        ],
        ['a leaseMs beyond the longest timer', 'leaseMs', () => sut.rotate(JIRA, TENANT, noop, { leaseMs: 2 ** 31 })],
        ['a negative waitMs', 'waitMs', () => sut.rotate(JIRA, TENANT, noop, { waitMs: -5 })],
        ['a null waitMs', 'waitMs', () => sut.rotate(JIRA, TENANT, noop, { waitMs: null as unknown as number })],
        ['a blank tenantId', 'tenantId', () => sut.rotate(JIRA, ' ', noop)],
        ['a blank platform', 'platform', () => sut.rotate('', TENANT, noop)],
      ];

      it.each(badCalls)('refuses %s, naming %s, before reading or writing anything', async (_case, field, call) => {
        const before = await seed();

        const rejection = call();

        await expect(rejection).rejects.toBeInstanceOf(AtlassianOauthStateValidationError);
        await expect(rejection).rejects.toMatchObject({ field, message: expect.stringContaining(field) });
        await expect(sut.get(JIRA, TENANT)).resolves.toEqual(before);
        await expect(leases.count()).resolves.toBe(0);
      });
    });
  },
);
