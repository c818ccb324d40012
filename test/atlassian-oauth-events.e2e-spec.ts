import { Injectable } from '@nestjs/common';
import { EventEmitterModule, OnEvent } from '@nestjs/event-emitter';
import { Test, TestingModule } from '@nestjs/testing';
import {
  ATLASSIAN_EVENTS,
  AtlassianApiModule,
  AtlassianGrantEvent,
  AtlassianOauthGrantRevokedError,
  AtlassianOauthStateRepo,
  AtlassianOauthTokenEndpointError,
  AtlassianOauthTokenService,
  AtlassianSitesChangedEvent,
  AtlassianSitesService,
} from '../src/atlassian';
import {
  ATLASSIAN_OAUTH_SETTINGS,
  AtlassianOauthSettings,
} from '../src/atlassian/client/atlassian-oauth-client.options';
import { DatabaseModule } from '../src/database/database.module';
import { atlassianSettings } from './support/config';
import { OauthTestServer, startOauthServer } from './support/oauth-server';
import { ScriptedHttpServer, json, startScriptedHttpServer } from './support/scripted-http-server';

const PLATFORM = 'jira';
const TENANT = 'acme';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A host's listener, as a service would write it with @OnEvent. */
@Injectable()
class HeardEvents {
  readonly heard: { name: string; event: AtlassianGrantEvent }[] = [];

  @OnEvent(ATLASSIAN_EVENTS.grantConnected)
  connected(event: AtlassianGrantEvent): void {
    this.heard.push({ name: ATLASSIAN_EVENTS.grantConnected, event });
  }

  @OnEvent(ATLASSIAN_EVENTS.grantRevoked)
  revoked(event: AtlassianGrantEvent): void {
    this.heard.push({ name: ATLASSIAN_EVENTS.grantRevoked, event });
  }

  @OnEvent(ATLASSIAN_EVENTS.grantDisconnected)
  disconnected(event: AtlassianGrantEvent): void {
    this.heard.push({ name: ATLASSIAN_EVENTS.grantDisconnected, event });
  }

  @OnEvent(ATLASSIAN_EVENTS.refreshFailing)
  failing(event: AtlassianGrantEvent): void {
    this.heard.push({ name: ATLASSIAN_EVENTS.refreshFailing, event });
  }

  @OnEvent(ATLASSIAN_EVENTS.sitesChanged)
  sitesChanged(event: AtlassianGrantEvent): void {
    this.heard.push({ name: ATLASSIAN_EVENTS.sitesChanged, event });
  }

  @OnEvent(ATLASSIAN_EVENTS.refreshRecovered)
  recovered(event: AtlassianGrantEvent): void {
    this.heard.push({ name: ATLASSIAN_EVENTS.refreshRecovered, event });
  }

  names(): string[] {
    return this.heard.map((entry) => entry.name);
  }

  /** What was heard but the sites' news, which every connect also brings. */
  grantNames(): string[] {
    return this.names().filter((name) => name !== ATLASSIAN_EVENTS.sitesChanged);
  }
}

async function boot(settings: AtlassianOauthSettings, withEmitter = true) {
  const moduleRef: TestingModule = await Test.createTestingModule({
    imports: [...(withEmitter ? [EventEmitterModule.forRoot()] : []), DatabaseModule, AtlassianApiModule],
    providers: [HeardEvents],
  })
    .overrideProvider(ATLASSIAN_OAUTH_SETTINGS)
    .useValue(settings)
    .compile();
  await moduleRef.init();
  return {
    moduleRef,
    sut: moduleRef.get(AtlassianOauthTokenService),
    sites: moduleRef.get(AtlassianSitesService),
    states: moduleRef.get(AtlassianOauthStateRepo),
    listener: moduleRef.get(HeardEvents),
  };
}

describe('ATLASSIAN_EVENTS heard by a host listener (@OnEvent)', () => {
  let server: OauthTestServer;
  let booted: Awaited<ReturnType<typeof boot>> | undefined;

  beforeAll(async () => {
    server = await startOauthServer();
  });
  afterAll(async () => {
    await server.stop();
  });
  afterEach(async () => {
    await booted?.moduleRef.close();
    booted = undefined;
  });

  it('connected, revoked once however often it is seen, disconnected on delete; never a token', async () => {
    booted = await boot(server.settings);
    const { sut, states, listener } = booted;
    const { grantId, code } = await server.mintGrant();
    const stored = await sut.connect(PLATFORM, TENANT, code, server.redirectUri);
    expect(listener.grantNames()).toEqual([ATLASSIAN_EVENTS.grantConnected]);

    await server.revokeGrant(grantId);
    await expect(sut.accessToken(PLATFORM, TENANT, { minValidityMs: Infinity })).rejects.toBeInstanceOf(
      AtlassianOauthGrantRevokedError,
    );
    await expect(sut.accessToken(PLATFORM, TENANT, { minValidityMs: Infinity })).rejects.toBeInstanceOf(
      AtlassianOauthGrantRevokedError,
    );
    await expect(sut.refreshIdle(PLATFORM, TENANT, new Date(Date.now() + 60_000))).resolves.toBe('revoked');
    await expect(states.delete(PLATFORM, TENANT)).resolves.toBe(true);
    await expect(states.delete(PLATFORM, TENANT)).resolves.toBe(false);

    expect(listener.grantNames()).toEqual([
      ATLASSIAN_EVENTS.grantConnected,
      ATLASSIAN_EVENTS.grantRevoked,
      ATLASSIAN_EVENTS.grantDisconnected,
    ]);
    for (const { event } of listener.heard) {
      expect(event).toMatchObject({ platform: PLATFORM, tenantId: TENANT, occurredAt: expect.any(Date) });
    }
    const text = JSON.stringify(listener.heard);
    expect(text).not.toContain(stored.refreshToken);
    expect(text).not.toContain(stored.accessToken);
  });

  it('sites changed: on connect with every site added, then with what a re-read added and removed, never when nothing changed', async () => {
    const site = (id: string, product = 'jira-work') => ({
      id,
      url: `https://${id.slice(0, 4)}.atlassian.net`,
      name: id.slice(0, 4),
      scopes: [`read:${product}`],
      avatarUrl: 'https://avatars.example/a.png',
    });
    const [first, second, third] = [
      '11111111-1111-4111-8111-111111111111',
      '22222222-2222-4222-8222-222222222222',
      '33333333-3333-4333-8333-333333333333',
    ];
    booted = await boot(server.settings);
    const { sut, sites, listener } = booted;
    const { grantId, code } = await server.mintGrant();
    await server.setAccessibleResources([site(second), site(first)], grantId);
    try {
      await sut.connect(PLATFORM, TENANT, code, server.redirectUri);
      expect(listener.names()).toEqual([ATLASSIAN_EVENTS.grantConnected, ATLASSIAN_EVENTS.sitesChanged]);
      expect(listener.heard[1]?.event).toBeInstanceOf(AtlassianSitesChangedEvent);
      expect(listener.heard[1]?.event).toMatchObject({
        platform: PLATFORM,
        tenantId: TENANT,
        cloudIds: [first, second],
        added: [first, second],
        removed: [],
      });

      // The customer admits the app to a third site and takes it off the second; a Confluence-only
      // site is no news for a Jira key.
      await server.setAccessibleResources(
        [site(first), site(third), site('44444444', 'confluence-content.all')],
        grantId,
      );
      await sites.refreshSites(PLATFORM, TENANT);
      expect(listener.heard.slice(2)).toEqual([
        {
          name: ATLASSIAN_EVENTS.sitesChanged,
          event: expect.objectContaining({ cloudIds: [first, third], added: [third], removed: [second] }),
        },
      ]);

      await sites.refreshSites(PLATFORM, TENANT);
      expect(listener.heard).toHaveLength(3);
    } finally {
      await server.setAccessibleResources(null, grantId);
    }
  });

  it('works the same in an application without EventEmitterModule.forRoot(), emitting nothing', async () => {
    booted = await boot(server.settings, false);
    const { code } = await server.mintGrant();

    await expect(booted.sut.connect(PLATFORM, TENANT, code, server.redirectUri)).resolves.toMatchObject({
      platform: PLATFORM,
    });
    await expect(booted.states.delete(PLATFORM, TENANT)).resolves.toBe(true);
    expect(booted.listener.heard).toEqual([]);
  });
});

describe('atlassian.refresh.failing and .recovered (scripted token endpoint)', () => {
  let endpoint: ScriptedHttpServer;
  let booted: Awaited<ReturnType<typeof boot>> | undefined;

  beforeEach(async () => {
    endpoint = await startScriptedHttpServer();
  });
  afterEach(async () => {
    await booted?.moduleRef.close();
    booted = undefined;
    await endpoint.close();
  });

  it('failing once at the first failure after a success, recovered once at the first success after failures', async () => {
    booted = await boot(
      atlassianSettings({
        clientId: 'client-1',
        clientSecret: 'secret-1',
        tokenUrl: endpoint.url,
        tokenEndpointTimeoutMs: 300,
        refreshCooldownMs: 100,
        keepAliveIntervalMs: 0,
      }),
    );
    const { sut, states, listener } = booted;
    await states.upsert(PLATFORM, TENANT, { accessToken: null, refreshToken: 'refresh-1', expiresAt: null });
    endpoint.script({ status: 503 });

    await expect(sut.accessToken(PLATFORM, TENANT)).rejects.toBeInstanceOf(AtlassianOauthTokenEndpointError);
    await sleep(150);
    await expect(sut.accessToken(PLATFORM, TENANT)).rejects.toBeInstanceOf(AtlassianOauthTokenEndpointError);
    expect(listener.names()).toEqual([ATLASSIAN_EVENTS.refreshFailing]);
    expect(listener.heard[0]?.event).toMatchObject({ failure: 'server-error', httpStatus: 503 });

    await sleep(150);
    endpoint.script(
      json(200, { access_token: 'access-2', refresh_token: 'refresh-2', expires_in: 3600, token_type: 'Bearer' }),
    );
    await expect(sut.accessToken(PLATFORM, TENANT)).resolves.toBe('access-2');
    await expect(sut.accessToken(PLATFORM, TENANT)).resolves.toBe('access-2');

    expect(listener.names()).toEqual([ATLASSIAN_EVENTS.refreshFailing, ATLASSIAN_EVENTS.refreshRecovered]);
    expect(listener.heard.at(-1)?.event).toMatchObject({ failures: 2, failingSince: expect.any(Date) });
    expect(endpoint.requests).toHaveLength(3);
  });
});
