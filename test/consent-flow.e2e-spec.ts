import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { Server, createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConsoleLogger, INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Page } from 'playwright-core';
import { DataSource } from 'typeorm';
import { AtlassianOauthStateRepo } from '../src/atlassian';
import { AtlassianOauthConsentStateRepo } from '../src/atlassian/consent/atlassian-oauth-consent-state.repo';
import { AtlassianOauthConsentStateEntity } from '../src/database/entities';
import { AtlassianOauthTokenService } from '../src/atlassian/tokens/atlassian-oauth-token.service';
import { HttpServerModule } from '../src/http/http-server.module';
import { TestBrowser, describeWithChromium, launchChromium, onPage } from './support/chromium';
import { testConfig } from './support/config';
import { OauthTestServer, startOauthServer } from './support/oauth-server';
import { freePort } from './support/free-port';

const INTERNAL_TOKEN = 'internal-token-for-the-consent-flow-test-0123456789';
const PLATFORM = 'jira';

/** Every line the app logged, to check that none carries a secret; prints only warnings and errors. */
class CapturingLogger extends ConsoleLogger {
  readonly lines: string[] = [];
  override log(message: unknown): void {
    this.lines.push(String(message));
  }
  override warn(message: unknown, context?: string): void {
    this.lines.push(String(message));
    super.warn(message, context);
  }
  override error(message: unknown, stack?: string, context?: string): void {
    this.lines.push(`${String(message)} ${stack ?? ''}`);
    super.error(message, stack, context);
  }
}

/** A page for the browser to land on after the consent: the caller's own application. */
async function startReturnPage(): Promise<{ server: Server; url: string }> {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html' });
    response.end('<!doctype html><title>back in the app</title><p>back in the app</p>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) {
    throw new Error('the return page has no port');
  }
  return { server, url: `http://127.0.0.1:${address.port}/settings/atlassian` };
}

describeWithChromium('the consent flow in a real browser', () => {
  let dir: string;
  let oauth: OauthTestServer;
  let returnPage: { server: Server; url: string };
  let app: INestApplication;
  let logger: CapturingLogger;
  let appUrl: string;
  let browser: TestBrowser;
  let store: AtlassianOauthStateRepo;
  let started: number;

  beforeAll(async () => {
    started = Date.now();
    dir = mkdtempSync(join(tmpdir(), 'agent-core-consent-'));
    const port = await freePort();
    appUrl = `http://127.0.0.1:${port}`;
    returnPage = await startReturnPage();
    oauth = await startOauthServer({ redirectUris: [`${appUrl}/atlassian/callback`] });
    const config = testConfig({
      DATABASE_PATH: join(dir, 'agent-core.sqlite'),
      ATLASSIAN_CLIENT_ID: oauth.clientId,
      ATLASSIAN_CLIENT_SECRET: oauth.clientSecret,
      ATLASSIAN_OAUTH_TOKEN_URL: oauth.tokenUrl,
      ATLASSIAN_OAUTH_AUTHORIZE_URL: oauth.authorizeUrl,
      PORT: String(port),
      AGENT_CORE_INTERNAL_TOKEN: INTERNAL_TOKEN,
      AGENT_CORE_PUBLIC_URL: appUrl,
      AGENT_CORE_RETURN_URLS: `https://elsewhere.example/ok,${returnPage.url}`,
    });
    logger = new CapturingLogger();
    app = await NestFactory.create(HttpServerModule.forConfig(config), { logger, abortOnError: false });
    await app.listen(config.http.port, '127.0.0.1');
    store = app.get(AtlassianOauthStateRepo);
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await oauth?.stop();
    await new Promise((resolve) => returnPage?.server.close(resolve));
    if (readdirSync(dir).some((file) => file.endsWith('.png'))) {
      process.stdout.write(`Kept ${dir}: it holds the screenshots of failed browser steps\n`);
    } else {
      rmSync(dir, { recursive: true, force: true });
    }
    process.stdout.write(`Consent flow suite (browser included) took ${Date.now() - started} ms\n`);
  });

  beforeEach(async () => {
    // A fresh sign-in at the authorization server for every consent, as a new customer would.
    await browser.context.clearCookies();
  });

  const screenshot = (name: string): string => join(dir, `${name}.png`);

  const authorize = (body: object, token: string | null = INTERNAL_TOKEN): Promise<Response> =>
    fetch(`${appUrl}/atlassian/authorizations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
      body: JSON.stringify(body),
    });

  const consentRows = (): Promise<number> =>
    app.get(DataSource).getRepository(AtlassianOauthConsentStateEntity).count();

  /** Signs in at the authorization server's development login page and consents. */
  const signInAndConsent = async (page: Page, login: string): Promise<void> => {
    await page.fill('input[name=login]', login);
    await page.fill('input[name=password]', 'any');
    await page.click('button[type=submit]');
    await page.click('button:has-text("Continue")');
  };

  const expectNoSecretLogged = (secrets: readonly (string | null | undefined)[]): void => {
    for (const secret of [...secrets, oauth.clientSecret, INTERNAL_TOKEN]) {
      expect(secret).toBeTruthy();
      for (const line of logger.lines) {
        expect(line).not.toContain(secret);
      }
    }
  };

  const startConsent = async (tenantId: string): Promise<URL> => {
    const response = await authorize({
      platform: PLATFORM,
      tenantId,
      scopes: ['read:jira-work'],
      returnTo: returnPage.url,
    });
    expect(response.status).toBe(201);
    const { url } = (await response.json()) as { url: string };
    return new URL(url);
  };

  it('connects a tenant: sign in, consent, back on returnTo with status=connected, real tokens stored', async () => {
    const url = await startConsent('tenant-connected');
    expect(url.origin + url.pathname).toBe(oauth.authorizeUrl);
    expect(url.searchParams.get('redirect_uri')).toBe(`${appUrl}/atlassian/callback`);
    expect(url.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(url.searchParams.get('scope')).toBe('read:jira-work offline_access');

    let callback: URL | undefined;
    await onPage(browser, screenshot('connected'), async (page) => {
      page.on('request', (request) => {
        if (request.url().startsWith(`${appUrl}/atlassian/callback`)) {
          callback = new URL(request.url());
        }
      });
      await page.goto(url.href);
      await signInAndConsent(page, 'customer-1');
      await page.waitForURL(`${returnPage.url}?status=connected`);
      await expect(page.textContent('p')).resolves.toBe('back in the app');
    });

    const stored = await store.get(PLATFORM, 'tenant-connected');
    expect(stored).toMatchObject({ accessToken: expect.any(String), refreshToken: expect.any(String) });
    expect(stored!.expiresAt!.getTime()).toBeGreaterThan(Date.now());
    // The server's own tokens: it accepts the stored refresh token (a forced refresh through the
    // token service, counted in the metrics served over HTTP).
    const refreshed = await app
      .get(AtlassianOauthTokenService)
      .accessToken(PLATFORM, 'tenant-connected', { minValidityMs: 7_200_000 });
    expect(refreshed).not.toBe(stored!.accessToken);
    await expect(oauth.stats()).resolves.toMatchObject({ issued: { authorizationCode: 1, refreshToken: 1 } });
    const metrics = await (await fetch(`${appUrl}/metrics`)).text();
    expect(metrics).toContain('agent_core_atlassian_refreshes_total{outcome="refreshed"} 1');
    expect(metrics).not.toContain('tenant-connected');
    await expect(consentRows()).resolves.toBe(0);
    expect(logger.lines).toContain('Consent for ("jira", "tenant-connected") connected');
    expectNoSecretLogged([
      callback?.searchParams.get('code'),
      url.searchParams.get('state'),
      stored!.accessToken,
      stored!.refreshToken,
    ]);
  });

  it('refuses a reused state with 400: the same callback again exchanges and stores nothing', async () => {
    const url = await startConsent('tenant-reused');
    let callback: string | undefined;
    await onPage(browser, screenshot('reused'), async (page) => {
      page.on('request', (request) => {
        if (request.url().startsWith(`${appUrl}/atlassian/callback`)) {
          callback = request.url();
        }
      });
      await page.goto(url.href);
      await signInAndConsent(page, 'customer-2');
      await page.waitForURL(`${returnPage.url}?status=connected`);

      const stored = await store.get(PLATFORM, 'tenant-reused');
      const requestsBefore = await oauth.tokenRequests();
      // The browser's back button, or anyone replaying the callback URL.
      const replay = await page.goto(callback!);
      expect(replay?.status()).toBe(400);
      await expect(page.textContent('body')).resolves.toContain('not valid or was already used');
      await expect(oauth.tokenRequests()).resolves.toBe(requestsBefore);
      await expect(store.get(PLATFORM, 'tenant-reused')).resolves.toEqual(stored);
    });
    expect(logger.lines).toContain('Consent callback refused: unknown, reused or missing state');
  });

  it('redirects with status=error&reason=invalid_grant when the token endpoint refuses the code', async () => {
    const url = await startConsent('tenant-bad-code');
    const callback = new URL(`${appUrl}/atlassian/callback`);
    callback.searchParams.set('state', url.searchParams.get('state')!);
    callback.searchParams.set('code', 'a-code-the-server-never-issued');
    const requestsBefore = await oauth.tokenRequests();

    const response = await fetch(callback, { redirect: 'manual' });

    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe(`${returnPage.url}?status=error&reason=invalid_grant`);
    await expect(oauth.tokenRequests()).resolves.toBe(requestsBefore + 1);
    await expect(store.get(PLATFORM, 'tenant-bad-code')).resolves.toBeNull();
    expect(logger.lines).toContain(
      'Consent for ("jira", "tenant-bad-code") failed: invalid_grant (AtlassianOauthGrantRevokedError)',
    );
  });

  it('sends a declined consent back with status=error&reason=access_denied and stores nothing', async () => {
    const url = await startConsent('tenant-declined');

    await onPage(browser, screenshot('declined'), async (page) => {
      await page.goto(url.href);
      await page.click('text=[ Cancel ]');
      await page.waitForURL(`${returnPage.url}?status=error&reason=access_denied`);
    });

    await expect(store.get(PLATFORM, 'tenant-declined')).resolves.toBeNull();
    expect(logger.lines).toContain('Consent for ("jira", "tenant-declined") not given: access_denied');
  });

  it('refuses a tampered state with 400 and exchanges nothing', async () => {
    const url = await startConsent('tenant-tampered');
    const state = url.searchParams.get('state')!;
    url.searchParams.set('state', `${state.slice(0, -1)}${state.endsWith('A') ? 'B' : 'A'}`);
    const requestsBefore = await oauth.tokenRequests();

    await onPage(browser, screenshot('tampered'), async (page) => {
      const landed = page.waitForResponse((response) => response.url().startsWith(`${appUrl}/atlassian/callback`));
      await page.goto(url.href);
      await signInAndConsent(page, 'customer-4');
      const response = await landed;
      expect(response.status()).toBe(400);
      await expect(page.textContent('body')).resolves.toContain('not valid or was already used');
    });

    await expect(store.get(PLATFORM, 'tenant-tampered')).resolves.toBeNull();
    await expect(oauth.tokenRequests()).resolves.toBe(requestsBefore);
  });

  describe('POST /atlassian/authorizations', () => {
    it.each([
      ['not on the list', (url: string) => url.replace('/settings/atlassian', '/settings/elsewhere')],
      ['on another origin', () => 'https://attacker.example/settings/atlassian'],
      ['on the same path of another port', (url: string) => url.replace(/:\d+\//, ':1/')],
      ['a path prefix of an allowed one', (url: string) => url.replace('/settings/atlassian', '/settings')],
      ['not a URL', () => 'settings/atlassian'],
    ])('refuses a returnTo %s with 400 naming returnTo, storing no state', async (_name, returnTo) => {
      const before = await consentRows();
      const response = await authorize({
        platform: PLATFORM,
        tenantId: 'tenant-x',
        scopes: ['read:jira-work'],
        returnTo: returnTo(returnPage.url),
      });

      expect(response.status).toBe(400);
      await expect(response.json()).resolves.toMatchObject({ message: expect.stringContaining('returnTo') });
      await expect(consentRows()).resolves.toBe(before);
    });

    it('keeps the query of an allowed returnTo and drops its fragment', async () => {
      const response = await authorize({
        platform: PLATFORM,
        tenantId: 'tenant-query',
        scopes: ['read:jira-work'],
        returnTo: `${returnPage.url}?tab=integrations#top`,
      });
      expect(response.status).toBe(201);
      const { url } = (await response.json()) as { url: string };

      const consumed = await app
        .get(AtlassianOauthConsentStateRepo, { strict: false })
        .consume(new URL(url).searchParams.get('state')!);
      expect(consumed).toEqual({
        outcome: 'consumed',
        consent: { platform: PLATFORM, tenantId: 'tenant-query', returnTo: `${returnPage.url}?tab=integrations` },
      });
    });

    it.each([
      ['platform', { platform: ' ' }],
      ['tenantId', { tenantId: 42 }],
      ['scopes', { scopes: [] }],
      ['scopes', { scopes: ['read jira'] }],
      ['scopes', { scopes: ['read:jira-work\u0007'] }],
      ['scopes', { scopes: Array.from({ length: 300 }, (_, i) => `${i}`.padStart(255, 'x')) }],
      ['tenantId', { tenantId: 'tenant-\u202eevil' }],
      ['returnTo', { returnTo: undefined }],
    ])('refuses a bad %s with 400 naming it in a sentence', async (field, change) => {
      const response = await authorize({
        platform: PLATFORM,
        tenantId: 'tenant-x',
        scopes: ['read:jira-work'],
        returnTo: returnPage.url,
        ...change,
      });

      expect(response.status).toBe(400);
      await expect(response.json()).resolves.toMatchObject({
        field,
        message: expect.stringMatching(new RegExp(`^Cannot start the consent: ${field} must .+\\.$`)),
      });
    });

    it.each([
      ['no bearer token', null],
      ['a wrong bearer token', `${INTERNAL_TOKEN.slice(0, -1)}x`],
      ['an empty bearer token', ''],
    ])('refuses %s with 401', async (_name, token) => {
      const response = await authorize(
        { platform: PLATFORM, tenantId: 'tenant-x', scopes: ['read:jira-work'], returnTo: returnPage.url },
        token,
      );

      expect(response.status).toBe(401);
    });
  });
});
