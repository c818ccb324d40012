import { Test, TestingModule } from '@nestjs/testing';
import { getDataSourceToken } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import {
  AtlassianApiModule,
  AtlassianOauthStateNotFoundError,
  AtlassianOauthStateRepo,
  AtlassianOauthTokenService,
  AtlassianSiteAmbiguousError,
  AtlassianSiteEntity,
  AtlassianSiteNotFoundError,
  AtlassianSitesEndpointError,
  AtlassianSitesService,
} from '../src/atlassian';
import {
  ATLASSIAN_OAUTH_SETTINGS,
  AtlassianOauthSettings,
} from '../src/atlassian/client/atlassian-oauth-client.options';
import { DatabaseModule } from '../src/database/database.module';
import { atlassianSettings } from './support/config';
import { OauthTestServer, TestResource, startOauthServer } from './support/oauth-server';
import { rejection } from './support/rejection';
import { ScriptedHttpServer, json, startScriptedHttpServer } from './support/scripted-http-server';

const JIRA = 'jira';
const TENANT = 'acme';

const ACME: TestResource = {
  id: '11111111-1111-4111-8111-111111111111',
  url: 'https://acme.atlassian.net',
  name: 'acme',
  scopes: ['read:jira-work', 'write:jira-work'],
  avatarUrl: 'https://avatars.example/acme.png',
};
const ACME_EU: TestResource = {
  id: '22222222-2222-4222-8222-222222222222',
  url: 'https://acme-eu.atlassian.net',
  name: 'acme-eu',
  scopes: ['read:jira-work'],
  avatarUrl: 'https://avatars.example/acme-eu.png',
};
const ACME_WIKI: TestResource = { ...ACME, scopes: ['read:confluence-content.all'] };
const ACME_US: TestResource = {
  ...ACME_EU,
  id: '33333333-3333-4333-8333-333333333333',
  url: 'https://acme-us.atlassian.net',
};

interface Booted {
  moduleRef: TestingModule;
  sut: AtlassianSitesService;
  tokens: AtlassianOauthTokenService;
  states: AtlassianOauthStateRepo;
  rows: () => Promise<AtlassianSiteEntity[]>;
}

/** The sites service on an in-memory SQLite database, as a service that calls Atlassian's APIs boots it. */
async function boot(settings: AtlassianOauthSettings): Promise<Booted> {
  const moduleRef = await Test.createTestingModule({ imports: [DatabaseModule, AtlassianApiModule] })
    .overrideProvider(ATLASSIAN_OAUTH_SETTINGS)
    .useValue(settings)
    .compile();
  return {
    moduleRef,
    sut: moduleRef.get(AtlassianSitesService),
    tokens: moduleRef.get(AtlassianOauthTokenService),
    states: moduleRef.get(AtlassianOauthStateRepo),
    rows: () => moduleRef.get<DataSource>(getDataSourceToken()).getRepository(AtlassianSiteEntity).find(),
  };
}

const urls = (sites: readonly AtlassianSiteEntity[]): string[] => sites.map((site) => site.url);

describe(`${AtlassianSitesService.name} against a real OAuth server's accessible-resources`, () => {
  let server: OauthTestServer;
  let booted: Booted;
  let sut: AtlassianSitesService;

  beforeAll(async () => {
    server = await startOauthServer();
  });
  afterAll(async () => {
    await server.stop();
  });
  beforeEach(async () => {
    await server.setAccessibleResources(null);
    booted = await boot(server.settings);
    sut = booted.sut;
  });
  afterEach(async () => {
    await booted.moduleRef.close();
  });

  /** A consent of `tenant` whose grant reaches `resources`, connected through the token service. */
  async function connect(resources: TestResource[], tenant = TENANT): Promise<string> {
    const { grantId, code } = await server.mintGrant();
    await server.setAccessibleResources(resources, grantId);
    await booted.tokens.connect(JIRA, tenant, code, server.redirectUri);
    await server.resetStats();
    return grantId;
  }

  const requests = async (): Promise<number> => (await server.stats()).accessibleResourcesRequests;

  describe('the test server’s accessible-resources', () => {
    const get = (token: string | null) =>
      fetch(`${server.apiBaseUrl}/oauth/token/accessible-resources`, {
        headers: token === null ? {} : { authorization: `Bearer ${token}` },
      });

    it('answers the list set for the grant to its own access token', async () => {
      const grant = await server.connectedGrant();
      await server.setAccessibleResources([ACME], grant.grantId);

      const response = await get(grant.accessToken);

      expect(response.status).toBe(200);
      await expect(response.json()).resolves.toEqual([ACME]);
    });

    it('answers 401 to no token, an unknown one, and a revoked one', async () => {
      const grant = await server.connectedGrant();
      await server.revokeGrant(grant.grantId);

      const statuses = await Promise.all([get(null), get('not-a-token-it-issued'), get(grant.accessToken)]);

      expect(statuses.map((response) => response.status)).toEqual([401, 401, 401]);
    });

    it('answers 401 to an expired access token', async () => {
      const shortLived = await startOauthServer({ accessTokenTtlSeconds: 1 });
      try {
        const grant = await shortLived.connectedGrant();
        await new Promise((resolve) => setTimeout(resolve, 1_100));

        const response = await fetch(`${shortLived.apiBaseUrl}/oauth/token/accessible-resources`, {
          headers: { authorization: `Bearer ${grant.accessToken}` },
        });

        expect(response.status).toBe(401);
      } finally {
        await shortLived.stop();
      }
    });
  });

  describe('connect', () => {
    it('stores the sites of the platform right after the tokens', async () => {
      const { code, grantId } = await server.mintGrant();
      await server.setAccessibleResources([ACME, ACME_WIKI, ACME_EU], grantId);

      await booted.tokens.connect(JIRA, TENANT, code, server.redirectUri);

      const stored = await sut.sites(JIRA, TENANT);
      expect(stored).toEqual([
        {
          platform: JIRA,
          tenantId: TENANT,
          cloudId: ACME_EU.id,
          url: ACME_EU.url,
          name: 'acme-eu',
          scopes: ['read:jira-work'],
          avatarUrl: ACME_EU.avatarUrl,
          updatedAt: expect.any(Date),
        },
        expect.objectContaining({ cloudId: ACME.id, url: ACME.url, scopes: ['read:jira-work', 'write:jira-work'] }),
      ]);
      await expect(booted.states.get(JIRA, TENANT)).resolves.not.toBeNull();
    });

    it('a grant that reaches no site of the platform still stores the tokens, and no site', async () => {
      await connect([ACME_WIKI]);

      await expect(booted.states.get(JIRA, TENANT)).resolves.toMatchObject({ refreshToken: expect.any(String) });
      await expect(sut.sites(JIRA, TENANT)).resolves.toEqual([]);
    });

    it('a reconnect replaces the sites of the earlier grant', async () => {
      await connect([ACME, ACME_EU]);
      await connect([ACME_US]);

      expect(urls(await sut.sites(JIRA, TENANT))).toEqual([ACME_US.url]);
    });
  });

  describe('refreshSites', () => {
    it('reads the list again with the stored access token and replaces the set: removed gone, added there', async () => {
      const grantId = await connect([ACME, ACME_EU]);
      await server.setAccessibleResources([ACME, ACME_US], grantId);

      const refreshed = await sut.refreshSites(JIRA, TENANT);

      expect(urls(refreshed)).toEqual([ACME_US.url, ACME.url]);
      await expect(sut.sites(JIRA, TENANT)).resolves.toEqual(refreshed);
      await expect(requests()).resolves.toBe(1);
      await expect(server.tokenRequests()).resolves.toBe(0);
    });

    it('keeps one site listed twice for two products once, and the other product’s site out', async () => {
      const grantId = await connect([ACME]);
      await server.setAccessibleResources([ACME_WIKI, { ...ACME, scopes: ['manage:jira-project'] }, ACME], grantId);

      const refreshed = await sut.refreshSites(JIRA, TENANT);

      expect(refreshed).toEqual([
        expect.objectContaining({
          cloudId: ACME.id,
          scopes: ['manage:jira-project', 'read:jira-work', 'write:jira-work'],
        }),
      ]);
    });

    it('concurrent calls of one key share one request', async () => {
      await connect([ACME]);

      const all = await Promise.all(Array.from({ length: 5 }, () => sut.refreshSites(JIRA, TENANT)));

      expect(all.every((sites) => sites.length === 1)).toBe(true);
      await expect(requests()).resolves.toBe(1);
    });

    it('refreshes an expired access token first (through accessToken), then reads the list with the new one', async () => {
      await connect([ACME]);
      const before = await booted.states.get(JIRA, TENANT);
      await booted.states.upsert(JIRA, TENANT, { ...before!, expiresAt: new Date(Date.now() - 1000) });

      await expect(sut.refreshSites(JIRA, TENANT)).resolves.toHaveLength(1);

      await expect(server.stats()).resolves.toMatchObject({
        issued: { refreshToken: 1 },
        accessibleResourcesRequests: 1,
      });
    });

    it('rejects a revoked grant’s stored access token as unauthorized (401), keeping the stored sites', async () => {
      const grantId = await connect([ACME]);
      await server.revokeGrant(grantId);

      const error = await rejection(sut.refreshSites(JIRA, TENANT));

      expect(error).toBeInstanceOf(AtlassianSitesEndpointError);
      expect(error).toMatchObject({ failure: 'unauthorized', status: 401 });
      expect(urls(await sut.sites(JIRA, TENANT))).toEqual([ACME.url]);
    });

    it('rejects a key without a state', async () => {
      await expect(sut.refreshSites(JIRA, 'nobody')).rejects.toBeInstanceOf(AtlassianOauthStateNotFoundError);
    });

    it.each([
      ['not an array', { id: ACME.id, url: ACME.url }, 'not a JSON array'],
      ['an item that is not an object', [ACME, 'acme'], 'item 1 is not an object'],
      ['an item without an id', [{ url: ACME.url, scopes: ACME.scopes }], 'item 0: id must be a non-empty string'],
      ['an id that is not a string', [{ ...ACME, id: 42 }], 'item 0: id must be a non-empty string'],
      ['a url that is http', [{ ...ACME, url: 'http://acme.atlassian.net' }], 'item 0: url must be an https URL'],
      ['a url that is not a URL', [ACME, { ...ACME_EU, url: 'acme-eu' }], 'item 1: url must be an https URL'],
      ['scopes that are not strings', [{ ...ACME, scopes: [1] }], 'item 0: scopes must be an array of strings'],
    ])('refuses an answer that is %s, storing nothing', async (_name, answer, problem) => {
      const grantId = await connect([ACME_EU]);
      const before = await booted.rows();
      await server.setAccessibleResources(answer as unknown[], grantId);

      const error = await rejection(sut.refreshSites(JIRA, TENANT));

      expect(error).toBeInstanceOf(AtlassianSitesEndpointError);
      expect(error).toMatchObject({ failure: 'invalid-response', problem });
      expect((error as Error).message).toContain(problem);
      await expect(booted.rows()).resolves.toEqual(before);
    });
  });

  describe('site', () => {
    it('the one site when the grant reaches exactly one, without calling Atlassian', async () => {
      await connect([ACME]);

      await expect(sut.site(JIRA, TENANT)).resolves.toMatchObject({ cloudId: ACME.id, url: ACME.url });
      await expect(requests()).resolves.toBe(0);
    });

    it('chooses exactly between two sites whose URLs are prefixes of each other', async () => {
      await connect([ACME, ACME_EU]);

      await expect(sut.site(JIRA, TENANT, 'https://acme.atlassian.net')).resolves.toMatchObject({ cloudId: ACME.id });
      await expect(sut.site(JIRA, TENANT, 'https://ACME-EU.atlassian.net/')).resolves.toMatchObject({
        cloudId: ACME_EU.id,
      });
      await expect(sut.site(JIRA, TENANT, 'https://acme.atlassian.net:443/browse/X-1')).resolves.toMatchObject({
        cloudId: ACME.id,
      });
      await expect(sut.site(JIRA, TENANT, ACME_EU.id)).resolves.toMatchObject({ url: ACME_EU.url });
      await expect(requests()).resolves.toBe(0);
    });

    it('several sites and no selector: ambiguous, listing them', async () => {
      await connect([ACME, ACME_EU]);

      const error = await rejection(sut.site(JIRA, TENANT));

      expect(error).toBeInstanceOf(AtlassianSiteAmbiguousError);
      expect(error).toMatchObject({ urls: [ACME_EU.url, ACME.url] });
      expect((error as Error).message).toBe(
        'The Atlassian grant of ("jira", "acme") reaches 2 jira sites (https://acme-eu.atlassian.net, https://acme.atlassian.net): pass the site\'s URL or cloud id to choose one.',
      );
    });

    it.each([
      ['a prefix', 'https://acme'],
      ['a substring', 'acme'],
      ['the URL without its scheme', 'acme.atlassian.net'],
      ['another site', 'https://globex.atlassian.net'],
    ])(
      'never matches %s: it re-reads the list once, then rejects listing the sites it reaches',
      async (_n, selector) => {
        await connect([ACME, ACME_EU]);

        const error = await rejection(sut.site(JIRA, TENANT, selector));

        expect(error).toBeInstanceOf(AtlassianSiteNotFoundError);
        expect(error).toMatchObject({ selector, urls: [ACME_EU.url, ACME.url] });
        expect((error as Error).message).toContain(
          'the grant reaches https://acme-eu.atlassian.net, https://acme.atlassian.net',
        );
        await expect(requests()).resolves.toBe(1);
      },
    );

    it('finds a site added to the grant after the consent, by re-reading the list once', async () => {
      const grantId = await connect([ACME]);
      await server.setAccessibleResources([ACME, ACME_US], grantId);

      await expect(sut.site(JIRA, TENANT, ACME_US.url)).resolves.toMatchObject({ cloudId: ACME_US.id });
      await expect(sut.site(JIRA, TENANT, ACME_US.id)).resolves.toMatchObject({ url: ACME_US.url });

      await expect(requests()).resolves.toBe(1);
      expect(urls(await sut.sites(JIRA, TENANT))).toEqual([ACME_US.url, ACME.url]);
    });

    it('no site of the platform: re-reads once, then rejects saying the grant reaches none', async () => {
      await connect([]);

      const error = await rejection(sut.site(JIRA, TENANT));

      expect(error).toBeInstanceOf(AtlassianSiteNotFoundError);
      expect((error as Error).message).toBe(
        'The Atlassian grant of ("jira", "acme") reaches no jira site: the customer has to admit the app to a site, then connect again.',
      );
      await expect(requests()).resolves.toBe(1);
    });

    it('a site removed from the grant is gone after a refresh', async () => {
      const grantId = await connect([ACME, ACME_EU]);
      await server.setAccessibleResources([ACME], grantId);
      await sut.refreshSites(JIRA, TENANT);

      await expect(sut.site(JIRA, TENANT)).resolves.toMatchObject({ cloudId: ACME.id });
      await expect(rejection(sut.site(JIRA, TENANT, ACME_EU.url))).resolves.toBeInstanceOf(AtlassianSiteNotFoundError);
    });

    it('refuses a blank selector naming it', async () => {
      await expect(sut.site(JIRA, TENANT, ' ')).rejects.toMatchObject({ field: 'selector' });
    });
  });

  it("deleting the tenant's state deletes its sites", async () => {
    await connect([ACME, ACME_EU]);
    await connect([ACME], 'other');

    await booted.states.delete(JIRA, TENANT);

    await expect(sut.sites(JIRA, TENANT)).resolves.toEqual([]);
    expect(urls(await sut.sites(JIRA, 'other'))).toEqual([ACME.url]);
  });
});

describe(`${AtlassianSitesService.name} when accessible-resources fails`, () => {
  let api: ScriptedHttpServer;
  let booted: Booted;

  beforeEach(async () => {
    api = await startScriptedHttpServer();
    booted = await boot(
      atlassianSettings({
        clientId: 'client-1',
        clientSecret: 'secret-1',
        apiBaseUrl: new URL(api.url).origin,
        apiTimeoutMs: 300,
      }),
    );
    await booted.states.upsert(JIRA, TENANT, {
      accessToken: 'access-token-1',
      refreshToken: 'refresh-token-1',
      expiresAt: new Date(Date.now() + 3_600_000),
    });
    api.script(json(200, [ACME]));
    await booted.sut.refreshSites(JIRA, TENANT);
  });
  afterEach(async () => {
    await booted.moduleRef.close();
    await api.close();
  });

  it('sends the access token as a bearer token to the accessible-resources path', () => {
    expect(api.requests[0]).toMatchObject({
      method: 'GET',
      path: '/oauth/token/accessible-resources',
      headers: { authorization: 'Bearer access-token-1' },
    });
  });

  it.each([
    ['401', { status: 401 }, { failure: 'unauthorized', status: 401 }],
    [
      '429',
      { status: 429, headers: { 'retry-after': '30' } },
      { failure: 'rate-limited', status: 429, retryAfterMs: 30_000 },
    ],
    ['503', { status: 503 }, { failure: 'server-error', status: 503 }],
    ['403', { status: 403 }, { failure: 'rejected', status: 403 }],
    ['a timeout', { hang: true } as const, { failure: 'timeout', status: null }],
    ['a dropped connection', { drop: true } as const, { failure: 'network', status: null }],
    ['a body that is not JSON', { status: 200, body: '<html>' }, { failure: 'invalid-response' }],
    [
      'an answer over 256 KiB',
      json(
        200,
        Array.from({ length: 3000 }, (_, i) => ({ ...ACME, id: `id-${i}`, name: 'x'.repeat(100) })),
      ),
      { failure: 'too-large' },
    ],
  ] as const)('classifies %s and stores nothing', async (_name, answer, expected) => {
    api.script(answer);

    const error = await rejection(booted.sut.refreshSites(JIRA, TENANT));

    expect(error).toBeInstanceOf(AtlassianSitesEndpointError);
    expect(error).toMatchObject(expected);
    expect((error as Error).message).not.toContain('access-token-1');
    expect(urls(await booted.sut.sites(JIRA, TENANT))).toEqual([ACME.url]);
  });
});
