import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { Test, TestingModule } from '@nestjs/testing';
import { getDataSourceToken } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import {
  AtlassianOauthGrantRevokedError,
  AtlassianOauthKeepAliveModule,
  AtlassianOauthKeepAliveScheduleModule,
  AtlassianOauthKeepAliveService,
  AtlassianOauthRefreshHealthEntity,
  AtlassianOauthStateEntity,
  AtlassianOauthStateRepo,
  AtlassianOauthStateValidationError,
  AtlassianOauthTokenService,
  AtlassianSiteRepo,
  KeepAliveProgress,
} from '../src/atlassian';
import { ATLASSIAN_OAUTH_SETTINGS } from '../src/atlassian/client/atlassian-oauth-client.options';
import { AtlassianConfig } from '../src/config/atlassian.config';
import { DatabaseModule } from '../src/database/database.module';
import { AgentCoreMetrics } from '../src/metrics/agent-core-metrics';
import { MetricsModule } from '../src/metrics/metrics.module';
import { atlassianSettings } from './support/config';
import { setEnv } from './support/env';
import { OauthTestServer, startOauthServer } from './support/oauth-server';
import { ScriptedHttpServer, json, startScriptedHttpServer } from './support/scripted-http-server';

const PLATFORM = 'jira';
const DAY_MS = 24 * 3_600_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Booted {
  moduleRef: TestingModule;
  sut: AtlassianOauthKeepAliveService;
  states: AtlassianOauthStateRepo;
  tokens: AtlassianOauthTokenService;
  dataSource: DataSource;
}

/** The keep-alive sweep on an in-memory SQLite database (with its schedule when `scheduled`). */
async function boot(settings: Partial<AtlassianConfig>, scheduled = false): Promise<Booted> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      DatabaseModule,
      scheduled
        ? AtlassianOauthKeepAliveScheduleModule.whenConfigured(atlassianSettings(settings))
        : AtlassianOauthKeepAliveModule,
    ],
  })
    .overrideProvider(ATLASSIAN_OAUTH_SETTINGS)
    .useValue(atlassianSettings(settings))
    .compile();
  return {
    moduleRef,
    sut: moduleRef.get(AtlassianOauthKeepAliveService),
    states: moduleRef.get(AtlassianOauthStateRepo),
    tokens: moduleRef.get(AtlassianOauthTokenService),
    dataSource: moduleRef.get<DataSource>(getDataSourceToken()),
  };
}

/** Sets the key's last write back by `ageMs`, as if nobody had touched it since. */
async function age(booted: Booted, tenantId: string, ageMs: number): Promise<void> {
  await booted.dataSource
    .getRepository(AtlassianOauthStateEntity)
    .update({ platform: PLATFORM, tenantId }, { updatedAt: new Date(Date.now() - ageMs) });
}

describe(`${AtlassianOauthKeepAliveService.name} against a real OAuth server (oidc-provider)`, () => {
  let server: OauthTestServer;
  let booted: Booted;
  let sut: AtlassianOauthKeepAliveService;

  beforeAll(async () => {
    server = await startOauthServer();
  });
  afterAll(async () => {
    await server.stop();
  });
  beforeEach(async () => {
    booted = await boot(server.settings);
    sut = booted.sut;
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });
  afterEach(async () => {
    await booted.moduleRef.close();
    jest.restoreAllMocks();
  });

  /** Stores a real grant of the server for `tenantId`, last written `ageMs` ago; resolves with its grant id. */
  async function connected(tenantId: string, ageMs: number): Promise<string> {
    const grant = await server.connectedGrant();
    await booted.states.upsert(PLATFORM, tenantId, grant);
    await age(booted, tenantId, ageMs);
    return grant.grantId;
  }

  /** The stored refresh token of each tenant, compared by the test, never printed. */
  async function refreshTokens(tenants: string[]): Promise<Map<string, string | undefined>> {
    return new Map(
      await Promise.all(tenants.map(async (t) => [t, (await booted.states.get(PLATFORM, t))?.refreshToken] as const)),
    );
  }

  it('refreshes exactly the idle keys, skips the known-revoked one, and a second sweep refreshes nothing', async () => {
    const idle = ['idle-1', 'idle-2', 'idle-3'];
    const fresh = ['fresh-1', 'fresh-2'];
    for (const tenant of idle) {
      await connected(tenant, 40 * DAY_MS);
    }
    for (const tenant of fresh) {
      await connected(tenant, 2 * DAY_MS);
    }
    // Known revoked: its grant was revoked and a refresh recorded it, before the sweep.
    const knownRevoked = await connected('known-revoked', 40 * DAY_MS);
    await server.revokeGrant(knownRevoked);
    // Recorded on the aged state itself, so the record applies to what the sweep reads.
    await expect(booted.tokens.accessToken(PLATFORM, 'known-revoked', { minValidityMs: Infinity })).rejects.toThrow(
      AtlassianOauthGrantRevokedError,
    );
    // Revoked at the server, but nobody has noticed yet: the sweep asks once and records it.
    await server.revokeGrant(await connected('newly-revoked', 40 * DAY_MS));
    const before = await refreshTokens([...idle, ...fresh]);
    await server.resetStats();

    const counts = await sut.run({ idleForMs: 30 * DAY_MS });

    const stats = await server.stats();
    const after = await refreshTokens([...idle, ...fresh]);
    expect(counts).toEqual({ refreshed: 3, fresh: 2, revoked: 2, failed: 0 });
    // The three idle keys and the newly revoked one reached the server; the known-revoked one did not.
    expect(stats).toMatchObject({ tokenRequests: 4, issued: { refreshToken: 3 }, refreshTokenReuses: 0 });
    for (const tenant of idle) {
      expect(after.get(tenant) === before.get(tenant)).toBe(false);
    }
    for (const tenant of fresh) {
      expect(after.get(tenant) === before.get(tenant)).toBe(true);
    }

    await server.resetStats();
    const again = await sut.run({ idleForMs: 30 * DAY_MS });

    expect(again).toEqual({ refreshed: 0, fresh: 5, revoked: 2, failed: 0 });
    await expect(server.tokenRequests()).resolves.toBe(0);
  });

  it('a key in its cooldown counts as failed without a request; the sweep goes on with the others', async () => {
    await connected('cooling', 40 * DAY_MS);
    await connected('idle', 40 * DAY_MS);
    const cooling = await booted.states.get(PLATFORM, 'cooling');
    const now = new Date();
    await booted.dataSource.getRepository(AtlassianOauthRefreshHealthEntity).insert({
      platform: PLATFORM,
      tenantId: 'cooling',
      status: 'failing',
      stateId: cooling?.id,
      stateUpdatedAt: cooling?.updatedAt,
      failure: 'server-error',
      httpStatus: 503,
      failures: 1,
      firstFailedAt: now,
      lastFailedAt: now,
      retryAt: new Date(now.getTime() + 60_000),
    });
    await server.resetStats();

    await expect(sut.run({ idleForMs: 30 * DAY_MS })).resolves.toEqual({
      refreshed: 1,
      fresh: 0,
      revoked: 0,
      failed: 1,
    });
    await expect(server.stats()).resolves.toMatchObject({ tokenRequests: 1, issued: { refreshToken: 1 } });
  });

  it('reads the sites of each grant it refreshes: a removed site is gone, a fresh key untouched, a failed read still counts refreshed', async () => {
    const site = (n: number) => ({
      cloudId: `${n}`.repeat(8) + '-0000-4000-8000-000000000000',
      url: `https://site-${n}.atlassian.net`,
      name: `site-${n}`,
      scopes: ['read:jira-work'],
      avatarUrl: null,
    });
    const sites = booted.moduleRef.get(AtlassianSiteRepo);
    const storedWithSites = async (tenantId: string, ageMs: number): Promise<string> => {
      const grant = await server.connectedGrant();
      await booted.states.upsert(PLATFORM, tenantId, grant);
      await sites.replace(PLATFORM, tenantId, [site(1), site(2)], new Date());
      await age(booted, tenantId, ageMs);
      return grant.grantId;
    };
    const idle = await storedWithSites('idle', 40 * DAY_MS);
    const unreadable = await storedWithSites('unreadable', 40 * DAY_MS);
    const fresh = await storedWithSites('fresh', 2 * DAY_MS);
    // The customer took site 2 off the grant; one grant's answer is not a list of sites.
    const answer = ({ cloudId, ...rest }: ReturnType<typeof site>) => ({ id: cloudId, ...rest, avatarUrl: undefined });
    await server.setAccessibleResources([answer(site(1))], idle);
    await server.setAccessibleResources([answer(site(1))], fresh);
    await server.setAccessibleResources([{ id: 42 }], unreadable);
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      await expect(sut.run({ idleForMs: 30 * DAY_MS })).resolves.toEqual({
        refreshed: 2,
        fresh: 1,
        revoked: 0,
        failed: 0,
      });
    } finally {
      for (const grantId of [idle, unreadable, fresh]) {
        await server.setAccessibleResources(null, grantId);
      }
    }

    const cloudIds = async (tenantId: string) => (await sites.list(PLATFORM, tenantId)).map((s) => s.cloudId);
    await expect(cloudIds('idle')).resolves.toEqual([site(1).cloudId]);
    await expect(cloudIds('unreadable')).resolves.toEqual([site(1).cloudId, site(2).cloudId]);
    await expect(cloudIds('fresh')).resolves.toEqual([site(1).cloudId, site(2).cloudId]);
    expect(warn).toHaveBeenCalledWith(
      'Keep-alive refreshed ("jira", "unreadable") but could not read its sites: AtlassianSitesEndpointError',
    );
  });

  it('reports progress after every idle key, and stops cleanly when its signal is aborted', async () => {
    const tenants = ['a', 'b', 'c', 'd', 'e'];
    for (const tenant of tenants) {
      await connected(tenant, 40 * DAY_MS);
    }
    await server.resetStats();
    const stop = new AbortController();
    const progress: KeepAliveProgress[] = [];

    const counts = await sut.run({
      idleForMs: 30 * DAY_MS,
      concurrency: 1,
      signal: stop.signal,
      onProgress: (p) => {
        progress.push(p);
        if (p.processed === 2) {
          stop.abort();
        }
      },
    });

    expect(counts).toEqual({ refreshed: 2, fresh: 0, revoked: 0, failed: 0 });
    expect(progress.map((p) => [p.processed, p.idle, p.refreshed])).toEqual([
      [1, 5, 1],
      [2, 5, 2],
    ]);
    await expect(server.tokenRequests()).resolves.toBe(2);
    expect(sut.lastSweep).toMatchObject({ outcome: 'stopped', counts: { refreshed: 2 } });
    // The next sweep picks up the rest.
    await expect(sut.run({ idleForMs: 30 * DAY_MS })).resolves.toEqual({
      refreshed: 3,
      fresh: 2,
      revoked: 0,
      failed: 0,
    });
  });

  it("reports each sweep's counts and end to the application's metrics", async () => {
    const withMetrics = await Test.createTestingModule({
      imports: [DatabaseModule, MetricsModule, AtlassianOauthKeepAliveModule],
    })
      .overrideProvider(ATLASSIAN_OAUTH_SETTINGS)
      .useValue(server.settings)
      .compile();
    try {
      await withMetrics.get(AtlassianOauthStateRepo).upsert(PLATFORM, 'idle', await server.connectedGrant());
      await withMetrics
        .get<DataSource>(getDataSourceToken())
        .getRepository(AtlassianOauthStateEntity)
        .update({ platform: PLATFORM, tenantId: 'idle' }, { updatedAt: new Date(Date.now() - 40 * DAY_MS) });

      await withMetrics.get(AtlassianOauthKeepAliveService).run({ idleForMs: 30 * DAY_MS });

      const text = await withMetrics.get(AgentCoreMetrics).render();
      expect(text).toMatch(/^agent_core_keepalive_keys_total\{result="refreshed"\} 1$/m);
      expect(text).toMatch(/^agent_core_keepalive_last_run_timestamp_seconds [1-9]/m);
    } finally {
      await withMetrics.close();
    }
  });

  it.each([
    ['idleForMs', { idleForMs: -1 }],
    ['idleForMs', { idleForMs: Number.NaN }],
    ['concurrency', { concurrency: 0 }],
    ['concurrency', { concurrency: 1.5 }],
    ['concurrency', { concurrency: 65 }],
    ['onProgress', { onProgress: 'yes' }],
    ['signal', { signal: {} }],
  ])('rejects a bad %s (%p) naming it, before any refresh', async (field, options) => {
    await connected('idle', 40 * DAY_MS);
    await server.resetStats();

    await expect(sut.run(options as never)).rejects.toMatchObject({
      name: AtlassianOauthStateValidationError.name,
      field,
    });
    await expect(server.tokenRequests()).resolves.toBe(0);
  });
});

describe('the scheduled keep-alive sweep (ATLASSIAN_KEEPALIVE_INTERVAL_MS)', () => {
  let endpoint: ScriptedHttpServer;
  let booted: Booted | undefined;
  const settings = (keepAliveIntervalMs: number | undefined): Partial<AtlassianConfig> => ({
    clientId: 'client-1',
    clientSecret: 'secret-1',
    tokenUrl: endpoint.url,
    authorizeUrl: 'https://auth.example.test/authorize',
    keepAliveIntervalMs,
  });

  beforeEach(async () => {
    endpoint = await startScriptedHttpServer();
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  });
  afterEach(async () => {
    await booted?.moduleRef.close();
    booted = undefined;
    await endpoint.close();
    jest.restoreAllMocks();
  });

  /** Boots with the schedule, stores `n` idle keys, then starts the application (and so the schedule). */
  async function start(intervalMs: number | undefined, n: number): Promise<Booted> {
    booted = await boot(settings(intervalMs), true);
    for (let i = 0; i < n; i++) {
      await booted.states.upsert(PLATFORM, `tenant-${i}`, { refreshToken: `refresh-${i}` });
      await age(booted, `tenant-${i}`, 40 * DAY_MS);
    }
    await booted.moduleRef.createNestApplication().init();
    return booted;
  }

  const answer = (delayMs?: number) => ({
    ...json(200, { access_token: 'access-new', refresh_token: 'refresh-new', expires_in: 3600, token_type: 'Bearer' }),
    delayMs,
  });

  it('sweeps on its own, one interval after boot', async () => {
    endpoint.script(answer());
    const { sut } = await start(200, 3);

    for (let waited = 0; sut.lastSweep === null && waited < 10_000; waited += 50) {
      await sleep(50);
    }

    expect(sut.lastSweep).toMatchObject({ outcome: 'done', counts: { refreshed: 3, failed: 0 } });
    expect(endpoint.requests.length).toBe(3);
  });

  it('shutdown stops a running sweep: no new key starts, and the refreshes in flight are stored', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-core-keep-alive-'));
    const restoreEnv = setEnv({ DATABASE_PATH: join(dir, 'agent-core.sqlite'), NODE_ENV: undefined });
    try {
      endpoint.script(answer(700));
      const { moduleRef, sut } = await start(100, 12);
      for (let waited = 0; endpoint.requests.length === 0 && waited < 10_000; waited += 20) {
        await sleep(20);
      }
      const inFlight = endpoint.requests.length;

      await moduleRef.close();
      booted = undefined;

      // 4 keys at a time (the default concurrency): those finished; no other key started.
      expect(inFlight).toBe(4);
      expect(endpoint.requests).toHaveLength(4);
      expect(sut.lastSweep).toMatchObject({ outcome: 'stopped', counts: { refreshed: 4, failed: 0 } });
      // What they refreshed is in the database, which closed only after them.
      booted = await boot(settings(0));
      const stored = await booted.states.list();
      const rotated = await Promise.all(
        stored.map(
          async ({ tenantId }) => (await booted?.states.get(PLATFORM, tenantId))?.refreshToken === 'refresh-new',
        ),
      );
      expect(rotated.filter(Boolean)).toHaveLength(4);
    } finally {
      await booted?.moduleRef.close();
      booted = undefined;
      restoreEnv();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('0 turns the schedule off', async () => {
    endpoint.script(answer());
    const { sut } = await start(0, 2);
    await sleep(500);

    expect(sut.lastSweep).toBeNull();
    expect(endpoint.requests).toHaveLength(0);
  });
});
