import { DataSource } from 'typeorm';
import { AtlassianSiteRepo, AtlassianSiteValues } from '../../src/atlassian/api/atlassian-site.repo';
import { AtlassianOauthStateValidationError } from '../../src/atlassian/atlassian-oauth-state.errors';
import { AtlassianOauthStateRepo } from '../../src/atlassian/atlassian-oauth-state.repo';
import { stateKeyId } from '../../src/atlassian/atlassian-oauth-state.types';
import { AtlassianSiteEntity } from '../../src/database/entities';
import { isUniqueViolation } from '../../src/database/unique-violation';
import { RepoTestEngine, bootRepoPerTest, repoTestEngines } from '../support/repo-test-engines';
import { FIRST, JIRA, TENANT } from '../support/state-fixtures';
import { rejection } from '../support/rejection';

const ACME: AtlassianSiteValues = {
  cloudId: '11111111-1111-4111-8111-111111111111',
  url: 'https://acme.atlassian.net',
  name: 'acme',
  scopes: ['read:jira-work', 'write:jira-work'],
  avatarUrl: 'https://avatars.example/acme.png',
};
const ACME_EU: AtlassianSiteValues = {
  cloudId: '22222222-2222-4222-8222-222222222222',
  url: 'https://acme-eu.atlassian.net',
  name: 'acme-eu',
  scopes: ['read:jira-work'],
  avatarUrl: null,
};
const LATER = new Date('2026-02-01T10:00:00.000Z');
const EARLIER = new Date('2026-01-01T10:00:00.000Z');

// The store's part of the sites rules, on SQLite always and on each server whose TEST_*_URL is set.
describe.each(repoTestEngines())(`${AtlassianSiteRepo.name} on %s`, (_engineName: string, engine: RepoTestEngine) => {
  let sut: AtlassianSiteRepo;
  let states: AtlassianOauthStateRepo;
  let dataSource: DataSource;

  const booted = bootRepoPerTest(engine);
  beforeEach(async () => {
    const { moduleRef } = booted();
    ({ sut: states, dataSource } = booted());
    sut = moduleRef.get(AtlassianSiteRepo);
    await states.upsert(JIRA, TENANT, FIRST);
  });

  const rows = (): Promise<AtlassianSiteEntity[]> => dataSource.getRepository(AtlassianSiteEntity).find();

  it('stores a key’s sites and lists them back by URL, every column round-tripped', async () => {
    const replaced = await sut.replace(JIRA, TENANT, [ACME, ACME_EU], EARLIER);

    const expected = [ACME_EU, ACME].map((site) => ({ ...site, platform: JIRA, tenantId: TENANT, updatedAt: EARLIER }));
    expect(replaced).toEqual({ sites: expected, added: [ACME.cloudId, ACME_EU.cloudId], removed: [], stored: true });
    await expect(sut.list(JIRA, TENANT)).resolves.toEqual(expected);
    expect((await sut.list(JIRA, TENANT))[0]).toBeInstanceOf(AtlassianSiteEntity);
  });

  it('replaces the whole set: a site that left is gone, one that stays is updated, one that joined is added', async () => {
    await sut.replace(JIRA, TENANT, [ACME, ACME_EU], EARLIER);
    const renamed = { ...ACME, name: 'Acme Corp', scopes: ['read:jira-work'] };
    const joined = {
      ...ACME_EU,
      cloudId: '33333333-3333-4333-8333-333333333333',
      url: 'https://acme-us.atlassian.net',
    };

    const replaced = await sut.replace(JIRA, TENANT, [renamed, joined], LATER);

    expect(replaced.added).toEqual([joined.cloudId]);
    expect(replaced.removed).toEqual([ACME_EU.cloudId]);
    await expect(sut.list(JIRA, TENANT)).resolves.toEqual([
      { ...joined, platform: JIRA, tenantId: TENANT, updatedAt: LATER },
      { ...renamed, platform: JIRA, tenantId: TENANT, updatedAt: LATER },
    ]);
  });

  it('an empty list removes every site of the key', async () => {
    await sut.replace(JIRA, TENANT, [ACME, ACME_EU], EARLIER);

    const replaced = await sut.replace(JIRA, TENANT, [], LATER);

    expect(replaced).toEqual({ sites: [], added: [], removed: [ACME.cloudId, ACME_EU.cloudId].sort(), stored: true });
    await expect(rows()).resolves.toEqual([]);
  });

  it('keys are separate and compared exactly: another tenant, a tenant differing in case, another platform', async () => {
    for (const [platform, tenant] of [
      [JIRA, 'Tenant-A'],
      [JIRA, 'tenant-b'],
      ['confluence', TENANT],
    ] as const) {
      await states.upsert(platform, tenant, FIRST);
      await sut.replace(platform, tenant, [ACME], EARLIER);
    }

    await sut.replace(JIRA, TENANT, [ACME_EU], LATER);
    await sut.replace(JIRA, TENANT, [], LATER);

    await expect(sut.list(JIRA, TENANT)).resolves.toEqual([]);
    for (const [platform, tenant] of [
      [JIRA, 'Tenant-A'],
      [JIRA, 'tenant-b'],
      ['confluence', TENANT],
    ] as const) {
      await expect(sut.list(platform, tenant)).resolves.toEqual([
        { ...ACME, platform, tenantId: tenant, updatedAt: EARLIER },
      ]);
    }
  });

  it('stores nothing for a key without a state (deleted meanwhile)', async () => {
    const replaced = await sut.replace(JIRA, 'never-connected', [ACME], EARLIER);

    expect(replaced).toEqual({ sites: [], added: [], removed: [], stored: false });
    await expect(rows()).resolves.toEqual([]);
  });

  it("deleting a key's state deletes its sites, and only its own", async () => {
    await states.upsert(JIRA, 'tenant-b', FIRST);
    await sut.replace(JIRA, TENANT, [ACME, ACME_EU], EARLIER);
    await sut.replace(JIRA, 'tenant-b', [ACME], EARLIER);

    await expect(states.delete(JIRA, TENANT)).resolves.toBe(true);

    await expect(sut.list(JIRA, TENANT)).resolves.toEqual([]);
    await expect(sut.list(JIRA, 'tenant-b')).resolves.toHaveLength(1);
  });

  it('counts the sites of each key', async () => {
    await states.upsert(JIRA, 'tenant-b', FIRST);
    await states.upsert('confluence', TENANT, FIRST);
    await sut.replace(JIRA, TENANT, [ACME, ACME_EU], EARLIER);
    await sut.replace('confluence', TENANT, [ACME], EARLIER);

    const all = await sut.countByKey();
    const jira = await sut.countByKey({ platform: JIRA });

    expect(Object.fromEntries(all)).toEqual({
      [stateKeyId({ platform: JIRA, tenantId: TENANT })]: 2,
      [stateKeyId({ platform: 'confluence', tenantId: TENANT })]: 1,
    });
    expect(Object.fromEntries(jira)).toEqual({ [stateKeyId({ platform: JIRA, tenantId: TENANT })]: 2 });
  });

  it('the database itself refuses a second row for (platform, tenant_id, cloud_id)', async () => {
    await sut.replace(JIRA, TENANT, [ACME], EARLIER);
    const duplicate = Object.assign(new AtlassianSiteEntity(), {
      ...ACME,
      platform: JIRA,
      tenantId: TENANT,
      updatedAt: LATER,
    });

    const error = await rejection(dataSource.getRepository(AtlassianSiteEntity).insert(duplicate));

    expect(isUniqueViolation(error)).toBe(true);
    await expect(rows()).resolves.toHaveLength(1);
  });

  it.each([
    ['platform', ' ', TENANT],
    ['tenantId', JIRA, ''],
  ])('refuses a blank %s before anything is written', async (field, platform, tenant) => {
    const error = await rejection(sut.replace(platform, tenant, [ACME], EARLIER));

    expect(error).toBeInstanceOf(AtlassianOauthStateValidationError);
    expect(error).toMatchObject({ field });
    await expect(rows()).resolves.toEqual([]);
  });
});
