import { setTimeout as sleep } from 'node:timers/promises';
import { Repository } from 'typeorm';
import { RepoTestEngine, repoTestEngines } from '../support/repo-test-engines';
import { HOUR_MS, bootRotationPerTest, countingRefresh, inMs } from '../support/rotation-fixtures';
import { JIRA, TENANT } from '../support/state-fixtures';
import { AtlassianOauthRefreshLeaseEntity, AtlassianOauthStateEntity } from '../../src/database/entities';
import {
  AtlassianOauthRefreshFailedError,
  AtlassianOauthStateNotFoundError,
  AtlassianOauthStateValidationError,
} from '../../src/atlassian/atlassian-oauth-state.errors';
import { AtlassianOauthStateRepo } from '../../src/atlassian/atlassian-oauth-state.repo';
import {
  AtlassianOauthRefresh,
  AtlassianOauthRotateOptions,
  AtlassianOauthTokens,
} from '../../src/atlassian/atlassian-oauth-state.types';
import { AtlassianOauthRotationService } from '../../src/atlassian/rotation/atlassian-oauth-rotation.service';

// Run on SQLite always and on each server whose TEST_POSTGRES_URL / TEST_MARIADB_URL is set.
describe.each(repoTestEngines())(
  `${AtlassianOauthRotationService.name}.rotate on %s`,
  (engineName: string, engine: RepoTestEngine) => {
    let sut: AtlassianOauthRotationService;
    let states: AtlassianOauthStateRepo;
    let leases: Repository<AtlassianOauthRefreshLeaseEntity>;

    const seed = (
      tokens: AtlassianOauthTokens = { accessToken: 'access-0', refreshToken: 'refresh-0', expiresAt: null },
    ) => states.upsert(JIRA, TENANT, tokens);

    const rotation = bootRotationPerTest(engine);
    beforeEach(() => {
      ({ sut, states, leases } = rotation());
    });

    describe('when a refresh happens', () => {
      it('returns a state valid for longer than minValidityMs without calling refresh', async () => {
        const stored = await seed({ refreshToken: 'refresh-0', expiresAt: inMs(HOUR_MS) });
        const { refresh, received } = countingRefresh();

        await expect(sut.rotate(JIRA, TENANT, refresh)).resolves.toEqual(stored);
        expect(received).toEqual([]);
      });

      it('returns a valid state at once even while another caller of this process refreshes the key', async () => {
        const stored = await seed({ refreshToken: 'refresh-0', expiresAt: inMs(10 * 60_000) });
        let release = (): void => {};
        const blocked = new Promise<void>((resolve) => (release = resolve));
        const slow = sut.rotate(
          JIRA,
          TENANT,
          async () => {
            await blocked;
            return { refreshToken: 'refresh-1', expiresAt: inMs(HOUR_MS) };
          },
          { minValidityMs: HOUR_MS },
        );
        await sleep(50); // the slow caller holds the key's turn and its lease

        const { refresh, received } = countingRefresh();
        const fast = await Promise.race([
          sut.rotate(JIRA, TENANT, refresh, { minValidityMs: 0 }),
          sleep(2_000).then(() => 'still waiting'),
        ]);

        expect(fast).toEqual(stored);
        expect(received).toEqual([]);
        release();
        await expect(slow).resolves.toMatchObject({ refreshToken: 'refresh-1' });
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
        await expect(states.get(JIRA, TENANT)).resolves.toEqual(rotated);
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
        await expect(states.get(JIRA, TENANT)).resolves.toMatchObject({ refreshToken: 'refresh-10' });
      });

      it('keeps different tenants apart: their refreshes do not wait for each other', async () => {
        await seed();
        await states.upsert(JIRA, 'tenant-b', { refreshToken: 'b-0' });
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

    describe('fencing', () => {
      it('a holder overtaken mid-refresh does not overwrite the newer token and resolves with it', async () => {
        await seed();
        const { refresh, received } = countingRefresh();

        const rotated = await sut.rotate(JIRA, TENANT, async (current) => {
          // Meanwhile another holder rotated the token past ours.
          await states.upsert(
            JIRA,
            TENANT,
            { refreshToken: 'newer', expiresAt: inMs(HOUR_MS) },
            { expectedRefreshToken: current.refreshToken },
          );
          return refresh(current);
        });

        expect(received).toEqual(['refresh-0']);
        expect(rotated).toMatchObject({ refreshToken: 'newer' });
        await expect(states.get(JIRA, TENANT)).resolves.toMatchObject({ refreshToken: 'newer' });
      });

      it('rejects with not-found when the state was deleted during the refresh', async () => {
        await seed();

        await expect(
          sut.rotate(JIRA, TENANT, async () => {
            await states.delete(JIRA, TENANT);
            return { refreshToken: 'refresh-1' };
          }),
        ).rejects.toBeInstanceOf(AtlassianOauthStateNotFoundError);
        await expect(states.get(JIRA, TENANT)).resolves.toBeNull();
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
        expect(error.message).toBe(
          'Refreshing the Atlassian OAuth state of ("jira", "tenant-a") failed: refresh threw Error. The stored state is unchanged; see error.cause.',
        );
        await expect(states.get(JIRA, TENANT)).resolves.toEqual(before);
        await expect(leases.count()).resolves.toBe(0);
        // Released, not lapsed: the next caller refreshes at once.
        await expect(
          sut.rotate(JIRA, TENANT, () => ({ refreshToken: 'refresh-1' }), { waitMs: 0 }),
        ).resolves.toMatchObject({ refreshToken: 'refresh-1' });
      });

      it.each([
        [
          'an error quoting the new token response',
          new SyntaxError('unexpected token response: {"refresh_token":"NEW-REFRESH","access_token":"NEW-ACCESS"}'),
          'refresh threw SyntaxError',
        ],
        [
          'an error whose name holds a token',
          Object.assign(new TypeError('x'), { name: 'NEW-REFRESH' }),
          'refresh threw TypeError',
        ],
        ['a thrown string', 'NEW-REFRESH in a string', 'refresh threw a string'],
        ['a thrown object', { refresh_token: 'NEW-REFRESH' }, 'refresh threw an object'],
      ])('names only the class of %s, never its text, and keeps it as cause', async (_case, cause, named) => {
        await seed({ refreshToken: 'secret-refresh-0', expiresAt: null });

        // A consumer's refresh may reject with anything, not only an Error.
        const error = (await sut
          .rotate(JIRA, TENANT, () => Promise.reject(cause as Error))
          .catch((e: unknown) => e)) as AtlassianOauthRefreshFailedError;

        expect(error).toBeInstanceOf(AtlassianOauthRefreshFailedError);
        expect(error.cause).toBe(cause);
        expect(error.message).toContain(named);
        expect(error.message).toContain('("jira", "tenant-a")');
        expect(error.message).not.toMatch(/NEW-|secret/);
      });

      it('also for a rejected promise', async () => {
        const before = await seed();
        const cause = new Error('network down');

        const rejection = sut.rotate(JIRA, TENANT, () => Promise.reject(cause));

        await expect(rejection).rejects.toMatchObject({ name: 'AtlassianOauthRefreshFailedError', cause });
        await expect(states.get(JIRA, TENANT)).resolves.toEqual(before);
        await expect(leases.count()).resolves.toBe(0);
      });

      it('refuses invalid tokens returned by refresh, naming the field, and releases the lease', async () => {
        const before = await seed();

        const rejection = sut.rotate(JIRA, TENANT, () => ({ refreshToken: '' }));

        await expect(rejection).rejects.toMatchObject({
          name: 'AtlassianOauthStateValidationError',
          field: 'refreshToken',
        });
        await expect(states.get(JIRA, TENANT)).resolves.toEqual(before);
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
        await expect(states.get(JIRA, TENANT)).resolves.toEqual(before);
        await expect(leases.count()).resolves.toBe(0);
      });
    });
  },
);
