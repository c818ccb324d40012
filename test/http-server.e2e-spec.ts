import { mkdtempSync, rmSync } from 'node:fs';
import { Socket, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PrivatePostgres, createPrivatePostgres, postgresBinDir } from './support/private-postgres';
import { ServiceProcess, killService, startService } from './support/service-process';

/** The value of one series in Prometheus's text format, or undefined when it is not exposed. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Resolves once `predicate` holds on the service's output (or rejects after `ms`). */
async function outputShows(service: ServiceProcess, text: string, ms = 10_000): Promise<void> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(20)) {
    if (service.output().includes(text)) {
      return;
    }
  }
  throw new Error(`the service did not log "${text}" within ${ms} ms:\n${service.output()}`);
}

/** What a raw HTTP/1.1 connection received until the server closed it. */
function received(socket: Socket): Promise<string> {
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return new Promise((resolve, reject) => {
    socket.once('close', () => resolve(text));
    socket.once('error', reject);
  });
}

const INTERNAL_TOKEN = 'internal-token-of-the-http-spec-0123456789';

describe('the HTTP server (npm start)', () => {
  let dir: string;
  let service: ServiceProcess | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'agent-core-http-'));
  });

  afterEach(async () => {
    await killService(service);
    service = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers the probes and serves the metrics over HTTP', async () => {
    service = startService({ DATABASE_PATH: join(dir, 'agent-core.sqlite') });
    await service.running;

    const live = await fetch(service.url('/health/live'));
    expect(live.status).toBe(200);
    await expect(live.json()).resolves.toMatchObject({ status: 'ok' });
    const ready = await fetch(service.url('/health/ready'));
    expect(ready.status).toBe(200);
    await expect(ready.json()).resolves.toMatchObject({ status: 'ok', info: { database: { status: 'up' } } });

    const metrics = await fetch(service.url('/metrics'));
    expect(metrics.status).toBe(200);
    // Prometheus's text format 0.0.4 (Express orders the parameters its own way).
    expect(metrics.headers.get('content-type')?.split(/;\s*/).sort()).toEqual([
      'charset=utf-8',
      'text/plain',
      'version=0.0.4',
    ]);
    const text = await metrics.text();
    expect(sample(text, 'agent_core_database_up')).toBe(1);
    expect(sample(text, 'agent_core_database_outages_total')).toBe(0);
    // The boot log's count of stored states went through the store.
    expect(sample(text, 'agent_core_store_call_duration_seconds_count{method="count",outcome="ok"}')).toBe(1);
    for (const family of [
      'agent_core_atlassian_refreshes_total',
      'agent_core_rotation_lease_wait_seconds',
      'agent_core_keepalive_keys_total',
      'agent_core_keepalive_last_run_timestamp_seconds',
    ]) {
      expect(text).toContain(`# TYPE ${family} `);
    }
  });

  /** The service with the consent flow on: what `POST /atlassian/authorizations` needs. */
  const withConsentFlow = (): NodeJS.ProcessEnv => ({
    DATABASE_PATH: join(dir, 'agent-core.sqlite'),
    AGENT_CORE_INTERNAL_TOKEN: INTERNAL_TOKEN,
    ATLASSIAN_CLIENT_ID: 'client-id',
    ATLASSIAN_CLIENT_SECRET: 'client-secret-of-the-http-spec',
    AGENT_CORE_PUBLIC_URL: 'http://127.0.0.1:9/',
    AGENT_CORE_RETURN_URLS: 'https://app.example/back',
  });

  it('on SIGTERM stops accepting, finishes a request in flight with the database still open, then exits 0', async () => {
    service = startService(withConsentFlow());
    await service.running;
    const internalPort = Number(new URL(service.internalUrl('/')).port);

    // A slow client: the request's body is still arriving when the signal comes, so the request
    // is in flight; only when the body is complete does the consent get stored in the database.
    const socket = connect(internalPort, '127.0.0.1');
    const response = received(socket);
    await new Promise((resolve) => socket.once('connect', resolve));
    const body = JSON.stringify({
      platform: 'jira',
      tenantId: 'acme',
      scopes: ['read:jira-work'],
      returnTo: 'https://app.example/back',
    });
    socket.write(
      `POST /atlassian/authorizations HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${INTERNAL_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 5)}`,
    );
    await sleep(200);
    service.child.kill('SIGTERM');
    await outputShows(service, 'SIGTERM received');

    await expect(fetch(service.url('/health/live'))).rejects.toThrow();
    expect(service.child.exitCode).toBeNull();

    socket.write(body.slice(5));
    // The consent was stored after the signal: the database was still open while the request was in flight.
    const answer = await response;
    expect(answer).toMatch(/^HTTP\/1\.1 201 Created\r\n/);
    expect(answer).toContain('/atlassian/authorize?flow=');
    await expect(service.exited).resolves.toBe(0);
  });

  describe('two listeners (issue #24, findings 2, 3, 4 and 8)', () => {
    it('the public port serves only the consent pages; the internal port the rest, and not the consent pages', async () => {
      service = startService(withConsentFlow());
      await service.running;
      const on = (url: string) => fetch(url, { redirect: 'manual' }).then((response) => response.status);

      // Public: the start link and the callback answer (a refusal of an unknown flow or state), nothing else.
      await expect(on(service.publicUrl('/atlassian/authorize?flow=unknown'))).resolves.toBe(400);
      await expect(on(service.publicUrl('/atlassian/callback?state=unknown'))).resolves.toBe(400);
      for (const path of ['/metrics', '/health/live', '/health/ready', '/atlassian/authorizations', '/']) {
        await expect(on(service.publicUrl(path))).resolves.toBe(404);
      }
      const refused = await fetch(service.publicUrl('/atlassian/authorizations'), {
        method: 'POST',
        headers: { authorization: `Bearer ${INTERNAL_TOKEN}`, 'content-type': 'application/json' },
        body: '{}',
      });
      expect(refused.status).toBe(404);
      // Internal: probes, metrics and the authorizations endpoint; not the browser's pages.
      await expect(on(service.internalUrl('/health/live'))).resolves.toBe(200);
      await expect(on(service.internalUrl('/metrics'))).resolves.toBe(200);
      await expect(on(service.internalUrl('/atlassian/callback?state=unknown'))).resolves.toBe(404);
      expect(service.output()).toMatch(/Internal HTTP server listening on 127\.0\.0\.1 port \d+/);
    });

    it('checks the bearer token before reading a body, takes 16 KiB at most, and no body elsewhere: 4xx, one line, no stack', async () => {
      service = startService(withConsentFlow());
      await service.running;
      const post = (
        headers: Record<string, string>,
        body: string,
        url = service!.internalUrl('/atlassian/authorizations'),
      ) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

      // No token: 401 with WWW-Authenticate, whatever the body (a megabyte is not read).
      const anonymous = await post({}, 'x'.repeat(1024 * 1024));
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toBe('Bearer');
      const wrong = await post({ authorization: 'Bearer not-the-token' }, '{}');
      expect(wrong.status).toBe(401);
      expect(wrong.headers.get('www-authenticate')).toBe('Bearer');
      // With the token: over 16 KiB is 413, malformed JSON 400.
      const auth = { authorization: `Bearer ${INTERNAL_TOKEN}` };
      await expect(post(auth, JSON.stringify({ pad: 'x'.repeat(17 * 1024) })).then((r) => r.status)).resolves.toBe(413);
      await expect(post(auth, '{"platform":').then((r) => r.status)).resolves.toBe(400);
      // A body anywhere else: 413 unread.
      const probe = await fetch(service.internalUrl('/health/live'), { method: 'POST', body: 'x'.repeat(1000) });
      expect(probe.status).toBe(413);

      // The child's log reaches this process a little after the answers.
      for (const line of [
        'Refused POST /atlassian/authorizations: A valid internal bearer token is required (no bearer token) (401)',
        'Refused POST /atlassian/authorizations: The body is larger than 16 KiB (413)',
        'Refused POST /atlassian/authorizations: The body is not valid JSON (400)',
        'Refused POST /health/live: This route accepts no request body (413)',
      ]) {
        await outputShows(service, line);
      }
      const output = service.output();
      expect(output).not.toMatch(/ERROR|\n\s+at /);
      expect(output).not.toContain(INTERNAL_TOKEN);
    });

    it('closes a connection whose headers never finish (header timeout), and sends the security headers on both listeners', async () => {
      service = startService(withConsentFlow());
      await service.running;
      for (const url of [service.publicUrl('/atlassian/callback?state=unknown'), service.internalUrl('/health/live')]) {
        const response = await fetch(url);
        expect(response.headers.get('x-content-type-options')).toBe('nosniff');
        expect(response.headers.get('x-frame-options')).toBe('SAMEORIGIN');
        expect(response.headers.get('content-security-policy')).toMatch(/default-src '(self|none)'/);
        // HSTS only with an https public URL; this one is http on loopback.
        expect(response.headers.get('strict-transport-security')).toBeNull();
      }

      const socket = connect(Number(new URL(service.publicUrl('/')).port), '127.0.0.1');
      const closed = received(socket);
      await new Promise((resolve) => socket.once('connect', resolve));
      const started = Date.now();
      socket.write('GET /atlassian/callback HTTP/1.1\r\nHost: 127.0.0.1\r\n'); // never the blank line
      const answer = await closed;
      // Node answers 408 once the headers took longer than 10 s (checked every second).
      expect(answer).toMatch(/^HTTP\/1\.1 408 /);
      expect(Date.now() - started).toBeLessThan(20_000);
    }, 40_000);

    it('sends HSTS when the public URL is https', async () => {
      service = startService({ ...withConsentFlow(), AGENT_CORE_PUBLIC_URL: 'https://agent-core.example/' });
      await service.running;
      const response = await fetch(service.internalUrl('/health/live'));
      expect(response.headers.get('strict-transport-security')).toBe('max-age=15552000; includeSubDomains');
    });
  });

  const binDir = postgresBinDir();
  const onPostgres = binDir ? describe : process.env.CI === 'true' ? describe : describe.skip;
  onPostgres(
    `on a private PostgreSQL instance${binDir ? '' : ' (skipped: no /usr/lib/postgresql/*/bin/initdb)'}`,
    () => {
      let postgres: PrivatePostgres | undefined;

      beforeAll(async () => {
        if (!binDir) {
          throw new Error('CI=true needs PostgreSQL installed: initdb was not found under /usr/lib/postgresql');
        }
        postgres = await createPrivatePostgres(binDir);
      });

      afterAll(() => postgres?.remove());

      it('turns ready 503 while PostgreSQL is stopped and 200 once it is back, counting one outage', async () => {
        const pg = postgres!;
        service = startService({ DATABASE_URL: pg.url });
        await service.running;
        await expect(fetch(service.url('/health/ready')).then((r) => r.status)).resolves.toBe(200);

        pg.stop();
        const down = await fetch(service.url('/health/ready'));
        expect(down.status).toBe(503);
        await expect(down.json()).resolves.toMatchObject({
          status: 'error',
          error: { database: { status: 'down' } },
        });
        await expect(fetch(service.url('/health/live')).then((r) => r.status)).resolves.toBe(200);
        const during = await (await fetch(service.url('/metrics'))).text();
        expect(sample(during, 'agent_core_database_up')).toBe(0);

        pg.start();
        const ready = await fetch(service.url('/health/ready'));
        expect(ready.status).toBe(200);
        const after = await (await fetch(service.url('/metrics'))).text();
        expect(sample(after, 'agent_core_database_up')).toBe(1);
        expect(sample(after, 'agent_core_database_outages_total')).toBe(1);
        expect(service.output()).toContain('The database does not answer within 1000 ms: not ready');
        expect(service.output()).toMatch(/The database answers again after \d+\.\d s: ready/);
      });
    },
  );
});
