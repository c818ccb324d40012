import { DataSource } from 'typeorm';
import {
  AtlassianOauthStateConflictError,
  AtlassianOauthStateEntity,
  AtlassianOauthStateRepo,
  AtlassianOauthStateValidationError,
} from '../../src/atlassian';
import { JIRA, TENANT } from './state-fixtures';

/** The repo under test and its connection, as booted by the caller's `beforeEach`. */
export interface BootedRepo {
  sut(): AtlassianOauthStateRepo;
  dataSource(): DataSource;
}

/** Resolves with the conflict a write was expected to reject with; fails the test if it was applied. */
export async function conflictOf(promise: Promise<unknown>): Promise<AtlassianOauthStateConflictError> {
  const error = await promise.then(
    () => new Error('expected a conflict, but the write was applied'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AtlassianOauthStateConflictError);
  return error as AtlassianOauthStateConflictError;
}

/**
 * The conditional upsert and `delete` cases, written once: the database file suite runs
 * them on a SQLite file, the repository suite on every engine (SQLite, PostgreSQL, MariaDB), where
 * the concurrent callers use several pooled connections at once.
 */
export function describeConditionalWritesAndDelete(booted: BootedRepo): void {
  let sut: AtlassianOauthStateRepo;
  let dataSource: DataSource;
  const rowCount = () => dataSource.getRepository(AtlassianOauthStateEntity).count();

  beforeEach(() => {
    sut = booted.sut();
    dataSource = booted.dataSource();
  });

  describe.each([
    ['the upsert path', false],
    ['the find+save fallback', true],
  ])('conditional upsert on %s', (_path, fallback) => {
    beforeEach(() => {
      if (fallback) {
        dataSource.driver.supportedUpsertTypes.length = 0;
      }
    });

    it('expectedRefreshToken: null stores the first connect', async () => {
      const stored = await sut.upsert(
        JIRA,
        TENANT,
        { accessToken: 'access-1', refreshToken: 'refresh-1' },
        { expectedRefreshToken: null },
      );

      expect(stored).toMatchObject({ accessToken: 'access-1', refreshToken: 'refresh-1', expiresAt: null });
      await expect(sut.get(JIRA, TENANT)).resolves.toEqual(stored);
    });

    it('expectedRefreshToken: null refuses to overwrite a stored state and reports it as current', async () => {
      const before = await sut.upsert(JIRA, TENANT, { refreshToken: 'refresh-1' });

      const conflict = await conflictOf(
        sut.upsert(JIRA, TENANT, { refreshToken: 'refresh-other' }, { expectedRefreshToken: null }),
      );

      expect(conflict.current).toEqual(before);
      await expect(sut.get(JIRA, TENANT)).resolves.toEqual(before);
    });

    it('applies a rotation when the stored refresh token is the expected one', async () => {
      const before = await sut.upsert(JIRA, TENANT, { accessToken: 'access-1', refreshToken: 'refresh-1' });

      const after = await sut.upsert(
        JIRA,
        TENANT,
        { refreshToken: 'refresh-2' },
        { expectedRefreshToken: 'refresh-1' },
      );

      expect(after).toEqual({ ...before, accessToken: null, refreshToken: 'refresh-2', updatedAt: after.updatedAt });
      expect(after.updatedAt).toBeInstanceOf(Date);
      await expect(sut.get(JIRA, TENANT)).resolves.toEqual(after);
      await expect(rowCount()).resolves.toBe(1);
    });

    it('writes nothing when another writer rotated first, and hands over the winner', async () => {
      await sut.upsert(JIRA, TENANT, { refreshToken: 'refresh-1' });
      const winner = await sut.upsert(
        JIRA,
        TENANT,
        { accessToken: 'access-2', refreshToken: 'refresh-2' },
        { expectedRefreshToken: 'refresh-1' },
      );

      const conflict = await conflictOf(
        sut.upsert(JIRA, TENANT, { refreshToken: 'refresh-stale' }, { expectedRefreshToken: 'refresh-1' }),
      );

      expect(conflict.current).toEqual(winner);
      expect(conflict.message).not.toContain('refresh-');
      await expect(sut.get(JIRA, TENANT)).resolves.toEqual(winner);
    });

    it('rejects with current null when nothing is stored for the expected token', async () => {
      const conflict = await conflictOf(
        sut.upsert(JIRA, TENANT, { refreshToken: 'refresh-2' }, { expectedRefreshToken: 'refresh-1' }),
      );

      expect(conflict.current).toBeNull();
      await expect(rowCount()).resolves.toBe(0);
    });

    it('lets exactly one of 20 concurrent callers holding the same token win', async () => {
      await sut.upsert(JIRA, TENANT, { refreshToken: 'refresh-0' });

      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) =>
          sut.upsert(JIRA, TENANT, { refreshToken: `refresh-${i + 1}` }, { expectedRefreshToken: 'refresh-0' }),
        ),
      );

      const won = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.refreshToken] : []));
      expect(won).toHaveLength(1);
      for (const result of results.filter((r) => r.status === 'rejected')) {
        expect(result.reason).toBeInstanceOf(AtlassianOauthStateConflictError);
        expect((result.reason as AtlassianOauthStateConflictError).current?.refreshToken).toBe(won[0]);
      }
      await expect(sut.get(JIRA, TENANT)).resolves.toMatchObject({ refreshToken: won[0] });
    });

    it('lets exactly one of 20 concurrent first connects win', async () => {
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) =>
          sut.upsert(JIRA, TENANT, { refreshToken: `refresh-${i}` }, { expectedRefreshToken: null }),
        ),
      );

      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(
        results.filter((r) => r.status === 'rejected' && r.reason instanceof AtlassianOauthStateConflictError),
      ).toHaveLength(19);
      await expect(rowCount()).resolves.toBe(1);
    });
  });

  it.each([
    ['an empty string', ''],
    ['a number', 42],
    ['an object', {}],
  ])('refuses expectedRefreshToken as %s before writing anything', async (_case, expectedRefreshToken) => {
    const before = await sut.upsert(JIRA, TENANT, { refreshToken: 'refresh-1' });

    await expect(
      sut.upsert(JIRA, TENANT, { refreshToken: 'refresh-2' }, { expectedRefreshToken } as never),
    ).rejects.toMatchObject({
      name: AtlassianOauthStateValidationError.name,
      field: 'expectedRefreshToken',
    });
    await expect(sut.get(JIRA, TENANT)).resolves.toEqual(before);
  });

  describe('delete', () => {
    it('resolves true when it removed the state and false when there was none', async () => {
      await sut.upsert(JIRA, TENANT, { refreshToken: 'refresh-1' });
      await sut.upsert(JIRA, 'tenant-b', { refreshToken: 'refresh-b' });

      await expect(sut.delete(JIRA, TENANT)).resolves.toBe(true);
      await expect(sut.delete(JIRA, TENANT)).resolves.toBe(false);
      await expect(sut.delete('confluence', 'tenant-b')).resolves.toBe(false);
      await expect(sut.get(JIRA, TENANT)).resolves.toBeNull();
      await expect(sut.get(JIRA, 'tenant-b')).resolves.toMatchObject({ refreshToken: 'refresh-b' });
    });

    it('lets a later upsert start fresh, as a first connect', async () => {
      const old = await sut.upsert(JIRA, TENANT, { accessToken: 'access-1', refreshToken: 'refresh-1' });
      await sut.delete(JIRA, TENANT);

      const fresh = await sut.upsert(JIRA, TENANT, { refreshToken: 'refresh-new' }, { expectedRefreshToken: null });

      expect(fresh.id).not.toBe(old.id);
      expect(fresh).toMatchObject({ accessToken: null, refreshToken: 'refresh-new' });
      await expect(rowCount()).resolves.toBe(1);
    });

    it('refuses a blank key', async () => {
      await expect(sut.delete(JIRA, '  ')).rejects.toMatchObject({ field: 'tenantId' });
    });
  });
}
