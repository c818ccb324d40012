import { Test, TestingModule } from '@nestjs/testing';
import { getDataSourceToken } from '@nestjs/typeorm';
import { DataSource, Repository } from 'typeorm';
import { withConfig } from '../support/config';
import { RepoTestEngine, repoTestEngines } from '../support/repo-test-engines';
import { DatabaseModule } from '../../src/database/database.module';
import { AtlassianOauthRefreshLeaseEntity } from '../../src/database/entities';
import { DatabaseOutageMonitor } from '../../src/database/database-outage.monitor';
import { AtlassianOauthStateKey } from '../../src/atlassian/atlassian-oauth-state.types';
import { AtlassianOauthRefreshLeaseRepo } from '../../src/atlassian/atlassian-oauth-refresh-lease.repo';

const KEY: AtlassianOauthStateKey = { platform: 'jira', tenantId: 'tenant-a' };
const CONTENDERS = 20;

// Run on SQLite always and on each server whose TEST_POSTGRES_URL / TEST_MARIADB_URL is set.
describe.each(repoTestEngines())(
  `${AtlassianOauthRefreshLeaseRepo.name} on %s`,
  (_engineName: string, engine: RepoTestEngine) => {
    let moduleRef: TestingModule;
    let rows: Repository<AtlassianOauthRefreshLeaseEntity>;
    let sut: AtlassianOauthRefreshLeaseRepo;

    const contend = async (leaseMs = 30_000): Promise<string[]> =>
      (await Promise.all(Array.from({ length: CONTENDERS }, () => sut.tryAcquire(KEY, leaseMs)))).filter(
        (holder): holder is string => holder !== null,
      );

    beforeAll(async () => {
      await engine.setUp();
    });

    afterAll(async () => {
      await engine.tearDown();
    });

    beforeEach(async () => {
      moduleRef = await withConfig(Test.createTestingModule({ imports: [DatabaseModule] }), engine.config()).compile();
      rows = moduleRef.get<DataSource>(getDataSourceToken()).getRepository(AtlassianOauthRefreshLeaseEntity);
      sut = new AtlassianOauthRefreshLeaseRepo(
        rows,
        DatabaseOutageMonitor.of(moduleRef.get<DataSource>(getDataSourceToken())),
      );
      await engine.reset(moduleRef.get<DataSource>(getDataSourceToken()));
    });

    afterEach(async () => {
      await moduleRef.close();
    });

    it(`gives a free lease to exactly one of ${CONTENDERS} concurrent callers`, async () => {
      const winners = await contend();

      expect(winners).toHaveLength(1);
      await expect(rows.find()).resolves.toEqual([{ ...KEY, holder: winners[0], expiresAt: expect.any(Date) }]);
    });

    it(`gives a lapsed lease to exactly one of ${CONTENDERS} concurrent callers, all of whom saw it lapsed`, async () => {
      await rows.insert({ ...KEY, holder: 'dead-process', expiresAt: new Date(Date.now() - 1) });

      const winners = await contend();

      expect(winners).toHaveLength(1);
      await expect(rows.find()).resolves.toEqual([{ ...KEY, holder: winners[0], expiresAt: expect.any(Date) }]);
    });

    it('gives a live lease to nobody', async () => {
      await rows.insert({ ...KEY, holder: 'live-process', expiresAt: new Date(Date.now() + 60_000) });

      await expect(contend()).resolves.toEqual([]);
      await expect(rows.find()).resolves.toEqual([{ ...KEY, holder: 'live-process', expiresAt: expect.any(Date) }]);
    });

    it('keeps other keys apart', async () => {
      await rows.insert({ ...KEY, holder: 'live-process', expiresAt: new Date(Date.now() + 60_000) });

      await expect(sut.tryAcquire({ ...KEY, tenantId: 'tenant-b' }, 1_000)).resolves.toEqual(expect.any(String));
      await expect(sut.tryAcquire({ ...KEY, platform: 'confluence' }, 1_000)).resolves.toEqual(expect.any(String));
      await expect(rows.count()).resolves.toBe(3);
    });

    it('releases only for the holder it was given to', async () => {
      const holder = await sut.tryAcquire(KEY, 30_000);

      await sut.release(KEY, 'someone-else');
      await expect(rows.count()).resolves.toBe(1);
      await sut.release(KEY, holder ?? '');
      await expect(rows.count()).resolves.toBe(0);
    });
  },
);
