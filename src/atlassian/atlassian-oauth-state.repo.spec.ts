import { Test, TestingModule } from '@nestjs/testing';
import { getDataSourceToken } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AgentCoreConfig, CONFIG_NAMESPACES, loadConfig } from '../config/config';
import { DatabaseModule } from '../database/database.module';
import { AtlassianOauthStateEntity } from '../database/entities';
import { AtlassianOauthStateRepo } from './atlassian-oauth-state.repo';
import { AtlassianOauthTokens } from './atlassian-oauth-state.types';
import { AtlassianModule } from './atlassian.module';

const JIRA = 'jira';
const TENANT = 'tenant-a';
const FIRST: AtlassianOauthTokens = {
  accessToken: 'access-1',
  refreshToken: 'refresh-1',
  expiresAt: new Date('2026-01-01T10:00:00.000Z'),
};
const SECOND: AtlassianOauthTokens = {
  accessToken: 'access-2',
  refreshToken: 'refresh-2',
  expiresAt: new Date('2026-01-01T11:00:00.000Z'),
};

/**
 * The store's contract on in-memory SQLite, booted as a user's module imports it. Every case here
 * and many more run on every engine (SQLite, PostgreSQL, MariaDB) in
 * `test/integration/atlassian-oauth-state.repo.spec.ts`.
 */
describe(AtlassianOauthStateRepo.name, () => {
  let moduleRef: TestingModule;
  let sut: AtlassianOauthStateRepo;
  let dataSource: DataSource;

  const rowCount = (): Promise<number> => dataSource.getRepository(AtlassianOauthStateEntity).count();

  beforeEach(async () => {
    // NODE_ENV=test and nothing else: the database is a fresh `:memory:` one, whatever the shell exports.
    const config: AgentCoreConfig = loadConfig({ NODE_ENV: 'test' });
    const builder = Test.createTestingModule({ imports: [DatabaseModule, AtlassianModule] });
    for (const [namespace, { KEY }] of Object.entries(CONFIG_NAMESPACES)) {
      builder.overrideProvider(KEY).useValue(config[namespace as keyof AgentCoreConfig]);
    }
    moduleRef = await builder.compile();
    sut = moduleRef.get(AtlassianOauthStateRepo);
    dataSource = moduleRef.get<DataSource>(getDataSourceToken());
  });

  afterEach(async () => {
    await moduleRef.close();
  });

  it('runs on in-memory SQLite with the table created at boot', async () => {
    expect(dataSource.options).toMatchObject({ type: 'better-sqlite3', database: ':memory:' });
    await expect(rowCount()).resolves.toBe(0);
  });

  it('inserts through upsert and reads the state back through get', async () => {
    const stored = await sut.upsert(JIRA, TENANT, FIRST);

    expect(stored).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      platform: JIRA,
      tenantId: TENANT,
      ...FIRST,
      updatedAt: expect.any(Date),
    });
    await expect(sut.get(JIRA, TENANT)).resolves.toEqual(stored);
  });

  it('resolves null for a key that has no state', async () => {
    await expect(sut.get(JIRA, 'nobody')).resolves.toBeNull();
  });

  it('replaces the state on the same key without a duplicate row', async () => {
    const first = await sut.upsert(JIRA, TENANT, FIRST);
    await sut.upsert(JIRA, TENANT, SECOND);
    await sut.upsert(JIRA, TENANT, SECOND);

    await expect(sut.get(JIRA, TENANT)).resolves.toMatchObject({ id: first.id, ...SECOND });
    await expect(rowCount()).resolves.toBe(1);
  });

  it('round-trips a null accessToken and expiresAt', async () => {
    await sut.upsert(JIRA, TENANT, { accessToken: null, refreshToken: 'refresh-only', expiresAt: null });

    await expect(sut.get(JIRA, TENANT)).resolves.toMatchObject({
      accessToken: null,
      refreshToken: 'refresh-only',
      expiresAt: null,
    });
  });

  it('leaves exactly one row after 50 concurrent upserts on one key', async () => {
    await Promise.all(Array.from({ length: 50 }, (_, i) => sut.upsert(JIRA, TENANT, { refreshToken: `refresh-${i}` })));

    await expect(rowCount()).resolves.toBe(1);
  });
});
