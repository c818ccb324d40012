import { AtlassianSiteEntity } from '../../database/entities';
import { chooseSite, isScopeOf, originOf, sitesOfPlatform } from './site-selection';

const site = (cloudId: string, url: string): AtlassianSiteEntity =>
  Object.assign(new AtlassianSiteEntity(), {
    platform: 'jira',
    tenantId: 't',
    cloudId,
    url,
    name: '',
    scopes: [],
    avatarUrl: null,
    updatedAt: new Date(0),
  });
const ACME = site('c-acme', 'https://acme.atlassian.net');
const ACME_EU = site('c-acme-eu', 'https://acme-eu.atlassian.net');

describe(chooseSite.name, () => {
  it.each([
    ['its cloud id', 'c-acme-eu', ACME_EU],
    ['its URL', 'https://acme.atlassian.net', ACME],
    ['its URL with a trailing slash', 'https://acme.atlassian.net/', ACME],
    ['its URL in another case', 'HTTPS://ACME.Atlassian.NET', ACME],
    ['its URL with the default port and a path', 'https://acme.atlassian.net:443/jira/software', ACME],
    ['the longer of two URLs where one is a prefix of the other', 'https://acme-eu.atlassian.net', ACME_EU],
  ])('finds a site by %s', (_name, selector, expected) => {
    expect(chooseSite([ACME, ACME_EU], selector)).toEqual({ site: expected });
  });

  it.each([
    ['a prefix of a URL', 'https://acme'],
    ['a substring of a URL', 'acme'],
    ['a URL without its scheme', 'acme.atlassian.net'],
    ['another scheme', 'http://acme.atlassian.net'],
    ['another port', 'https://acme.atlassian.net:8443'],
    ['a subdomain', 'https://eu.acme.atlassian.net'],
    ['a cloud id in another case', 'C-ACME'],
    ['a prefix of a cloud id', 'c-acme-'],
  ])('matches nothing for %s', (_name, selector) => {
    expect(chooseSite([ACME, ACME_EU], selector)).toEqual({});
  });

  it('without a selector: the one site, nothing for none, ambiguous for several', () => {
    expect(chooseSite([ACME], undefined)).toEqual({ site: ACME });
    expect(chooseSite([], undefined)).toEqual({});
    expect(chooseSite([ACME, ACME_EU], undefined)).toEqual({ ambiguous: true });
  });
});

describe(sitesOfPlatform.name, () => {
  const resource = (id: string, scopes: string[], url = `https://${id}.atlassian.net`) => ({
    id,
    url,
    name: id,
    scopes,
    avatarUrl: null,
  });

  it("keeps the sites with a scope of the platform, one per cloud id with the product entries' scopes merged", () => {
    const resources = [
      resource('both', ['read:jira-work']),
      resource('both', ['read:confluence-content.all']),
      resource('both', ['write:jira-work', 'read:jira-work']),
      resource('wiki', ['read:confluence-content.all']),
    ];

    expect(sitesOfPlatform('jira', resources)).toEqual([
      {
        cloudId: 'both',
        url: 'https://both.atlassian.net',
        name: 'both',
        scopes: ['read:jira-work', 'write:jira-work'],
        avatarUrl: null,
      },
    ]);
    expect(sitesOfPlatform('confluence', resources).map((s) => s.cloudId)).toEqual(['both', 'wiki']);
  });

  it.each([
    ['jira', 'read:jira-work', true],
    ['jira', 'read:issue-details:jira', true],
    ['jira', 'manage:jira-configuration', true],
    ['confluence', 'read:page:confluence', true],
    ['confluence', 'read:confluence-content.all', true],
    ['jira', 'read:confluence-content.all', false],
    ['jira', 'read:nojira-work', false],
    ['jira', 'read:me', false],
  ])('%s owns %s: %s', (platform, scope, owns) => {
    expect(isScopeOf(platform, scope)).toBe(owns);
  });
});

describe(originOf.name, () => {
  it('reduces an http(s) URL to its origin and refuses the rest', () => {
    expect(originOf('HTTPS://Acme.atlassian.net:443/x?y#z')).toBe('https://acme.atlassian.net');
    expect(originOf('ftp://acme.atlassian.net')).toBeNull();
    expect(originOf('acme')).toBeNull();
  });
});
