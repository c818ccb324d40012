import { AtlassianSiteEntity } from '../../database/entities';
import { AtlassianSiteRepo } from './atlassian-site.repo';
import { AtlassianSitesService } from './atlassian-sites.service';
import { CLOUD_ID_CACHE_MS, CachedCloudIds } from './cached-cloud-ids';

/** `site()` answering from a map of selector to cloud id, counting its calls; the repo only for its `replacements`. */
function setUp(answers: Record<string, string>) {
  const calls: string[] = [];
  const sites = {
    site: (platform: string, tenantId: string, selector?: string) => {
      calls.push(`${platform}/${tenantId}/${selector ?? ''}`);
      const cloudId = answers[selector ?? ''];
      return cloudId === undefined
        ? Promise.reject(new Error('no such site'))
        : Promise.resolve(Object.assign(new AtlassianSiteEntity(), { cloudId }));
    },
  } as unknown as AtlassianSitesService;
  const repo = { replacements: 0 } as AtlassianSiteRepo;
  return { calls, repo, sut: new CachedCloudIds(sites, repo) };
}

describe(CachedCloudIds.name, () => {
  afterEach(() => jest.useRealTimers());

  it('reads a site once, then reuses its cloud id per tenant and selector until the cache time passes', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const { calls, sut } = setUp({ '': 'cloud-only', 'https://a.atlassian.net': 'cloud-a' });

    await expect(sut.cloudId('jira', 't1')).resolves.toBe('cloud-only');
    await expect(sut.cloudId('jira', 't1')).resolves.toBe('cloud-only');
    await expect(sut.cloudId('jira', 't1', 'https://a.atlassian.net')).resolves.toBe('cloud-a');
    await expect(sut.cloudId('jira', 't2')).resolves.toBe('cloud-only');
    expect(calls).toEqual(['jira/t1/', 'jira/t1/https://a.atlassian.net', 'jira/t2/']);

    jest.setSystemTime(1_000_000 + CLOUD_ID_CACHE_MS);
    await expect(sut.cloudId('jira', 't1')).resolves.toBe('cloud-only');
    expect(calls).toHaveLength(4);
  });

  it('never keeps a miss: a site that is not there is asked for again on every call', async () => {
    const { calls, sut } = setUp({});

    await expect(sut.cloudId('jira', 't1', 'cloud-x')).rejects.toThrow('no such site');
    await expect(sut.cloudId('jira', 't1', 'cloud-x')).rejects.toThrow('no such site');

    expect(calls).toHaveLength(2);
  });

  it('drops everything once this process replaced any key’s sites', async () => {
    const { calls, repo, sut } = setUp({ '': 'cloud-only' });
    await sut.cloudId('jira', 't1');

    repo.replacements += 1;
    await sut.cloudId('jira', 't1');
    await sut.cloudId('jira', 't1');

    expect(calls).toHaveLength(2);
  });
});
