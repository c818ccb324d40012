import { Test, TestingModule } from '@nestjs/testing';
import { getDataSourceToken } from '@nestjs/typeorm';
import { DataSource, Repository } from 'typeorm';
import { RepoTestEngine, repoTestEngines } from '../../test/support/repo-test-engines';
import { DatabaseModule } from '../database/database.module';
import { AtlassianOauthRefreshLeaseEntity } from '../database/entities';
import { InProcessTurns, LeaseKey, RefreshLeases } from './atlassian-oauth-refresh-lease';

const KEY: LeaseKey = { platform: 'jira', tenantId: 'tenant-a' };
const CONTENDERS = 20;

// Run on SQLite always and on each server whose TEST_POSTGRES_URL / TEST_MARIADB_URL is set.
describe.each(repoTestEngines())(`${RefreshLeases.name} on %s`, (_engineName: string, engine: RepoTestEngine) => {
  let moduleRef: TestingModule;
  let rows: Repository<AtlassianOauthRefreshLeaseEntity>;
  let sut: RefreshLeases;

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
    moduleRef = await Test.createTestingModule({ imports: [DatabaseModule] }).compile();
    rows = moduleRef.get<DataSource>(getDataSourceToken()).getRepository(AtlassianOauthRefreshLeaseEntity);
    sut = new RefreshLeases(rows);
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
});

describe(InProcessTurns.name, () => {
  it('serves callers of one key one at a time, first come first served, and other keys independently', async () => {
    const sut = new InProcessTurns();
    const log: string[] = [];
    const take = async (name: string, key: LeaseKey) => {
      const end = await sut.take(key, Date.now() + 1_000);
      log.push(`${name}+`);
      await new Promise((resolve) => setTimeout(resolve, 5));
      log.push(`${name}-`);
      end?.();
    };

    await Promise.all([
      take('a', KEY),
      take('b', KEY),
      take('other', { ...KEY, tenantId: 'tenant-b' }),
      take('c', KEY),
    ]);

    expect(log.filter((entry) => !entry.startsWith('other'))).toEqual(['a+', 'a-', 'b+', 'b-', 'c+', 'c-']);
    expect(log.indexOf('other+')).toBeLessThan(log.indexOf('a-'));
  });

  it('returns null at the deadline and lets the next caller through once the turn ahead ends', async () => {
    const sut = new InProcessTurns();
    const endFirst = await sut.take(KEY, Date.now() + 1_000);

    await expect(sut.take(KEY, Date.now() + 20)).resolves.toBeNull();
    const third = sut.take(KEY, Date.now() + 1_000);
    endFirst?.();

    await expect(third).resolves.toEqual(expect.any(Function));
  });
});
