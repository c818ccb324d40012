import { Test, TestingModule } from '@nestjs/testing';
import {
  AtlassianOauthClient,
  AtlassianOauthClientConfigError,
  AtlassianOauthClientModule,
  AtlassianOauthGrantRevokedError,
  AtlassianOauthTokenEndpointError,
} from '../src/atlassian';
import { ATLASSIAN_OAUTH_SETTINGS } from '../src/atlassian/client/atlassian-oauth-client.options';
import { AtlassianConfig } from '../src/config/atlassian.config';
import { OauthTestServer, startOauthServer } from './support/oauth-server';
import { atlassianSettings } from './support/config';
import { rejection } from './support/rejection';
import { ScriptedHttpServer, json, startScriptedHttpServer } from './support/scripted-http-server';

/** Boots the client's module with these settings, as a service that calls Atlassian would. */
async function bootClient(
  settings: Partial<AtlassianConfig>,
): Promise<{ sut: AtlassianOauthClient; moduleRef: TestingModule }> {
  const moduleRef = await Test.createTestingModule({ imports: [AtlassianOauthClientModule] })
    .overrideProvider(ATLASSIAN_OAUTH_SETTINGS)
    .useValue(atlassianSettings(settings))
    .compile();
  return { sut: moduleRef.get(AtlassianOauthClient), moduleRef };
}

/** Everything an error exposes: a secret must appear in none of it. */
function everythingIn(error: unknown): string {
  const own =
    error instanceof Error
      ? Object.getOwnPropertyNames(error).map((name) => (error as unknown as Record<string, unknown>)[name])
      : [];
  return [String(error), JSON.stringify(error), ...own.map((value) => String(value))].join('\n');
}

describe(`${AtlassianOauthClient.name} against a real OAuth server (oidc-provider)`, () => {
  let server: OauthTestServer;
  let moduleRef: TestingModule;
  let sut: AtlassianOauthClient;

  beforeAll(async () => {
    server = await startOauthServer();
  });
  afterAll(async () => {
    await server.stop();
  });
  beforeEach(async () => {
    ({ sut, moduleRef } = await bootClient(server.settings));
    await server.resetStats();
  });
  afterEach(async () => {
    await moduleRef.close();
  });

  it('exchanges a code for the server-issued tokens, then refreshes with the rotated refresh token', async () => {
    const { code } = await server.mintGrant();
    const before = Date.now();

    const connected = await sut.exchangeCode(code, server.redirectUri);
    const refreshed = await sut.refresh(connected.refreshToken);

    expect(connected.accessToken).toMatch(/^\S{20,}$/);
    expect(connected.refreshToken).toMatch(/^\S{20,}$/);
    expect(connected.expiresAt.getTime()).toBeGreaterThanOrEqual(before + 3600_000);
    expect(connected.expiresAt.getTime()).toBeLessThanOrEqual(Date.now() + 3600_000);
    expect(refreshed.refreshToken).not.toBe(connected.refreshToken);
    expect(refreshed.accessToken).not.toBe(connected.accessToken);
    await expect(server.stats()).resolves.toMatchObject({
      tokenRequests: 2,
      issued: { authorizationCode: 1, refreshToken: 1 },
      refreshTokenReuses: 0,
    });
  });

  it('rejects a reused (rotated) refresh token with AtlassianOauthGrantRevokedError: the server revoked the grant', async () => {
    const first = await server.connectedGrant();
    const second = await sut.refresh(first.refreshToken);

    const reused = await rejection(sut.refresh(first.refreshToken));
    const afterReuse = await rejection(sut.refresh(second.refreshToken));

    expect(reused).toBeInstanceOf(AtlassianOauthGrantRevokedError);
    expect(afterReuse).toBeInstanceOf(AtlassianOauthGrantRevokedError);
    expect((reused as AtlassianOauthGrantRevokedError).grantType).toBe('refresh_token');
    expect(everythingIn(reused)).not.toContain(first.refreshToken);
    await expect(server.stats()).resolves.toMatchObject({ refreshTokenReuses: 1, grantsRevoked: 1 });
  });

  it('rejects a refresh of a grant revoked on the server with AtlassianOauthGrantRevokedError', async () => {
    const tokens = await server.connectedGrant();
    await server.revokeGrant(tokens.grantId);

    const error = await rejection(sut.refresh(tokens.refreshToken));

    expect(error).toBeInstanceOf(AtlassianOauthGrantRevokedError);
    expect((error as Error).message).toMatch(/revoked or the refresh token expired.*connect again/);
    expect(everythingIn(error)).not.toContain(tokens.refreshToken);
  });

  it('rejects a used, unknown or mis-redirected code with AtlassianOauthGrantRevokedError, never quoting it', async () => {
    const { code } = await server.mintGrant();
    await sut.exchangeCode(code, server.redirectUri);
    const { code: other } = await server.mintGrant();

    const used = await rejection(sut.exchangeCode(code, server.redirectUri));
    const misdirected = await rejection(sut.exchangeCode(other, 'http://127.0.0.1:9/elsewhere'));

    expect(used).toBeInstanceOf(AtlassianOauthGrantRevokedError);
    expect(misdirected).toBeInstanceOf(AtlassianOauthGrantRevokedError);
    expect((used as AtlassianOauthGrantRevokedError).grantType).toBe('authorization_code');
    expect(everythingIn(used)).not.toContain(code);
    expect(everythingIn(misdirected)).not.toContain(other);
  });

  it('rejects with AtlassianOauthClientConfigError when the server refuses the client secret, never quoting it', async () => {
    const tokens = await server.connectedGrant();
    const wrongSecret = 'not-the-secret-of-this-client';
    const { sut: misconfigured, moduleRef: other } = await bootClient({
      clientId: server.clientId,
      clientSecret: wrongSecret,
      tokenUrl: server.tokenUrl,
      authorizeUrl: server.authorizeUrl,
    });
    try {
      const error = await rejection(misconfigured.refresh(tokens.refreshToken));

      expect(error).toBeInstanceOf(AtlassianOauthClientConfigError);
      expect((error as Error).message).toMatch(/ATLASSIAN_CLIENT_ID and ATLASSIAN_CLIENT_SECRET/);
      expect(everythingIn(error)).not.toContain(wrongSecret);
      expect(everythingIn(error)).not.toContain(tokens.refreshToken);
    } finally {
      await other.close();
    }
  });
});

describe(`${AtlassianOauthClient.name} against a scripted HTTP server`, () => {
  let endpoint: ScriptedHttpServer;
  let moduleRef: TestingModule;
  let sut: AtlassianOauthClient;
  const secret = 'client-secret-that-must-not-leak';
  const refreshToken = 'refresh-token-that-must-not-leak';
  const bodySecret = 'response-body-text-that-must-not-leak';

  beforeEach(async () => {
    endpoint = await startScriptedHttpServer();
    ({ sut, moduleRef } = await bootClient({
      clientId: 'client-1',
      clientSecret: secret,
      tokenUrl: endpoint.url,
      authorizeUrl: 'https://auth.example.test/authorize',
      tokenEndpointTimeoutMs: 300,
    }));
  });
  afterEach(async () => {
    await moduleRef.close();
    await endpoint.close();
  });

  it('sends a form-encoded refresh with client_id and client_secret in the body (client_secret_post)', async () => {
    endpoint.script(json(200, { access_token: 'a1', refresh_token: 'r2', expires_in: 3600, token_type: 'Bearer' }));

    await expect(sut.refresh(refreshToken)).resolves.toMatchObject({ accessToken: 'a1', refreshToken: 'r2' });

    const [request] = endpoint.requests;
    expect(request?.method).toBe('POST');
    expect(request?.headers['content-type']).toMatch(/^application\/x-www-form-urlencoded/);
    expect(request?.headers.authorization).toBeUndefined();
    expect(Object.fromEntries(new URLSearchParams(request?.body))).toEqual({
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      client_id: 'client-1',
      client_secret: secret,
    });
  });

  it.each([
    [
      '503 with Retry-After in seconds',
      { status: 503, headers: { 'retry-after': '7' }, body: bodySecret },
      'server-error',
      503,
      7000,
    ],
    ['503 without Retry-After', { status: 503, body: bodySecret }, 'server-error', 503, null],
    [
      '429 with Retry-After in seconds',
      json(429, { error: bodySecret }, { 'retry-after': '120' }),
      'rate-limited',
      429,
      120_000,
    ],
  ] as const)(
    'rejects %s with AtlassianOauthTokenEndpointError and its retryAfterMs',
    async (_name, answer, failure, status, retryAfter) => {
      endpoint.script(answer);

      const error = await rejection(sut.refresh(refreshToken));

      expect(error).toBeInstanceOf(AtlassianOauthTokenEndpointError);
      expect(error).toMatchObject({ failure, status, retryAfterMs: retryAfter, grantType: 'refresh_token' });
      expect(everythingIn(error)).not.toContain(bodySecret);
      expect(everythingIn(error)).not.toContain(refreshToken);
    },
  );

  it('reads a Retry-After HTTP date as the time left until it', async () => {
    const at = new Date(Date.now() + 60_000).toUTCString();
    endpoint.script({ status: 429, headers: { 'retry-after': at } });

    const error = await rejection(sut.refresh(refreshToken));

    expect(error).toBeInstanceOf(AtlassianOauthTokenEndpointError);
    const { retryAfterMs } = error as AtlassianOauthTokenEndpointError;
    expect(retryAfterMs).toBeGreaterThan(55_000);
    expect(retryAfterMs).toBeLessThanOrEqual(60_000);
  });

  it('rejects with a timeout when the endpoint does not answer in time', async () => {
    endpoint.script({ hang: true });

    const error = await rejection(sut.refresh(refreshToken));

    expect(error).toBeInstanceOf(AtlassianOauthTokenEndpointError);
    expect(error).toMatchObject({ failure: 'timeout', status: null, retryAfterMs: null });
  });

  it('rejects with a network failure when the connection drops or is refused', async () => {
    endpoint.script({ drop: true });
    const dropped = await rejection(sut.refresh(refreshToken));
    await endpoint.close();
    const refused = await rejection(sut.refresh(refreshToken));
    endpoint = await startScriptedHttpServer(); // for afterEach

    expect(dropped).toMatchObject({ name: 'AtlassianOauthTokenEndpointError', failure: 'network', status: null });
    expect(refused).toMatchObject({ name: 'AtlassianOauthTokenEndpointError', failure: 'network', status: null });
  });

  const valid = { access_token: 'a1', refresh_token: 'r2', expires_in: 3600, token_type: 'Bearer' };
  it.each([
    [
      'a body that is not JSON',
      { status: 200, headers: { 'content-type': 'text/html' }, body: `<p>${bodySecret}</p>` },
    ],
    ['JSON that is not an object', json(200, [bodySecret])],
    ['no refresh_token', json(200, { ...valid, refresh_token: undefined, scope: bodySecret })],
    ['an empty refresh_token', json(200, { ...valid, refresh_token: '' })],
    ['an empty access_token', json(200, { ...valid, access_token: '', scope: bodySecret })],
    ['no expires_in', json(200, { ...valid, expires_in: undefined })],
    ['expires_in 0', json(200, { ...valid, expires_in: 0 })],
    ['a negative expires_in', json(200, { ...valid, expires_in: -5 })],
    ['expires_in not a number', json(200, { ...valid, expires_in: bodySecret })],
    ['access_token not a string', json(200, { ...valid, access_token: 42 })],
    ['no token_type', json(200, { ...valid, token_type: undefined })],
    ['a redirect', { status: 302, headers: { location: 'https://example.test/' } }],
  ] as const)('rejects %s as an invalid response, never quoting the body', async (_name, answer) => {
    endpoint.script(answer);

    const error = await rejection(sut.refresh(refreshToken));

    expect(error).toBeInstanceOf(AtlassianOauthTokenEndpointError);
    expect((error as AtlassianOauthTokenEndpointError).failure).toMatch(/^(invalid-response|rejected)$/);
    expect(everythingIn(error)).not.toContain(bodySecret);
    expect(everythingIn(error)).not.toContain(refreshToken);
  });

  it.each([
    [
      '400 invalid_grant',
      json(400, { error: 'invalid_grant', error_description: bodySecret }),
      AtlassianOauthGrantRevokedError,
    ],
    [
      "403 invalid_grant (Atlassian's answer to a dead refresh token)",
      json(403, { error: 'invalid_grant', error_description: bodySecret }),
      AtlassianOauthGrantRevokedError,
    ],
    [
      '401 invalid_client',
      json(401, { error: 'invalid_client', error_description: bodySecret }),
      AtlassianOauthClientConfigError,
    ],
    [
      '400 unauthorized_client',
      json(400, { error: 'unauthorized_client', error_description: bodySecret }),
      AtlassianOauthClientConfigError,
    ],
    ['401 without a body', { status: 401 }, AtlassianOauthClientConfigError],
    [
      '400 invalid_request',
      json(400, { error: 'invalid_request', error_description: bodySecret }),
      AtlassianOauthTokenEndpointError,
    ],
  ] as const)('maps %s to its error class, never quoting the body', async (_name, answer, errorClass) => {
    endpoint.script(answer);

    const error = await rejection(sut.refresh(refreshToken));

    expect(error).toBeInstanceOf(errorClass);
    expect(everythingIn(error)).not.toContain(bodySecret);
    expect(everythingIn(error)).not.toContain(refreshToken);
    expect(everythingIn(error)).not.toContain(secret);
  });

  // Finding 5 of issue #24: a 64 MB answer raised peak memory by 190 MB.
  it.each([
    ['with its Content-Length', {}],
    ['streamed without a Content-Length (chunked)', { 'transfer-encoding': 'chunked' }],
  ])('refuses an answer over 256 KiB %s as too-large, never quoting it', async (_name, headers) => {
    const padding = `${bodySecret}${'x'.repeat(256 * 1024)}`;
    endpoint.script({
      status: 200,
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ ...valid, padding }),
    });

    const error = await rejection(sut.refresh(refreshToken));

    expect(error).toBeInstanceOf(AtlassianOauthTokenEndpointError);
    expect(error).toMatchObject({ failure: 'too-large', status: 200 });
    expect((error as Error).message).toContain('larger than 256 KiB');
    expect(everythingIn(error)).not.toContain(bodySecret);
  });

  it('accepts an answer just under 256 KiB', async () => {
    endpoint.script(json(200, { ...valid, padding: 'x'.repeat(250 * 1024) }));

    await expect(sut.refresh(refreshToken)).resolves.toMatchObject({ accessToken: 'a1', refreshToken: 'r2' });
  });

  it('names the OAuth error code of a rejected request, but nothing else of the body', async () => {
    endpoint.script(json(400, { error: 'invalid_scope', error_description: bodySecret }));

    const error = await rejection(sut.refresh(refreshToken));

    expect(error).toMatchObject({ failure: 'rejected', status: 400, oauthError: 'invalid_scope' });
    expect((error as Error).message).toContain('invalid_scope');
  });

  it('checks its input before sending anything', async () => {
    await expect(sut.refresh('')).rejects.toMatchObject({
      name: 'AtlassianOauthStateValidationError',
      field: 'refreshToken',
    });
    await expect(sut.exchangeCode('', 'https://app.example.test/cb')).rejects.toMatchObject({ field: 'code' });
    await expect(sut.exchangeCode('code-1', 'not a url')).rejects.toMatchObject({ field: 'redirectUri' });
    expect(endpoint.requests).toHaveLength(0);
  });
});

describe(`${AtlassianOauthClientModule.name} at boot`, () => {
  const base = {
    tokenUrl: 'https://auth.atlassian.com/oauth/token',
    authorizeUrl: 'https://auth.atlassian.com/authorize',
  };

  it.each([
    ['ATLASSIAN_CLIENT_ID', { ...base, clientSecret: 'secret-value-1' }],
    ['ATLASSIAN_CLIENT_SECRET', { ...base, clientId: 'client-1' }],
    ['ATLASSIAN_CLIENT_SECRET', { ...base, clientId: 'client-1', clientSecret: '  ' }],
  ] as const)('refuses to boot naming %s', async (variable, settings) => {
    const error = await rejection(bootClient(settings));

    expect(error).toBeInstanceOf(AtlassianOauthClientConfigError);
    expect(error).toMatchObject({ variable });
    expect((error as Error).message).toContain(variable);
    expect(everythingIn(error)).not.toContain('secret-value-1');
  });
});
