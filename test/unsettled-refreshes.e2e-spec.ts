import { setTimeout as sleep } from 'node:timers/promises';
import { Test, TestingModule } from '@nestjs/testing';
import { getDataSourceToken } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import {
  AtlassianOauthRefreshLeaseEntity,
  AtlassianOauthStateEntity,
  AtlassianOauthStateRepo,
  AtlassianOauthTokenService,
  AtlassianOauthTokensModule,
} from '../src/atlassian';
import { ATLASSIAN_OAUTH_SETTINGS } from '../src/atlassian/client/atlassian-oauth-client.options';
import { ATLASSIAN_OAUTH_TOKEN_OPTIONS } from '../src/atlassian/tokens/atlassian-oauth-token.service';
import { DatabaseModule } from '../src/database/database.module';
import { OauthTestServer, startOauthServer } from './support/oauth-server';
import { TokenProxy, startTokenProxy } from './support/token-proxy';

const PLATFORM = 'jira';
const COOLDOWN_MS = 1_000;
const CLIENT_TIMEOUT_MS = 500;
/** Atlassian's grace window for a rotated-past refresh token, emulated by the proxy (the test server has none). */
const GRACE_MS = 600_000;

describe('refreshes whose outcome is unknown are settled by the process on its own, within the grace window', () => {
  let server: OauthTestServer;
  let proxy: TokenProxy;
  let moduleRef: TestingModule | undefined;

  const boot = async (lapsedLeaseCheckMs = 0) => {
    moduleRef = await Test.createTestingModule({ imports: [DatabaseModule, AtlassianOauthTokensModule] })
      .overrideProvider(ATLASSIAN_OAUTH_SETTINGS)
      .useValue({ ...server.settings, tokenUrl: proxy.tokenUrl, tokenEndpointTimeoutMs: CLIENT_TIMEOUT_MS })
      .overrideProvider(ATLASSIAN_OAUTH_TOKEN_OPTIONS)
      .useValue({ refreshCooldownMs: COOLDOWN_MS, lapsedLeaseCheckMs })
      .compile();
    await moduleRef.init();
    const dataSource = moduleRef.get<DataSource>(getDataSourceToken());
    return {
      tokens: moduleRef.get(AtlassianOauthTokenService),
      states: moduleRef.get(AtlassianOauthStateRepo),
      leaseRows: dataSource.getRepository(AtlassianOauthRefreshLeaseEntity),
    };
  };

  /** Waits (without calling accessToken) until the stored refresh token is no longer `old`. */
  const settled = async (states: AtlassianOauthStateRepo, tenantId: string, old: string) => {
    let state: AtlassianOauthStateEntity | null = null;
    for (let i = 0; i < 100; i++) {
      state = await states.get(PLATFORM, tenantId);
      if (state && state.refreshToken !== old) {
        return state;
      }
      await sleep(100);
    }
    return state;
  };

  beforeAll(async () => {
    server = await startOauthServer();
  });
  afterAll(async () => {
    await server.stop();
  });
  beforeEach(async () => {
    proxy = await startTokenProxy(server.tokenUrl);
    proxy.graceMs = GRACE_MS;
  });
  afterEach(async () => {
    await moduleRef?.close();
    moduleRef = undefined;
    await proxy.close();
  });

  it('an answer held back past the client timeout, then released: the key is settled after the cooldown without any call', async () => {
    const { tokens, states } = await boot();
    const grant = await server.connectedGrant();
    await states.upsert(PLATFORM, 'held', { ...grant, expiresAt: new Date(Date.now() - 1_000) });
    await server.resetStats();
    proxy.nextRefresh('hold');

    const seen = await tokens.accessToken(PLATFORM, 'held').then(
      () => 'a token',
      (error: unknown) =>
        error instanceof Error ? `${error.name} (${(error as { failure?: string }).failure})` : 'error',
    );
    await sleep(100);
    proxy.release(); // The server rotated; its answer reaches a socket the client has closed.
    const unsettled = tokens.unsettledCount;
    const stored = await settled(states, 'held', grant.refreshToken);
    for (let i = 0; i < 50 && tokens.unsettledCount > 0; i++) {
      await sleep(100); // The settling refresh finishes (health cleared) just after the pair is stored.
    }
    const afterSettle = await server.stats();
    const forced = await tokens.accessToken(PLATFORM, 'held', { minValidityMs: Infinity });
    const stats = await server.stats();

    console.log(
      `[unsettled] answer held past the ${CLIENT_TIMEOUT_MS} ms client timeout, then released: the caller saw ${seen}; ` +
        `settled without a call: ${stored?.refreshToken !== grant.refreshToken} (${proxy.graceAnswers} answer(s) from the emulated grace window); ` +
        `server: ${stats.issued.refreshToken} refreshes, ${stats.refreshTokenReuses} reuses, ${stats.grantsRevoked} revoked; grant works afterwards: ${typeof forced === 'string'}`,
    );
    expect(seen).toBe('AtlassianOauthTokenEndpointError (timeout)');
    expect(unsettled).toBe(1);
    expect(stored?.refreshToken).not.toBe(grant.refreshToken);
    expect(proxy.graceAnswers).toBe(1);
    expect(afterSettle.issued.refreshToken).toBe(1);
    expect(tokens.unsettledCount).toBe(0);
    expect(forced).not.toBe(stored?.accessToken);
    expect(stats).toMatchObject({ refreshTokenReuses: 0, grantsRevoked: 0, issued: { refreshToken: 2 } });
  });

  it('a lease that lapsed without being released (its holder died after its refresh was answered): settled without any call', async () => {
    const { tokens, states, leaseRows } = await boot(200);
    const grant = await server.connectedGrant();
    await states.upsert(PLATFORM, 'orphaned', { ...grant, expiresAt: new Date(Date.now() + 30 * 60_000) });
    // The dead holder: it took the lease, its refresh was answered (the server rotated), and it died.
    await leaseRows.insert({
      platform: PLATFORM,
      tenantId: 'orphaned',
      holder: 'dead-host:1:x',
      expiresAt: new Date(Date.now() - 1),
    });
    const answered = await fetch(proxy.tokenUrl, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: grant.refreshToken,
        client_id: server.clientId,
        client_secret: server.clientSecret,
      }),
    });
    expect(answered.status).toBe(200);
    await server.resetStats();

    const stored = await settled(states, 'orphaned', grant.refreshToken);
    const forced = await tokens.accessToken(PLATFORM, 'orphaned', { minValidityMs: Infinity });
    const stats = await server.stats();

    console.log(
      `[unsettled] lapsed lease of a holder that died after its refresh was answered: settled without a call: ${stored?.refreshToken !== grant.refreshToken}; ` +
        `lease rows left: ${await leaseRows.count()}; server: ${stats.issued.refreshToken} refreshes, ${stats.refreshTokenReuses} reuses; grant works afterwards: ${typeof forced === 'string'}`,
    );
    expect(stored?.refreshToken).not.toBe(grant.refreshToken);
    await expect(leaseRows.count()).resolves.toBe(0);
    expect(stats).toMatchObject({ refreshTokenReuses: 0, grantsRevoked: 0, issued: { refreshToken: 1 } });
  });
});
