import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { Server, createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConsoleLogger, INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { APIResponse, Page } from 'playwright-core';
import { DataSource } from 'typeorm';
import { AtlassianOauthStateRepo, AtlassianSiteRepo } from '../src/atlassian';
import { AtlassianOauthConsentStateEntity } from '../src/database/entities';
import { AtlassianOauthTokenService } from '../src/atlassian/tokens/atlassian-oauth-token.service';
import { HttpServerModule } from '../src/http/http-server.module';
import { BROWSER_STEP_TIMEOUT_MS, TestBrowser, describeWithChromium, launchChromium, onPage } from './support/chromium';
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

/** What a browser gets from a start link: the redirect to the authorization server and the consent cookie. */
interface OpenedStartLink {
  readonly authorization: URL;
  readonly state: string;
  /** `name=value`, as the browser sends it back. */
  readonly cookie: string;
  /** The whole `Set-Cookie` header. */
  readonly setCookie: string;
}

describeWithChromium('the consent flow in a real browser', () => {
  // Chromium on a loaded 2-core CI machine has hung once in a while (jest's 60 s limit with no browser
  // step timing out): a test is run once more then, its first error printed. A real failure fails twice.
  jest.retryTimes(1, { logErrorsBeforeRetry: true });
  let dir: string;
  let oauth: OauthTestServer;
  let returnPage: { server: Server; url: string };
  let app: INestApplication;
  let logger: CapturingLogger;
  let appUrl: string;
  let browser: TestBrowser;
  /** Another browser (another profile, another Chromium): another customer, or an attacker. */
  let otherBrowser: TestBrowser;
  let store: AtlassianOauthStateRepo;
  let started: number;

  beforeAll(async () => {
    started = Date.now();
    dir = mkdtempSync(join(tmpdir(), 'agent-core-consent-'));
    const port = await freePort();
    appUrl = `http://127.0.0.1:${port}`;
    returnPage = await startReturnPage();
    // The test server requires PKCE, as ATLASSIAN_OAUTH_PKCE=true expects.
    oauth = await startOauthServer({ redirectUris: [`${appUrl}/atlassian/callback`], requirePkce: true });
    const config = testConfig({
      DATABASE_PATH: join(dir, 'agent-core.sqlite'),
      ...oauth.env,
      ATLASSIAN_OAUTH_PKCE: 'true',
      PORT: String(port),
      AGENT_CORE_INTERNAL_TOKEN: INTERNAL_TOKEN,
      AGENT_CORE_PUBLIC_URL: appUrl,
      AGENT_CORE_RETURN_URLS: `https://elsewhere.example/ok,${returnPage.url}`,
    });
    logger = new CapturingLogger();
    app = await NestFactory.create(HttpServerModule.forConfig(config), { logger, abortOnError: false });
    await app.listen(config.http.port, '127.0.0.1');
    store = app.get(AtlassianOauthStateRepo);
    [browser, otherBrowser] = await Promise.all([launchChromium(), launchChromium()]);
  });

  afterAll(async () => {
    await browser?.close();
    await otherBrowser?.close();
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
    await otherBrowser.context.clearCookies();
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

  /** POST /atlassian/authorizations for the tenant: the start link it answers. */
  const startConsent = async (tenantId: string, returnTo = returnPage.url): Promise<URL> => {
    const response = await authorize({ platform: PLATFORM, tenantId, scopes: ['read:jira-work'], returnTo });
    expect(response.status).toBe(201);
    const { url } = (await response.json()) as { url: string };
    return new URL(url);
  };

  /** Opens a start link without a browser, as a client that keeps cookies would. */
  const openStartLink = async (start: URL): Promise<OpenedStartLink> => {
    const response = await fetch(start, { redirect: 'manual' });
    expect(response.status).toBe(303);
    const authorization = new URL(response.headers.get('location')!);
    const setCookie = response.headers.get('set-cookie')!;
    return {
      authorization,
      state: authorization.searchParams.get('state')!,
      cookie: setCookie.split(';')[0]!,
      setCookie,
    };
  };

  const callbackUrl = (params: Record<string, string>): string =>
    `${appUrl}/atlassian/callback?${new URLSearchParams(params).toString()}`;

  /**
   * Runs a consent in `on` up to Atlassian's redirect back, and stops it there: the callback URL
   * (with its code) that the browser was about to open.
   */
  const consentUpToCallback = async (on: TestBrowser, start: URL, login: string, name: string): Promise<string> => {
    let callback: string | undefined;
    await onPage(on, screenshot(name), async (page) => {
      /** Where the interaction went last: what a failure below reports (paths only, never a code). */
      const seen: string[] = [];
      let stop = (): void => undefined;
      let fail = (_error: Error): void => undefined;
      const stopped = new Promise<void>((resolve, reject) => {
        stop = resolve;
        fail = reject;
      });
      stopped.catch(() => undefined); // awaited below; a failure during the first page load is not "unhandled"
      const deadline = setTimeout(
        () =>
          fail(
            new Error(`no redirect to the callback within ${BROWSER_STEP_TIMEOUT_MS} ms; seen: ${seen.join(' -> ')}`),
          ),
        BROWSER_STEP_TIMEOUT_MS,
      );
      // The form posts of the login and consent pages: their redirects are followed here (with the
      // context's cookies) up to the first one that leaves the authorization server's internals, and
      // a redirect to the callback is answered with a blank page instead of followed. (Playwright
      // routes no redirected request, so the callback itself cannot be intercepted.) A handler that
      // throws would leave the page waiting for ever: its error fails the step instead.
      await page.route(`${oauth.issuer}/interaction/**`, async (route) => {
        try {
          if (route.request().method() !== 'POST') {
            await route.continue();
            return;
          }
          seen.push(`POST ${new URL(route.request().url()).pathname}`);
          // A Location may be relative: resolved against the request it answers, as a browser would.
          const locationOf = (answer: APIResponse, url: string): string | undefined => {
            const header = answer.headers()['location'];
            seen.push(`${answer.status()} ${header === undefined ? '(no location)' : new URL(header, url).pathname}`);
            return header === undefined ? undefined : new URL(header, url).href;
          };
          let location = locationOf(await route.fetch({ maxRedirects: 0 }), route.request().url());
          while (location?.startsWith(`${oauth.issuer}/auth/`)) {
            location = locationOf(await page.context().request.get(location, { maxRedirects: 0 }), location);
          }
          if (location?.startsWith(`${appUrl}/atlassian/callback`)) {
            callback = location;
            await route.fulfill({ status: 200, contentType: 'text/html', body: '<p>stopped before the callback</p>' });
            stop();
            return;
          }
          await route.fulfill({ status: 303, headers: { location: location ?? oauth.issuer } });
        } catch (error) {
          fail(error instanceof Error ? error : new Error(String(error)));
          await route.abort().catch(() => undefined);
        }
      });
      try {
        await page.goto(start.href);
        await Promise.all([signInAndConsent(page, login), stopped]);
      } finally {
        clearTimeout(deadline);
      }
    });
    return callback!;
  };

  it('connects a tenant through the start link: cookie, Atlassian with PKCE S256, back on returnTo, real tokens stored', async () => {
    const start = await startConsent('tenant-connected');
    expect(start.origin + start.pathname).toBe(`${appUrl}/atlassian/authorize`);
    expect(start.searchParams.get('flow')).toMatch(/^[A-Za-z0-9_-]{43}$/);

    let callback: URL | undefined;
    let authorization: URL | undefined;
    let setCookie: string | undefined;
    await onPage(browser, screenshot('connected'), async (page) => {
      page.on('request', (request) => {
        if (request.url().startsWith(`${appUrl}/atlassian/callback`)) {
          callback = new URL(request.url());
        }
        if (request.url().startsWith(oauth.authorizeUrl)) {
          authorization ??= new URL(request.url());
        }
      });
      page.on('response', (response) => {
        if (response.url().startsWith(`${appUrl}/atlassian/authorize`)) {
          void response.headerValue('set-cookie').then((value) => (setCookie = value ?? undefined));
        }
      });
      await page.goto(start.href);
      await signInAndConsent(page, 'customer-1');
      await page.waitForURL(`${returnPage.url}?status=connected`);
      await expect(page.textContent('p')).resolves.toBe('back in the app');
    });

    expect(authorization!.searchParams.get('redirect_uri')).toBe(`${appUrl}/atlassian/callback`);
    expect(authorization!.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(authorization!.searchParams.get('scope')).toBe('read:jira-work offline_access');
    expect(authorization!.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(authorization!.searchParams.get('code_challenge_method')).toBe('S256');
    // HttpOnly, SameSite=Lax, scoped to the callback, not Secure: the public URL is http on 127.0.0.1.
    expect(setCookie).toMatch(
      /^agent_core_consent_[0-9a-f]{16}=[A-Za-z0-9_-]{43}; Path=\/atlassian\/callback; Max-Age=600; HttpOnly; SameSite=Lax$/,
    );
    // The callback cleared it.
    const cookies = await browser.context.cookies(`${appUrl}/atlassian/callback`);
    expect(cookies.filter((cookie) => cookie.name.startsWith('agent_core_consent_'))).toEqual([]);

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
    // The sites the grant reaches, read from the server's accessible-resources right after the tokens.
    await expect(app.get(AtlassianSiteRepo).list(PLATFORM, 'tenant-connected')).resolves.toEqual([
      expect.objectContaining({ url: 'https://default.atlassian.net', scopes: ['read:jira-work'] }),
    ]);
    expect(logger.lines).toContain('Consent for ("jira", "tenant-connected") opened in a browser');
    expect(logger.lines).toContain('Consent for ("jira", "tenant-connected") connected');
    expectNoSecretLogged([
      callback?.searchParams.get('code'),
      start.searchParams.get('flow'),
      authorization!.searchParams.get('state'),
      setCookie?.split(';')[0]?.split('=')[1],
      stored!.accessToken,
      stored!.refreshToken,
    ]);
  });

  // Finding 1 of issue #24: whoever held a consent URL completed it.
  it('refuses a second browser opening the same start link, with a page saying what to do; the first still connects', async () => {
    const start = await startConsent('tenant-two-browsers');

    await onPage(browser, screenshot('two-browsers-first'), async (first) => {
      await first.goto(start.href);
      await expect(first.waitForSelector('input[name=login]')).resolves.toBeTruthy();

      await onPage(otherBrowser, screenshot('two-browsers-second'), async (second) => {
        const refused = await second.goto(start.href);
        expect(refused?.status()).toBe(400);
        expect(refused?.headers()['content-type']).toMatch(/^text\/html/);
        const text = await second.textContent('body');
        expect(text).toContain('This connection link is not valid or was already used.');
        expect(text).toContain('Go back to the application and start connecting again.');
        await expect(second.locator('script').count()).resolves.toBe(0);
        expect(second.url()).toBe(start.href);
      });

      await signInAndConsent(first, 'customer-two-browsers');
      await first.waitForURL(`${returnPage.url}?status=connected`);
    });

    await expect(store.get(PLATFORM, 'tenant-two-browsers')).resolves.toMatchObject({
      accessToken: expect.any(String),
    });
    expect(logger.lines).toContain('Consent start link refused: unknown, already opened or missing flow');
  });

  it('refuses the callback in a browser without the consent cookie: nothing exchanged or stored, the consent stays for its browser', async () => {
    const start = await startConsent('tenant-forwarded');
    const callback = await consentUpToCallback(browser, start, 'customer-forwarded', 'forwarded-first');
    const requestsBefore = await oauth.tokenRequests();

    await onPage(otherBrowser, screenshot('forwarded-other'), async (page) => {
      const refused = await page.goto(callback);
      expect(refused?.status()).toBe(400);
      await expect(page.textContent('body')).resolves.toContain('This connection was started in another browser.');
    });
    await expect(oauth.tokenRequests()).resolves.toBe(requestsBefore);
    await expect(store.get(PLATFORM, 'tenant-forwarded')).resolves.toBeNull();

    await onPage(browser, screenshot('forwarded-back'), async (page) => {
      await page.goto(callback);
      await page.waitForURL(`${returnPage.url}?status=connected`);
    });
    await expect(store.get(PLATFORM, 'tenant-forwarded')).resolves.toMatchObject({ accessToken: expect.any(String) });
    expect(logger.lines).toContain(
      'Consent callback refused: the browser does not hold the consent cookie of the one that started it',
    );
  });

  it("refuses tenant A's state with the code of tenant B's consent (PKCE): nothing stored under either", async () => {
    const startA = await startConsent('tenant-a-state');
    const startB = await startConsent('tenant-b-code');
    const callbackA = new URL(await consentUpToCallback(browser, startA, 'customer-a', 'mixed-a'));
    const callbackB = new URL(await consentUpToCallback(otherBrowser, startB, 'customer-b', 'mixed-b'));

    // The browser of A, holding A's cookie, comes back with A's state and B's code.
    callbackA.searchParams.set('code', callbackB.searchParams.get('code')!);
    await onPage(browser, screenshot('mixed-back'), async (page) => {
      await page.goto(callbackA.href);
      await page.waitForURL(`${returnPage.url}?status=error&reason=invalid_grant`);
    });

    await expect(store.get(PLATFORM, 'tenant-a-state')).resolves.toBeNull();
    await expect(store.get(PLATFORM, 'tenant-b-code')).resolves.toBeNull();
  });

  it('refuses a reused state with 400: the same callback again exchanges and stores nothing', async () => {
    const start = await startConsent('tenant-reused');
    let callback: string | undefined;
    await onPage(browser, screenshot('reused'), async (page) => {
      page.on('request', (request) => {
        if (request.url().startsWith(`${appUrl}/atlassian/callback`)) {
          callback = request.url();
        }
      });
      await page.goto(start.href);
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
      // The start link too is spent.
      const reopened = await page.goto(start.href);
      expect(reopened?.status()).toBe(400);
    });
    expect(logger.lines).toContain('Consent callback refused: unknown, reused or missing state');
  });

  it('sends a consent whose grant reaches no Jira site back with status=error&reason=no_site, its tokens stored', async () => {
    const start = await startConsent('tenant-no-site');
    // The customer consented for a site without Jira: accessible-resources lists only Confluence.
    await oauth.setAccessibleResources([
      {
        id: '55555555-5555-4555-8555-555555555555',
        url: 'https://wiki-only.atlassian.net',
        name: 'wiki-only',
        scopes: ['read:confluence-content.all'],
        avatarUrl: 'https://avatars.example/wiki-only.png',
      },
    ]);
    try {
      await onPage(browser, screenshot('no-site'), async (page) => {
        await page.goto(start.href);
        await signInAndConsent(page, 'customer-no-site');
        await page.waitForURL(`${returnPage.url}?status=error&reason=no_site`);
      });
    } finally {
      await oauth.setAccessibleResources(null);
    }

    await expect(store.get(PLATFORM, 'tenant-no-site')).resolves.toMatchObject({ refreshToken: expect.any(String) });
    await expect(app.get(AtlassianSiteRepo).list(PLATFORM, 'tenant-no-site')).resolves.toEqual([]);
    expect(logger.lines).toContain(
      'Consent for ("jira", "tenant-no-site") stored, but the grant reaches no jira site: no_site',
    );
    expect(logger.lines).not.toContain('Consent for ("jira", "tenant-no-site") connected');
  });

  it('sends a declined consent back with status=error&reason=access_denied and stores nothing', async () => {
    const start = await startConsent('tenant-declined');

    await onPage(browser, screenshot('declined'), async (page) => {
      await page.goto(start.href);
      await page.click('text=[ Cancel ]');
      await page.waitForURL(`${returnPage.url}?status=error&reason=access_denied`);
    });

    await expect(store.get(PLATFORM, 'tenant-declined')).resolves.toBeNull();
    expect(logger.lines).toContain('Consent for ("jira", "tenant-declined") not given: access_denied');
  });

  describe('without a browser', () => {
    it('redirects with status=error&reason=invalid_grant when the token endpoint refuses the code', async () => {
      const { state, cookie } = await openStartLink(await startConsent('tenant-bad-code'));
      const requestsBefore = await oauth.tokenRequests();

      const response = await fetch(callbackUrl({ state, code: 'a-code-the-server-never-issued' }), {
        redirect: 'manual',
        headers: { cookie },
      });

      expect(response.status).toBe(303);
      expect(response.headers.get('location')).toBe(`${returnPage.url}?status=error&reason=invalid_grant`);
      expect(response.headers.get('set-cookie')).toMatch(/; Max-Age=0;/);
      await expect(oauth.tokenRequests()).resolves.toBe(requestsBefore + 1);
      await expect(store.get(PLATFORM, 'tenant-bad-code')).resolves.toBeNull();
      expect(logger.lines).toContain(
        'Consent for ("jira", "tenant-bad-code") failed: invalid_grant (AtlassianOauthGrantRevokedError)',
      );
    });

    it('refuses a tampered state with 400 and exchanges nothing', async () => {
      const { state, cookie } = await openStartLink(await startConsent('tenant-tampered'));
      const tampered = `${state.slice(0, -1)}${state.endsWith('A') ? 'B' : 'A'}`;
      const requestsBefore = await oauth.tokenRequests();

      const response = await fetch(callbackUrl({ state: tampered, code: 'code' }), { headers: { cookie } });

      expect(response.status).toBe(400);
      await expect(response.text()).resolves.toContain('not valid or was already used');
      await expect(store.get(PLATFORM, 'tenant-tampered')).resolves.toBeNull();
      await expect(oauth.tokenRequests()).resolves.toBe(requestsBefore);
    });

    it('answers a refusal as a small page without script or external resource, or as JSON to a client that asks for it', async () => {
      const page = await fetch(callbackUrl({ state: 'x'.repeat(43), code: 'code' }), {
        headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' },
      });
      const json = await fetch(callbackUrl({ state: 'x'.repeat(43), code: 'code' }), {
        headers: { accept: 'application/json' },
      });

      expect(page.status).toBe(400);
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(page.headers.get('content-security-policy')).toMatch(/^default-src 'none'; style-src 'sha256-/);
      expect(page.headers.get('cache-control')).toBe('no-store');
      const html = await page.text();
      expect(html).toContain('<h1>Connection not completed</h1>');
      expect(html).not.toMatch(/<script|<link|<img|<iframe|src=|href=/i);
      expect(json.status).toBe(400);
      await expect(json.json()).resolves.toEqual({
        statusCode: 400,
        error: 'Bad Request',
        message:
          'This connection link is not valid or was already used. Go back to the application and start connecting again.',
      });
    });

    it('keeps the query of an allowed returnTo and drops its fragment', async () => {
      const { state, cookie } = await openStartLink(
        await startConsent('tenant-query', `${returnPage.url}?tab=integrations#top`),
      );

      const response = await fetch(callbackUrl({ state, error: 'access_denied' }), {
        redirect: 'manual',
        headers: { cookie },
      });

      expect(response.headers.get('location')).toBe(
        `${returnPage.url}?tab=integrations&status=error&reason=access_denied`,
      );
    });

    it('answers a start link, single use, that expires 5 minutes after it was issued', async () => {
      const before = Date.now();
      const response = await authorize({
        platform: PLATFORM,
        tenantId: 'tenant-link',
        scopes: ['read:jira-work'],
        returnTo: returnPage.url,
      });
      const { url, expiresAt } = (await response.json()) as { url: string; expiresAt: string };

      expect(new Date(expiresAt).getTime()).toBeGreaterThanOrEqual(before + 300_000 - 1_000);
      expect(new Date(expiresAt).getTime()).toBeLessThanOrEqual(Date.now() + 300_000);
      const opened = await openStartLink(new URL(url));
      expect(opened.authorization.origin + opened.authorization.pathname).toBe(oauth.authorizeUrl);
      const again = await fetch(url, { redirect: 'manual', headers: { accept: 'application/json' } });
      expect(again.status).toBe(400);
      expect(again.headers.get('set-cookie')).toBeNull();
    });
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
      // Finding 8 of issue #24: the scheme to use is named.
      expect(response.headers.get('www-authenticate')).toBe('Bearer');
    });
  });
});
