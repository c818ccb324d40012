import { DataSource } from 'typeorm';
import { RepoTestEngine, bootRepoPerTest, repoTestEngines } from '../support/repo-test-engines';
import { AtlassianOauthStateEntity } from '../../src/database/entities';
import { AtlassianOauthStateRepo } from '../../src/atlassian/atlassian-oauth-state.repo';
import { AtlassianOauthSealedStateRepo } from '../../src/atlassian/atlassian-oauth-sealed-state.repo';
import { SealedTokenSwap } from '../../src/atlassian/reencryption/sealed-token-swap.sql';

const JIRA = 'jira';

// The batch compare-and-swap that re-encryption writes with, on SQLite and on each named server.
describe.each(repoTestEngines())(
  `${AtlassianOauthSealedStateRepo.name}.replaceSealedTokensBatch on %s`,
  (_engineName: string, engine: RepoTestEngine) => {
    let sut: AtlassianOauthSealedStateRepo;
    /** The plan's store, to write the rows the sealed repo then swaps. */
    let states: AtlassianOauthStateRepo;
    let dataSource: DataSource;

    const booted = bootRepoPerTest(engine);
    beforeEach(() => {
      let moduleRef;
      ({ sut: states, dataSource, moduleRef } = booted());
      sut = moduleRef.get(AtlassianOauthSealedStateRepo);
    });

    /** The rows as stored (tokens as the database holds them), by tenant. */
    const storedRows = async (): Promise<Map<string, AtlassianOauthStateEntity>> =>
      new Map((await sut.findSealedPage(undefined, 100)).map((row) => [row.tenantId, row]));

    const swapOf = (row: AtlassianOauthStateEntity, tag: string): SealedTokenSwap => ({
      id: row.id,
      storedAccessToken: row.accessToken,
      storedRefreshToken: row.refreshToken,
      accessToken: row.accessToken === null ? null : `access-${tag}`,
      refreshToken: `refresh-${tag}`,
    });

    it('rewrites, in one call, exactly the rows whose both stored tokens are still the ones read, keeping updatedAt', async () => {
      for (const tenant of ['kept', 'no-access', 'rotated', 'access-dropped', 'deleted']) {
        await states.upsert(JIRA, tenant, {
          accessToken: tenant === 'no-access' ? null : `access-${tenant}`,
          refreshToken: `refresh-${tenant}`,
        });
      }
      const read = await storedRows();
      // Concurrent writers, between the read and the batch: one rotates, one drops only the access
      // token (same refresh token), one disconnects.
      await states.upsert(JIRA, 'rotated', { accessToken: 'access-concurrent', refreshToken: 'refresh-concurrent' });
      await states.upsert(JIRA, 'access-dropped', { accessToken: null, refreshToken: 'refresh-access-dropped' });
      await states.delete(JIRA, 'deleted');

      const swaps = [...read.values()].map((row) => swapOf(row, `${row.tenantId}-swapped`));
      const swapped = await sut.replaceSealedTokensBatch(swaps);

      const id = (tenant: string): string | undefined => read.get(tenant)?.id;
      expect([...swapped].sort()).toEqual([id('kept'), id('no-access')].sort());
      await expect(states.get(JIRA, 'kept')).resolves.toMatchObject({
        accessToken: 'access-kept-swapped',
        refreshToken: 'refresh-kept-swapped',
        updatedAt: read.get('kept')?.updatedAt,
      });
      await expect(states.get(JIRA, 'no-access')).resolves.toMatchObject({
        accessToken: null,
        refreshToken: 'refresh-no-access-swapped',
        updatedAt: read.get('no-access')?.updatedAt,
      });
      await expect(states.get(JIRA, 'rotated')).resolves.toMatchObject({
        accessToken: 'access-concurrent',
        refreshToken: 'refresh-concurrent',
      });
      await expect(states.get(JIRA, 'access-dropped')).resolves.toMatchObject({
        accessToken: null,
        refreshToken: 'refresh-access-dropped',
      });
      await expect(states.get(JIRA, 'deleted')).resolves.toBeNull();
      await expect(dataSource.getRepository(AtlassianOauthStateEntity).count()).resolves.toBe(4);
    });

    it("commits apart from another caller's transaction that is open meanwhile and then rolls back", async () => {
      await states.upsert(JIRA, 'a', { accessToken: 'access-a', refreshToken: 'refresh-a' });
      await states.upsert(JIRA, 'b', { refreshToken: 'refresh-b' });
      const read = [...(await storedRows()).values()];
      let opened!: () => void;
      const isOpen = new Promise<void>((resolve) => (opened = resolve));
      let rollBack!: () => void;
      const rollingBack = new Promise<void>((resolve) => (rollBack = resolve));
      // Another caller of this process, inside a transaction of its own (on SQLite, the same connection).
      const other = dataSource.transaction(async (manager) => {
        await manager.insert(AtlassianOauthStateEntity, { platform: JIRA, tenantId: 'c', refreshToken: 'refresh-c' });
        opened();
        await rollingBack;
        throw new Error('rolled back');
      });
      await isOpen;

      const swapping = sut.replaceSealedTokensBatch(read.map((row) => swapOf(row, 'new')));
      // Let the batch run (or wait) while the other transaction is still open.
      await new Promise((resolve) => setTimeout(resolve, 50));
      rollBack();

      await expect(other).rejects.toThrow('rolled back');
      await expect(swapping).resolves.toEqual(new Set(read.map((row) => row.id)));
      await expect(states.get(JIRA, 'a')).resolves.toMatchObject({ refreshToken: 'refresh-new' });
      await expect(states.get(JIRA, 'b')).resolves.toMatchObject({ refreshToken: 'refresh-new' });
      await expect(states.get(JIRA, 'c')).resolves.toBeNull();
    });

    it('reports every row when all of them matched, and nothing for an empty batch', async () => {
      await states.upsert(JIRA, 'a', { accessToken: 'access-a', refreshToken: 'refresh-a' });
      await states.upsert(JIRA, 'b', { refreshToken: 'refresh-b' });
      const read = [...(await storedRows()).values()];

      await expect(sut.replaceSealedTokensBatch(read.map((row) => swapOf(row, 'new')))).resolves.toEqual(
        new Set(read.map((row) => row.id)),
      );
      await expect(sut.replaceSealedTokensBatch([])).resolves.toEqual(new Set());
      // Run again with the old values: nothing matches any more.
      await expect(sut.replaceSealedTokensBatch(read.map((row) => swapOf(row, 'newer')))).resolves.toEqual(new Set());
      await expect(states.get(JIRA, 'a')).resolves.toMatchObject({ refreshToken: 'refresh-new' });
    });
  },
);
