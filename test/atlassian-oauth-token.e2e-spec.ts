import { Logger } from '@nestjs/common';
import { Test, TestingModule } from '@nestjs/testing';
import { getDataSourceToken } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import {
  AtlassianOauthGrantRevokedError,
  AtlassianOauthRefreshFailedError,
  AtlassianOauthRefreshHealthEntity,
  AtlassianOauthStateNotFoundError,
  AtlassianOauthStateRepo,
  AtlassianOauthTokenEndpointError,
  AtlassianOauthTokenService,
  AtlassianOauthTokensModule,
} from '../src/atlassian';
import { ATLASSIAN_OAUTH_SETTINGS } from '../src/atlassian/client/atlassian-oauth-client.options';
import { AtlassianConfig } from '../src/config/atlassian.config';
import { DatabaseModule } from '../src/database/database.module';
import { OauthTestServer, startOauthServer } from './support/oauth-server';
import { atlassianSettings } from './support/config';
import { rejection } from './support/rejection';
import { ScriptedHttpServer, json, startScriptedHttpServer } from './support/scripted-http-server';

const PLATFORM = 'jira';
const TENANT = 'acme';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Booted {
  moduleRef: TestingModule;
  sut: AtlassianOauthTokenService;
  states: AtlassianOauthStateRepo;
  healthRows: () => Promise<AtlassianOauthRefreshHealthEntity[]>;
}

/** The token service on an in-memory SQLite database, as a service that calls Atlassian boots it. */
async function boot(settings: Partial<AtlassianConfig>): Promise<Booted> {
  const moduleRef = await Test.createTestingModule({ imports: [DatabaseModule, AtlassianOauthTokensModule] })
    .overrideProvider(ATLASSIAN_OAUTH_SETTINGS)
    .useValue(atlassianSettings(settings))
    .compile();
  const dataSource = moduleRef.get<DataSource>(getDataSourceToken());
  return {
    moduleRef,
    sut: moduleRef.get(AtlassianOauthTokenService),
    states: moduleRef.get(AtlassianOauthStateRepo),
    healthRows: () => dataSource.getRepository(AtlassianOauthRefreshHealthEntity).find(),
  };
}

describe(`${AtlassianOauthTokenService.name} against a real OAuth server (oidc-provider)`, () => {
  let server: OauthTestServer;
  let booted: Booted;
  let sut: AtlassianOauthTokenService;

  beforeAll(async () => {
    server = await startOauthServer();
  });
  afterAll(async () => {
    await server.stop();
  });
  beforeEach(async () => {
    booted = await boot(server.settings);
    sut = booted.sut;
    await server.resetStats();
  });
  afterEach(async () => {
    await booted.moduleRef.close();
  });

  /** Connects the tenant through the service, then makes its stored access token expire in 10 s. */
  async function connectExpiring(): Promise<{ grantId: string }> {
    const { grantId, code } = await server.mintGrant();
    const stored = await sut.connect(PLATFORM, TENANT, code, server.redirectUri);
    await booted.states.upsert(PLATFORM, TENANT, { ...stored, expiresAt: new Date(Date.now() + 10_000) });
    return { grantId };
  }

  it('connect stores the tokens of the code exchange; accessToken then serves them with no token request', async () => {
    const { code } = await server.mintGrant();

    const stored = await sut.connect(PLATFORM, TENANT, code, server.redirectUri);
    const first = await sut.accessToken(PLATFORM, TENANT);
    const second = await sut.accessToken(PLATFORM, TENANT);

    expect(first).toBe(stored.accessToken);
    expect(second).toBe(stored.accessToken);
    await expect(booted.states.get(PLATFORM, TENANT)).resolves.toMatchObject({ refreshToken: stored.refreshToken });
    await expect(server.stats()).resolves.toMatchObject({ tokenRequests: 1, issued: { authorizationCode: 1 } });
  });

  it('refreshes an expiring token once and stores the rotated refresh token', async () => {
    await connectExpiring();
    const before = await booted.states.get(PLATFORM, TENANT);
    await server.resetStats();

    const token = await sut.accessToken(PLATFORM, TENANT);
    const again = await sut.accessToken(PLATFORM, TENANT);

    const after = await booted.states.get(PLATFORM, TENANT);
    expect(token).not.toBe(before?.accessToken);
    expect(again).toBe(token);
    expect(after?.accessToken).toBe(token);
    expect(after?.refreshToken).not.toBe(before?.refreshToken);
    expect(after?.expiresAt?.getTime()).toBeGreaterThan(Date.now() + 3500_000);
    await expect(server.stats()).resolves.toMatchObject({
      tokenRequests: 1,
      issued: { refreshToken: 1 },
      refreshTokenReuses: 0,
    });
  });

  it('after invalid_grant rejects at once, never reaching the server again, until a reconnect', async () => {
    const { grantId } = await connectExpiring();
    await server.revokeGrant(grantId);
    await server.resetStats();

    const first = await rejection(sut.accessToken(PLATFORM, TENANT));
    const later = await Promise.all(Array.from({ length: 10 }, () => rejection(sut.accessToken(PLATFORM, TENANT))));
    const whileRevoked = await server.tokenRequests();

    expect(first).toBeInstanceOf(AtlassianOauthGrantRevokedError);
    expect((first as Error).message).toContain(`("${PLATFORM}", "${TENANT}")`);
    expect(later.every((error) => error instanceof AtlassianOauthGrantRevokedError)).toBe(true);
    expect(whileRevoked).toBe(1);

    const { code } = await server.mintGrant();
    await sut.connect(PLATFORM, TENANT, code, server.redirectUri);
    await expect(sut.accessToken(PLATFORM, TENANT, { minValidityMs: Infinity })).resolves.toEqual(expect.any(String));
    await expect(server.stats()).resolves.toMatchObject({ tokenRequests: 3, issued: { refreshToken: 1 } });
    await expect(booted.healthRows()).resolves.toEqual([]);
  });

  it('after a recorded revocation rejects at once even while the stored access token has not expired', async () => {
    const { grantId, code } = await server.mintGrant();
    const stored = await sut.connect(PLATFORM, TENANT, code, server.redirectUri);
    await server.revokeGrant(grantId);
    // A caller that needs more validity than the stored hour refreshes and meets invalid_grant.
    await expect(sut.accessToken(PLATFORM, TENANT, { minValidityMs: 2 * 3_600_000 })).rejects.toBeInstanceOf(
      AtlassianOauthGrantRevokedError,
    );
    await server.resetStats();

    const after = await rejection(sut.accessToken(PLATFORM, TENANT));

    expect(stored.expiresAt?.getTime()).toBeGreaterThan(Date.now() + 3_000_000);
    expect(after).toBeInstanceOf(AtlassianOauthGrantRevokedError);
    await expect(server.tokenRequests()).resolves.toBe(0);
  });

  it('a revoked grant stops applying when a new state is stored by upsert (as the CLI put does)', async () => {
    const { grantId } = await connectExpiring();
    await server.revokeGrant(grantId);
    await expect(sut.accessToken(PLATFORM, TENANT)).rejects.toBeInstanceOf(AtlassianOauthGrantRevokedError);
    const fresh = await server.connectedGrant();
    await server.resetStats();

    await booted.states.upsert(PLATFORM, TENANT, { refreshToken: fresh.refreshToken });
    const token = await sut.accessToken(PLATFORM, TENANT);

    expect(token).toEqual(expect.any(String));
    await expect(server.stats()).resolves.toMatchObject({ tokenRequests: 1, issued: { refreshToken: 1 } });
  });

  it('keeps no token value in the refresh health table', async () => {
    const { grantId } = await connectExpiring();
    const state = await booted.states.get(PLATFORM, TENANT);
    await server.revokeGrant(grantId);
    await expect(sut.accessToken(PLATFORM, TENANT)).rejects.toBeInstanceOf(AtlassianOauthGrantRevokedError);

    const rows = await booted.healthRows();

    expect(rows).toEqual([
      expect.objectContaining({
        platform: PLATFORM,
        tenantId: TENANT,
        status: 'revoked',
        failure: 'invalid_grant',
        failures: 1,
      }),
    ]);
    const text = JSON.stringify(rows);
    expect(text).not.toContain(state?.refreshToken);
    expect(text).not.toContain(state?.accessToken);
  });

  it('refused: refreshes a token that has not expired, once for concurrent callers, never returning the refused one', async () => {
    const { code } = await server.mintGrant();
    const stored = await sut.connect(PLATFORM, TENANT, code, server.redirectUri);
    const refusedToken = stored.accessToken ?? '';
    await server.resetStats();

    const tokens = await Promise.all(
      Array.from({ length: 8 }, () => sut.accessToken(PLATFORM, TENANT, { refused: refusedToken })),
    );
    const later = await sut.accessToken(PLATFORM, TENANT, { refused: refusedToken });

    expect(new Set(tokens).size).toBe(1);
    expect(tokens[0] === refusedToken).toBe(false);
    expect(later === tokens[0]).toBe(true);
    await expect(booted.states.get(PLATFORM, TENANT)).resolves.toMatchObject({ accessToken: tokens[0] });
    await expect(server.stats()).resolves.toMatchObject({
      tokenRequests: 1,
      issued: { refreshToken: 1 },
      refreshTokenReuses: 0,
    });
  });

  it('rejects a tenant that was never connected with AtlassianOauthStateNotFoundError, without a token request', async () => {
    await expect(sut.accessToken(PLATFORM, 'nobody')).rejects.toBeInstanceOf(AtlassianOauthStateNotFoundError);
    await expect(server.tokenRequests()).resolves.toBe(0);
  });
});

describe(`${AtlassianOauthTokenService.name} while the token endpoint fails (scripted HTTP server)`, () => {
  let endpoint: ScriptedHttpServer;
  let booted: Booted | undefined;
  const good = json(200, {
    access_token: 'access-2',
    refresh_token: 'refresh-2',
    expires_in: 3600,
    token_type: 'Bearer',
  });

  beforeEach(async () => {
    endpoint = await startScriptedHttpServer();
  });
  afterEach(async () => {
    await booted?.moduleRef.close();
    booted = undefined;
    await endpoint.close();
    jest.restoreAllMocks();
  });

  async function bootWith(refreshCooldownMs: number, stored: { accessToken: string | null; expiresInMs: number }) {
    booted = await boot({
      clientId: 'client-1',
      clientSecret: 'secret-1',
      tokenUrl: endpoint.url,
      authorizeUrl: 'https://auth.example.test/authorize',
      tokenEndpointTimeoutMs: 300,
      refreshCooldownMs,
    });
    await booted.states.upsert(PLATFORM, TENANT, {
      accessToken: stored.accessToken,
      refreshToken: 'refresh-1',
      expiresAt: new Date(Date.now() + stored.expiresInMs),
    });
    return booted;
  }

  it.each([
    ['503', { status: 503 }, 'server-error'],
    ['429', { status: 429 }, 'rate-limited'],
    ['a timeout', { hang: true } as const, 'timeout'],
    ['a malformed answer', json(200, { access_token: 'a' }), 'invalid-response'],
  ] as const)(
    'after %s, calls within the cooldown reject at once without a request; the next one after it tries again',
    async (_name, answer, failure) => {
      const { sut } = await bootWith(400, { accessToken: null, expiresInMs: -1000 });
      endpoint.script(answer);

      const first = await rejection(sut.accessToken(PLATFORM, TENANT));
      const during = await Promise.all(Array.from({ length: 5 }, () => rejection(sut.accessToken(PLATFORM, TENANT))));
      const requestsDuringCooldown = endpoint.requests.length;
      await sleep(500);
      endpoint.script(good);
      const after = await sut.accessToken(PLATFORM, TENANT);

      expect(first).toBeInstanceOf(AtlassianOauthTokenEndpointError);
      expect(first).not.toBeInstanceOf(AtlassianOauthRefreshFailedError);
      expect(first).toMatchObject({ failure });
      expect(during.every((error) => error instanceof AtlassianOauthTokenEndpointError)).toBe(true);
      expect(requestsDuringCooldown).toBe(1);
      expect(after).toBe('access-2');
      expect(endpoint.requests).toHaveLength(2);
      await expect(booted?.healthRows()).resolves.toEqual([]);
    },
  );

  it("waits for the server's Retry-After when it is longer than the cooldown", async () => {
    const { sut } = await bootWith(100, { accessToken: null, expiresInMs: -1000 });
    endpoint.script({ status: 429, headers: { 'retry-after': '120' } });

    await expect(sut.accessToken(PLATFORM, TENANT)).rejects.toMatchObject({
      failure: 'rate-limited',
      retryAfterMs: 120_000,
    });
    await sleep(300);
    const later = await rejection(sut.accessToken(PLATFORM, TENANT));

    expect(later).toBeInstanceOf(AtlassianOauthTokenEndpointError);
    expect((later as AtlassianOauthTokenEndpointError).retryAfterMs).toBeGreaterThan(115_000);
    expect(endpoint.requests).toHaveLength(1);
  });

  it('uses a Retry-After shorter than the cooldown as given, and at least 1 s', async () => {
    const { sut } = await bootWith(60_000, { accessToken: null, expiresInMs: -1000 });
    endpoint.script({ status: 503, headers: { 'retry-after': '0' } });

    await expect(sut.accessToken(PLATFORM, TENANT)).rejects.toMatchObject({ failure: 'server-error' });
    await sleep(300);
    await expect(sut.accessToken(PLATFORM, TENANT)).rejects.toBeInstanceOf(AtlassianOauthTokenEndpointError);
    const duringTheSecond = endpoint.requests.length;
    await sleep(900);
    endpoint.script(good);

    await expect(sut.accessToken(PLATFORM, TENANT)).resolves.toBe('access-2');
    expect(duringTheSecond).toBe(1);
    expect(endpoint.requests).toHaveLength(2);
  });

  it('serves a stored access token that has not expired while refreshing fails, with a warning', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const { sut } = await bootWith(60_000, { accessToken: 'access-1', expiresInMs: 30_000 });
    endpoint.script({ status: 503 });

    const first = await sut.accessToken(PLATFORM, TENANT); // needs 60 s of validity: tries to refresh
    const during = await sut.accessToken(PLATFORM, TENANT);

    expect(first).toBe('access-1');
    expect(during).toBe('access-1');
    expect(endpoint.requests).toHaveLength(1);
    expect(warn).toHaveBeenCalledWith(
      expect.stringMatching(/\("jira", "acme"\) fails \(server-error\); serving the stored access token/),
    );
    expect(warn.mock.calls.flat().join('\n')).not.toContain('access-1');
  });

  it('logs that warning once per key and cooldown, then how often it repeated, however many calls are served', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const { sut, moduleRef } = await bootWith(60_000, { accessToken: 'access-1', expiresInMs: 120_000 });
    endpoint.script({ status: 503 });
    const served = (): string[] =>
      warn.mock.calls.map(([message]) => String(message)).filter((message) => message.includes('serving the stored'));

    const tokens = [];
    for (let i = 0; i < 300; i++) {
      tokens.push(await sut.accessToken(PLATFORM, TENANT, { minValidityMs: 200_000 }));
    }
    const duringCooldown = served();
    await moduleRef.close(); // a shutdown ends the window: the count is not lost
    booted = undefined;

    expect(new Set(tokens)).toEqual(new Set(['access-1']));
    expect(endpoint.requests).toHaveLength(1);
    expect(duringCooldown).toHaveLength(1);
    expect(served()).toEqual([
      duringCooldown[0],
      expect.stringMatching(/\("jira", "acme"\) fails \(server-error\); .* \(repeated 299 more times in \d+\.\d s\)$/),
    ]);
    expect(warn.mock.calls.flat().join('\n')).not.toContain('access-1');
  });

  it('refused: does not serve the refused access token while refreshing fails, though it has not expired', async () => {
    const { sut } = await bootWith(60_000, { accessToken: 'access-1', expiresInMs: 30 * 60_000 });
    endpoint.script({ status: 503 });

    await expect(sut.accessToken(PLATFORM, TENANT, { refused: 'access-1' })).rejects.toBeInstanceOf(
      AtlassianOauthTokenEndpointError,
    );
    await expect(sut.accessToken(PLATFORM, TENANT, { refused: 'access-1' })).rejects.toBeInstanceOf(
      AtlassianOauthTokenEndpointError,
    );
    await expect(sut.accessToken(PLATFORM, TENANT)).resolves.toBe('access-1');
    expect(endpoint.requests).toHaveLength(1);
  });

  it('does not serve an expired access token while refreshing fails', async () => {
    const { sut } = await bootWith(60_000, { accessToken: 'access-1', expiresInMs: -1 });
    endpoint.script({ status: 503 });

    await expect(sut.accessToken(PLATFORM, TENANT)).rejects.toBeInstanceOf(AtlassianOauthTokenEndpointError);
    await expect(sut.accessToken(PLATFORM, TENANT)).rejects.toBeInstanceOf(AtlassianOauthTokenEndpointError);
    expect(endpoint.requests).toHaveLength(1);
  });

  it('concurrent callers of one process during an outage reach the endpoint once', async () => {
    const { sut } = await bootWith(60_000, { accessToken: null, expiresInMs: -1 });
    endpoint.script({ status: 503 });

    const errors = await Promise.all(Array.from({ length: 8 }, () => rejection(sut.accessToken(PLATFORM, TENANT))));

    expect(errors.every((error) => error instanceof AtlassianOauthTokenEndpointError)).toBe(true);
    expect(endpoint.requests).toHaveLength(1);
  });
});
