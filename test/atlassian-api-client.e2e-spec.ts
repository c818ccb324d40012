import { AddressInfo } from 'node:net';
import { createServer } from 'node:http';
import { Logger } from '@nestjs/common';
import { Test, TestingModule } from '@nestjs/testing';
import { getDataSourceToken } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import {
  AtlassianApiClient,
  AtlassianApiError,
  AtlassianApiModule,
  AtlassianApiPauseEntity,
  AtlassianApiRateLimitedError,
  AtlassianApiRequestValidationError,
  AtlassianApiUnauthorizedError,
  AtlassianOauthGrantRevokedError,
  AtlassianOauthStateRepo,
  AtlassianSiteAmbiguousError,
  AtlassianSiteNotFoundError,
  AtlassianSitesService,
} from '../src/atlassian';
import { ATLASSIAN_API_CLIENT_OPTIONS, atlassianApiClientOptions } from '../src/atlassian/api/atlassian-api.options';
import { ATLASSIAN_OAUTH_SETTINGS } from '../src/atlassian/client/atlassian-oauth-client.options';
import { DatabaseModule } from '../src/database/database.module';
import { AgentCoreMetrics } from '../src/metrics/agent-core-metrics';
import { MetricsModule } from '../src/metrics/metrics.module';
import { ExchangedTokens, OauthTestServer, TestResource, startOauthServer } from './support/oauth-server';
import { rejection } from './support/rejection';

const PLATFORM = 'jira';
const TENANT = 'acme';
const OTHER = 'globex';
const SITE = 'cloud-1';

/** The site of TENANT's grant (cloudId SITE), and of OTHER's (cloudId `cloud-2`), as accessible-resources lists them. */
const ACME: TestResource = { id: SITE, url: 'https://acme.atlassian.net', name: 'acme', scopes: ['read:jira-work'] };
const GLOBEX: TestResource = {
  id: 'cloud-2',
  url: 'https://globex.atlassian.net',
  name: 'globex',
  scopes: ['read:jira-work'],
};

interface Booted {
  moduleRef: TestingModule;
  sut: AtlassianApiClient;
  states: AtlassianOauthStateRepo;
  sites: AtlassianSitesService;
  pauseRows: () => Promise<AtlassianApiPauseEntity[]>;
  metrics: AgentCoreMetrics;
}

async function boot(server: OauthTestServer, maxConcurrencyPerTenant = 4, maxRequestsPerSecond = 0): Promise<Booted> {
  const moduleRef = await Test.createTestingModule({ imports: [DatabaseModule, MetricsModule, AtlassianApiModule] })
    .overrideProvider(ATLASSIAN_OAUTH_SETTINGS)
    .useValue(server.settings)
    .overrideProvider(ATLASSIAN_API_CLIENT_OPTIONS)
    .useValue(
      atlassianApiClientOptions({
        apiBaseUrl: server.apiBaseUrl,
        apiMaxConcurrencyPerTenant: maxConcurrencyPerTenant,
        apiMaxRequestsPerSecond: maxRequestsPerSecond,
      }),
    )
    .compile();
  const dataSource = moduleRef.get<DataSource>(getDataSourceToken());
  return {
    moduleRef,
    sut: moduleRef.get(AtlassianApiClient),
    states: moduleRef.get(AtlassianOauthStateRepo),
    sites: moduleRef.get(AtlassianSitesService),
    pauseRows: () => dataSource.getRepository(AtlassianApiPauseEntity).find(),
    metrics: moduleRef.get(AgentCoreMetrics),
  };
}

describe(`${AtlassianApiClient.name} against the test server's REST gateway stand-in`, () => {
  let server: OauthTestServer;
  let booted: Booted;
  let sut: AtlassianApiClient;
  let connected: ExchangedTokens;

  beforeAll(async () => {
    server = await startOauthServer();
  });
  afterAll(async () => {
    await server.stop();
  });
  /** Boots the client on a fresh in-memory database with two connected tenants, one site each, stored. */
  async function prepare(maxConcurrencyPerTenant?: number, maxRequestsPerSecond?: number): Promise<void> {
    booted = await boot(server, maxConcurrencyPerTenant, maxRequestsPerSecond);
    sut = booted.sut;
    connected = await server.connectedGrant();
    const other = await server.connectedGrant();
    await server.setAccessibleResources([ACME], connected.grantId);
    await server.setAccessibleResources([GLOBEX], other.grantId);
    await booted.states.upsert(PLATFORM, TENANT, connected);
    await booted.states.upsert(PLATFORM, OTHER, other);
    await booted.sites.refreshSites(PLATFORM, TENANT);
    await booted.sites.refreshSites(PLATFORM, OTHER);
    await server.configureGateway();
    await server.resetStats();
  }

  beforeEach(async () => {
    await prepare();
  });
  afterEach(async () => {
    await booted.moduleRef.close();
    jest.restoreAllMocks();
  });

  /** Stores an access token the server does not know (dead), with the grant's live refresh token. */
  async function storeDeadAccessToken(): Promise<void> {
    await booted.states.upsert(PLATFORM, TENANT, { ...connected, accessToken: 'dead-access-token' });
  }

  describe('a call', () => {
    it('resolves with status, headers and the parsed JSON body, at BASE/ex/{platform}/{cloudId}{path} with the query', async () => {
      const answer = await sut.request({
        platform: PLATFORM,
        tenantId: TENANT,
        site: SITE,
        path: '/echo?fields=summary',
        query: { jql: 'project = ABC', expand: ['names', 'schema'], skipped: undefined },
      });

      expect(answer.status).toBe(200);
      expect(answer.headers.get('content-type')).toContain('application/json');
      expect(answer.body).toEqual({
        platform: PLATFORM,
        cloudId: SITE,
        path: '/echo',
        query: [
          ['fields', 'summary'],
          ['jql', 'project = ABC'],
          ['expand', 'names'],
          ['expand', 'schema'],
        ],
      });
      await expect(server.gatewayStats()).resolves.toMatchObject({ requests: 1, authorizations: { live: 1 } });
    });

    it('goes to the site `site` names by its URL, or to the only site when `site` is omitted', async () => {
      const byUrl = await sut.get('/echo', {
        platform: PLATFORM,
        tenantId: TENANT,
        site: 'HTTPS://Acme.atlassian.net/',
      });
      const omitted = await sut.get('/echo', { platform: PLATFORM, tenantId: OTHER });

      expect(byUrl.body).toMatchObject({ cloudId: SITE });
      expect(omitted.body).toMatchObject({ cloudId: 'cloud-2' });
      await expect(server.gatewayStats()).resolves.toMatchObject({ requests: 2, accessibleResources: 0 });
    });

    it('a site the grant does not reach: re-reads the sites once, then AtlassianSiteNotFoundError; nothing sent to /ex', async () => {
      const error = await rejection(
        sut.get('/echo', { platform: PLATFORM, tenantId: TENANT, site: 'https://acme.atlassian.net.evil.example' }),
      );

      expect(error).toBeInstanceOf(AtlassianSiteNotFoundError);
      await expect(server.gatewayStats()).resolves.toMatchObject({ requests: 0, accessibleResources: 1 });
    });

    it('a site that joined the grant after the sites were stored is found by the re-read', async () => {
      await server.setAccessibleResources([ACME, { ...GLOBEX, id: 'cloud-3' }], connected.grantId);

      const answer = await sut.get('/echo', { platform: PLATFORM, tenantId: TENANT, site: 'cloud-3' });

      expect(answer.body).toMatchObject({ cloudId: 'cloud-3' });
      await expect(server.gatewayStats()).resolves.toMatchObject({ requests: 1, accessibleResources: 1 });
    });

    it('`site` omitted while the grant reaches several sites: AtlassianSiteAmbiguousError; nothing sent', async () => {
      await server.setAccessibleResources([ACME, { ...GLOBEX, id: 'cloud-3' }], connected.grantId);
      await booted.sites.refreshSites(PLATFORM, TENANT);
      await server.configureGateway();

      await expect(sut.get('/echo', { platform: PLATFORM, tenantId: TENANT })).rejects.toBeInstanceOf(
        AtlassianSiteAmbiguousError,
      );
      await expect(server.gatewayStats()).resolves.toMatchObject({ requests: 0 });
    });

    it('get/post/put/delete: creates, reads, updates and deletes an issue (a POST body sent as JSON)', async () => {
      const created = await sut.post<{ key: string }>('/rest/api/3/issue', {
        platform: PLATFORM,
        tenantId: TENANT,
        site: SITE,
        body: { fields: { summary: 'First' } },
      });
      const key = created.body.key;
      const updated = await sut.put(`/rest/api/3/issue/${key}`, {
        platform: PLATFORM,
        tenantId: TENANT,
        site: SITE,
        body: { fields: { summary: 'Second' } },
      });
      const read = await sut.get(`/rest/api/3/issue/${key}`, { platform: PLATFORM, tenantId: TENANT, site: SITE });
      const deleted = await sut.delete(`/rest/api/3/issue/${key}`, {
        platform: PLATFORM,
        tenantId: TENANT,
        site: SITE,
      });

      expect(created.status).toBe(201);
      expect(updated).toMatchObject({ status: 204, body: null });
      expect(read.body).toEqual({ key, fields: { summary: 'Second' } });
      expect(deleted.status).toBe(204);
    });

    it.each([
      ['no leading slash', 'rest/api/3/myself'],
      ['a scheme', '/https://evil.example/x'],
      ['a scheme instead of a path', 'https://evil.example/rest/api/3/myself'],
      ['"//"', '//evil.example/rest/api/3/myself'],
      ['"//" inside', '/rest//api'],
      ['a ".." segment', '/rest/api/3/../../../oauth/token'],
      ['an encoded ".." segment', '/rest/api/3/%2e%2e/x'],
      ['a backslash', '/rest\\api'],
      ['a fragment', '/rest/api/3/myself#x'],
    ])('refuses a path with %s before anything is sent', async (_name, path) => {
      const error = await rejection(sut.request({ platform: PLATFORM, tenantId: TENANT, site: SITE, path }));

      expect(error).toBeInstanceOf(AtlassianApiRequestValidationError);
      expect(error).toMatchObject({ field: 'path' });
      await expect(server.gatewayStats()).resolves.toMatchObject({ requests: 0 });
    });

    it('refuses an Authorization header of its own, naming it', async () => {
      await expect(
        sut.get('/rest/api/3/myself', {
          platform: PLATFORM,
          tenantId: TENANT,
          site: SITE,
          headers: { Authorization: 'Bearer other' },
        }),
      ).rejects.toMatchObject({ name: 'AtlassianApiRequestValidationError', field: 'headers.authorization' });
      await expect(server.gatewayStats()).resolves.toMatchObject({ requests: 0 });
    });

    it('follows no redirect: a 302 to another host rejects with AtlassianApiError, and that host gets nothing', async () => {
      let elsewhere = 0;
      const other = createServer((req, res) => {
        elsewhere += 1;
        res.end('{}');
      });
      await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = other.address() as AddressInfo;
        await server.configureGateway({
          script: [{ status: 302, headers: { location: `http://127.0.0.1:${port}/rest/api/3/myself` } }],
        });

        const error = await rejection(
          sut.get('/rest/api/3/myself', { platform: PLATFORM, tenantId: TENANT, site: SITE }),
        );

        expect(error).toBeInstanceOf(AtlassianApiError);
        expect(error).toMatchObject({ status: 302, method: 'GET', path: '/rest/api/3/myself' });
        expect(elsewhere).toBe(0);
        await expect(server.gatewayStats()).resolves.toMatchObject({ requests: 1 });
      } finally {
        await new Promise((resolve) => other.close(resolve));
      }
    });
  });

  describe('the token', () => {
    it('on 401 refreshes once and sends again once', async () => {
      await storeDeadAccessToken();

      const answer = await sut.get('/rest/api/3/myself', { platform: PLATFORM, tenantId: TENANT, site: SITE });

      expect(answer.status).toBe(200);
      await expect(server.gatewayStats()).resolves.toMatchObject({ requests: 2, authorizations: { dead: 1, live: 1 } });
      await expect(server.stats()).resolves.toMatchObject({ tokenRequests: 1, issued: { refreshToken: 1 } });
    });

    it('a second 401 rejects with AtlassianApiUnauthorizedError after one refresh', async () => {
      await server.configureGateway({ script: [{ status: 401, times: 2, body: { errorMessages: ['scope'] } }] });

      const error = await rejection(
        sut.get('/rest/api/3/myself', { platform: PLATFORM, tenantId: TENANT, site: SITE }),
      );

      expect(error).toBeInstanceOf(AtlassianApiUnauthorizedError);
      expect(error).toMatchObject({ status: 401, method: 'GET', path: '/rest/api/3/myself' });
      await expect(server.gatewayStats()).resolves.toMatchObject({ requests: 2 });
      await expect(server.tokenRequests()).resolves.toBe(1);
    });

    it('concurrent callers refused the same token refresh it once', async () => {
      await storeDeadAccessToken();

      const answers = await Promise.all(
        Array.from({ length: 8 }, () =>
          sut.get('/rest/api/3/myself', { platform: PLATFORM, tenantId: TENANT, site: SITE }),
        ),
      );

      expect(answers.every((answer) => answer.status === 200)).toBe(true);
      await expect(server.stats()).resolves.toMatchObject({ tokenRequests: 1, refreshTokenReuses: 0 });
    });

    it.each([
      ['404 on a /rest/api/2/ path', '/rest/api/2/myself', 404],
      ['403 on a v1 path', '/rest/agile/1.0/board', 403],
    ])(
      'a dead token answered with %s: asks accessible-resources (401), refreshes, and sends again',
      async (_name, path, status) => {
        await storeDeadAccessToken();
        await server.configureGateway({
          script: [{ match: '/rest/agile/1.0/board', status: 200, body: { values: [] } }],
        });

        const answer = await sut.get(path, { platform: PLATFORM, tenantId: TENANT, site: SITE });

        expect(answer.status).toBe(200);
        const stats = await server.gatewayStats();
        expect(stats).toMatchObject({ requests: 2, accessibleResources: 1, authorizations: { dead: 1, live: 1 } });
        expect(stats.byStatus[status]).toBe(1);
        await expect(server.tokenRequests()).resolves.toBe(1);
      },
    );

    it('a real 404 (no such issue) rejects with AtlassianApiError and errorMessages; no refresh; no second probe within a minute', async () => {
      const first = await rejection(
        sut.get('/rest/api/2/issue/NOPE-1', { platform: PLATFORM, tenantId: TENANT, site: SITE, query: { q: 'x' } }),
      );
      const second = await rejection(
        sut.get('/rest/api/2/issue/NOPE-2', { platform: PLATFORM, tenantId: TENANT, site: SITE }),
      );

      expect(first).toBeInstanceOf(AtlassianApiError);
      expect(first).toMatchObject({
        status: 404,
        method: 'GET',
        path: '/rest/api/2/issue/NOPE-1',
        errorMessages: ['Issue does not exist or you do not have permission to see it.'],
      });
      expect((first as Error).message).not.toContain('q=x');
      expect(second).toMatchObject({ status: 404 });
      await expect(server.gatewayStats()).resolves.toMatchObject({ requests: 2, accessibleResources: 1 });
      await expect(server.tokenRequests()).resolves.toBe(0);
    });

    it('no probe after a success with the same token within the last minute', async () => {
      await sut.get('/rest/api/3/myself', { platform: PLATFORM, tenantId: TENANT, site: SITE });

      await expect(
        sut.get('/rest/api/3/issue/NOPE-1', { platform: PLATFORM, tenantId: TENANT, site: SITE }),
      ).rejects.toMatchObject({ status: 404 });
      await expect(server.gatewayStats()).resolves.toMatchObject({ accessibleResources: 0 });
    });

    it('grant errors of accessToken pass through unchanged', async () => {
      await booted.states.upsert(PLATFORM, TENANT, { ...connected, expiresAt: new Date(Date.now() - 1000) });
      await server.revokeGrant(connected.grantId);

      await expect(
        sut.get('/rest/api/3/myself', { platform: PLATFORM, tenantId: TENANT, site: SITE }),
      ).rejects.toBeInstanceOf(AtlassianOauthGrantRevokedError);
      await expect(server.gatewayStats()).resolves.toMatchObject({ requests: 0 });
    });

    it('no token, Authorization header or body in any error or log line', async () => {
      const logged: unknown[] = [];
      for (const level of ['log', 'warn', 'error', 'debug'] as const) {
        jest.spyOn(Logger.prototype, level).mockImplementation((...args: unknown[]) => void logged.push(args));
      }
      await server.configureGateway({
        budget: { tenant: { points: 0, windowMs: 60_000 } },
      });

      const errors = [
        await rejection(
          sut.post('/rest/api/3/issue', {
            platform: PLATFORM,
            tenantId: TENANT,
            site: SITE,
            body: { fields: { summary: 'secret-body-text' } },
            deadlineMs: 2_000,
          }),
        ),
      ];
      await server.configureGateway({ script: [{ status: 400, body: { errorMessages: ['bad'] } }] });
      errors.push(
        await rejection(
          sut.post('/rest/api/3/issue', {
            platform: PLATFORM,
            tenantId: OTHER,
            site: 'cloud-2',
            body: { fields: { summary: 'secret-body-text' } },
          }),
        ),
      );

      const text = JSON.stringify([
        errors.map((error) => ({ ...(error as object), message: (error as Error).message })),
        logged,
      ]);
      expect(errors[0]).toBeInstanceOf(AtlassianApiRateLimitedError);
      expect(errors[1]).toMatchObject({ status: 400, errorMessages: ['bad'] });
      expect(text).not.toContain(connected.accessToken);
      expect(text).not.toContain('Bearer');
      expect(text).not.toContain('secret-body-text');
      expect(text).toContain('jira-quota-tenant-based');
    });
  });

  describe('429 and 503', () => {
    it.each([
      ['Retry-After in seconds', () => ({ 'retry-after': '1' })],
      ['Retry-After as an HTTP date', () => ({ 'retry-after': new Date(Date.now() + 2_000).toUTCString() })],
      ['X-RateLimit-Reset', () => ({ 'x-ratelimit-reset': new Date(Date.now() + 1_000).toISOString() })],
    ])('waits what %s says, then sends again', async (_name, headers) => {
      const named = headers();
      await server.configureGateway({ script: [{ status: 429, headers: named }] });
      const started = Date.now();

      const answer = await sut.get('/rest/api/3/myself', { platform: PLATFORM, tenantId: TENANT, site: SITE });

      expect(answer.status).toBe(200);
      // At least what the header asked (an HTTP date has whole seconds: up to 1 s less).
      expect(Date.now() - started).toBeGreaterThanOrEqual(
        'retry-after' in named && named['retry-after'].includes(' ') ? 900 : 990,
      );
      await expect(server.gatewayStats()).resolves.toMatchObject({ requests: 2 });
    });

    it('at most maxRetries retries, then AtlassianApiRateLimitedError with retryAfterMs and the reason', async () => {
      await server.configureGateway({
        script: [
          { status: 429, times: 10, headers: { 'retry-after': '0', 'ratelimit-reason': 'jira-some-new-limit' } },
        ],
      });

      const error = await rejection(
        sut.get('/rest/api/3/myself', { platform: PLATFORM, tenantId: TENANT, site: SITE, maxRetries: 2 }),
      );

      expect(error).toBeInstanceOf(AtlassianApiRateLimitedError);
      expect(error).toMatchObject({ status: 429, retryAfterMs: 0, reason: 'jira-some-new-limit' });
      await expect(server.gatewayStats()).resolves.toMatchObject({ requests: 3 });
    });

    it('a wait past the deadline rejects at once', async () => {
      await server.configureGateway({ script: [{ status: 429, headers: { 'retry-after': '30' } }] });
      const started = Date.now();

      const error = await rejection(
        sut.get('/rest/api/3/myself', { platform: PLATFORM, tenantId: TENANT, site: SITE, deadlineMs: 5_000 }),
      );

      expect(error).toMatchObject({ name: 'AtlassianApiRateLimitedError', retryAfterMs: 30_000 });
      expect(Date.now() - started).toBeLessThan(4_000);
      await expect(server.gatewayStats()).resolves.toMatchObject({ requests: 1 });
    });

    it('without a header backs off (1 s base, full jitter) and sends again; 503 too', async () => {
      await server.configureGateway({ script: [{ status: 503 }, { status: 429 }] });

      const answer = await sut.get('/rest/api/3/myself', { platform: PLATFORM, tenantId: TENANT, site: SITE });

      expect(answer.status).toBe(200);
      await expect(server.gatewayStats()).resolves.toMatchObject({ requests: 3 });
    });

    it('the signal aborts a wait: the call rejects with its reason', async () => {
      await server.configureGateway({ script: [{ status: 429, headers: { 'retry-after': '20' } }] });
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error('caller gave up')), 300);

      await expect(
        sut.get('/rest/api/3/myself', { platform: PLATFORM, tenantId: TENANT, site: SITE, signal: controller.signal }),
      ).rejects.toThrow('caller gave up');
      await expect(server.gatewayStats()).resolves.toMatchObject({ requests: 1 });
    });
  });

  describe('500, 502, 504 and network errors', () => {
    it.each([500, 502, 504])('GET after %s is sent again', async (status) => {
      await server.configureGateway({ script: [{ status }] });

      await expect(
        sut.get('/rest/api/3/myself', { platform: PLATFORM, tenantId: TENANT, site: SITE }),
      ).resolves.toMatchObject({ status: 200 });
      await expect(server.gatewayStats()).resolves.toMatchObject({ requests: 2 });
    });

    it('GET after a dropped connection is sent again', async () => {
      await server.configureGateway({ script: [{ drop: true }] });

      await expect(
        sut.get('/rest/api/3/myself', { platform: PLATFORM, tenantId: TENANT, site: SITE }),
      ).resolves.toMatchObject({ status: 200 });
      await expect(server.gatewayStats()).resolves.toMatchObject({ requests: 2 });
    });

    it.each([
      ['500', { status: 500 }, 500],
      ['503', { status: 503 }, 503],
      ['a dropped connection', { drop: true }, null],
    ])('a POST after %s is never sent twice', async (_name, entry, status) => {
      await server.configureGateway({ script: [entry] });

      const error = await rejection(
        sut.post('/rest/api/3/issue', { platform: PLATFORM, tenantId: TENANT, site: SITE, body: { fields: {} } }),
      );

      expect(error).toBeInstanceOf(AtlassianApiError);
      expect(error).toMatchObject({ status, method: 'POST', path: '/rest/api/3/issue' });
      await expect(server.gatewayStats()).resolves.toMatchObject({ requests: 1 });
    });

    it('a POST after a 429 (proof it was not processed) is sent again; so is one marked idempotent after a 500', async () => {
      await server.configureGateway({ script: [{ status: 429, headers: { 'retry-after': '0' } }] });

      const afterLimit = await sut.post('/rest/api/3/issue', {
        platform: PLATFORM,
        tenantId: TENANT,
        site: SITE,
        body: { fields: {} },
      });
      const afterLimitRequests = (await server.gatewayStats()).requests;
      await server.configureGateway({ script: [{ status: 500 }] });
      const afterError = await sut.post('/rest/api/3/issue', {
        platform: PLATFORM,
        tenantId: TENANT,
        site: SITE,
        body: { fields: {} },
        idempotent: true,
      });

      expect([afterLimit.status, afterError.status]).toEqual([201, 201]);
      expect(afterLimitRequests).toBe(2);
      await expect(server.gatewayStats()).resolves.toMatchObject({ requests: 2 });
    });
  });

  describe('the shared budget', () => {
    it('an app-wide 429 pauses every call of the app: another tenant waits it out, nothing is sent meanwhile', async () => {
      await server.configureGateway({ budget: { app: { points: 2, windowMs: 2_500 } } });
      await sut.get('/rest/api/3/myself', { platform: PLATFORM, tenantId: TENANT, site: SITE });
      await sut.get('/rest/api/3/myself', { platform: PLATFORM, tenantId: TENANT, site: SITE });

      const limited = sut.get('/rest/api/3/myself', { platform: PLATFORM, tenantId: TENANT, site: SITE });
      await new Promise((resolve) => setTimeout(resolve, 300));
      const other = sut.get('/rest/api/3/myself', { platform: PLATFORM, tenantId: OTHER, site: 'cloud-2' });
      const answers = await Promise.all([limited, other]);

      expect(answers.map((answer) => answer.status)).toEqual([200, 200]);
      const stats = await server.gatewayStats();
      expect(stats).toMatchObject({ requests: 5, limited: 1, sentDuringPauseAll: 1 });
      await expect(booted.pauseRows()).resolves.toEqual([
        expect.objectContaining({ scope: 'app', platform: PLATFORM, tenantId: '', reason: 'jira-quota-global-based' }),
      ]);
      await expect(booted.metrics.render()).resolves.toContain('agent_core_atlassian_api_pauses_total{scope="app"} 1');
    });

    it('a call during a pause that outlasts its deadline rejects at once, sending nothing', async () => {
      await server.configureGateway({ budget: { app: { points: 0, windowMs: 30_000 } } });
      await expect(
        sut.get('/rest/api/3/myself', { platform: PLATFORM, tenantId: TENANT, site: SITE, deadlineMs: 3_000 }),
      ).rejects.toBeInstanceOf(AtlassianApiRateLimitedError);
      const started = Date.now();

      const error = await rejection(
        sut.get('/rest/api/3/myself', { platform: PLATFORM, tenantId: OTHER, site: 'cloud-2', deadlineMs: 3_000 }),
      );

      expect(error).toMatchObject({
        name: 'AtlassianApiRateLimitedError',
        pausedBy: 'app',
        reason: 'jira-quota-global-based',
      });
      expect((error as AtlassianApiRateLimitedError).retryAfterMs).toBeGreaterThan(20_000);
      expect(Date.now() - started).toBeLessThan(1_000);
      await expect(server.gatewayStats()).resolves.toMatchObject({ requests: 1 });
    });

    it("a tenant-quota 429 pauses that tenant's calls only", async () => {
      await server.configureGateway({ budget: { tenant: { points: 0, windowMs: 30_000 } } });
      await expect(
        sut.get('/rest/api/3/myself', { platform: PLATFORM, tenantId: TENANT, site: SITE, deadlineMs: 3_000 }),
      ).rejects.toMatchObject({ reason: 'jira-quota-tenant-based' });
      await server.configureGateway();

      await expect(
        sut.get('/rest/api/3/myself', { platform: PLATFORM, tenantId: TENANT, site: SITE, deadlineMs: 3_000 }),
      ).rejects.toMatchObject({ pausedBy: 'tenant' });
      await expect(
        sut.get('/rest/api/3/myself', { platform: PLATFORM, tenantId: OTHER, site: 'cloud-2' }),
      ).resolves.toMatchObject({ status: 200 });
      await expect(server.gatewayStats()).resolves.toMatchObject({ requests: 1 });
      await expect(booted.pauseRows()).resolves.toEqual([
        expect.objectContaining({ scope: 'tenant', tenantId: TENANT, reason: 'jira-quota-tenant-based' }),
      ]);
    });

    it("a burst 429 pauses that tenant's endpoint in this process, not its other endpoints; no row", async () => {
      await server.configureGateway({
        script: [{ status: 429, headers: { 'retry-after': '30', 'ratelimit-reason': 'jira-burst-based' } }],
      });
      await expect(
        sut.get('/rest/api/3/myself', { platform: PLATFORM, tenantId: TENANT, site: SITE, deadlineMs: 3_000 }),
      ).rejects.toMatchObject({ reason: 'jira-burst-based' });

      await expect(
        sut.get('/rest/api/3/myself', { platform: PLATFORM, tenantId: TENANT, site: SITE, deadlineMs: 3_000 }),
      ).rejects.toMatchObject({ pausedBy: 'endpoint' });
      await expect(sut.get('/echo', { platform: PLATFORM, tenantId: TENANT, site: SITE })).resolves.toMatchObject({
        status: 200,
      });
      await expect(server.gatewayStats()).resolves.toMatchObject({ requests: 2 });
      await expect(booted.pauseRows()).resolves.toEqual([]);
    });
  });

  describe('fairness and metrics', () => {
    it('at most ATLASSIAN_API_MAX_CONCURRENCY_PER_TENANT calls of a tenant in flight; another tenant is not held back', async () => {
      await booted.moduleRef.close();
      await prepare(2);
      await server.configureGateway({ script: [{ match: '/echo', status: 200, body: {}, delayMs: 300, times: 8 }] });

      const flood = Array.from({ length: 8 }, () =>
        sut.get('/echo', { platform: PLATFORM, tenantId: TENANT, site: SITE }),
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      const quiet = await sut.get('/rest/api/3/myself', { platform: PLATFORM, tenantId: OTHER, site: 'cloud-2' });
      const floodDoneBeforeQuiet = (await server.gatewayStats()).answered;
      await Promise.all(flood);

      expect(quiet.status).toBe(200);
      expect(floodDoneBeforeQuiet).toBeLessThan(8);
      await expect(server.gatewayStats()).resolves.toMatchObject({ maxInFlight: { [SITE]: 2, 'cloud-2': 1 } });
    });

    it('paced under the app budget (ATLASSIAN_API_MAX_REQUESTS_PER_SECOND): a flood meets no 429, and a quiet tenant waits for one flood call, not all', async () => {
      await booted.moduleRef.close();
      await prepare(4, 8);
      // 10 points a second against a ceiling of 8 calls a second: without the ceiling the flood spends the window at once.
      await server.configureGateway({ budget: { app: { points: 10, windowMs: 1_000 } } });
      const flood = Array.from({ length: 16 }, () =>
        sut.get('/rest/api/3/myself', { platform: PLATFORM, tenantId: TENANT, site: SITE }),
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      const answeredBefore = (await server.gatewayStats()).answered;
      const quiet = await sut.get('/rest/api/3/myself', { platform: PLATFORM, tenantId: OTHER, site: 'cloud-2' });
      const answeredWithQuiet = (await server.gatewayStats()).answered;
      await Promise.all(flood);

      expect(quiet.status).toBe(200);
      // The quiet call went after at most one more flood call (two if one was let go while it was being asked for).
      expect(answeredWithQuiet - answeredBefore).toBeLessThanOrEqual(3);
      await expect(server.gatewayStats()).resolves.toMatchObject({ answered: 17, limited: 0, pauses: [] });
    });

    it('counts requests by platform, method and status class, retries by reason, call durations, and the last NearLimit', async () => {
      await server.configureGateway({
        budget: { app: { points: 10, windowMs: 60_000 } },
        script: [{ status: 500 }],
      });
      for (let i = 0; i < 9; i++) {
        await sut.get('/rest/api/3/myself', { platform: PLATFORM, tenantId: TENANT, site: SITE });
      }

      const text = await booted.metrics.render();

      expect(text).toContain(
        'agent_core_atlassian_api_requests_total{platform="jira",method="GET",status_class="5xx"} 1',
      );
      expect(text).toContain(
        'agent_core_atlassian_api_requests_total{platform="jira",method="GET",status_class="2xx"} 9',
      );
      expect(text).toContain('agent_core_atlassian_api_retries_total{reason="server-error"} 1');
      expect(text).toContain('agent_core_atlassian_api_call_duration_seconds_count{platform="jira",method="GET"} 9');
      expect(text).toContain('agent_core_atlassian_api_near_limit{platform="jira"} 1');
    });
  });
});
