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

  it('on SIGTERM stops accepting, finishes a request in flight with the database still open, then exits 0', async () => {
    service = startService({ DATABASE_PATH: join(dir, 'agent-core.sqlite') });
    const port = await service.running;

    // A slow client: the request's body is still arriving when the signal comes, so the request
    // is in flight; only when the body is complete does the readiness check query the database.
    const socket = connect(port, '127.0.0.1');
    const response = received(socket);
    await new Promise((resolve) => socket.once('connect', resolve));
    const body = '{"slow":"client"}';
    socket.write(
      `GET /health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 5)}`,
    );
    await sleep(200);
    service.child.kill('SIGTERM');
    await outputShows(service, 'SIGTERM received');

    await expect(fetch(service.url('/health/live'))).rejects.toThrow();
    expect(service.child.exitCode).toBeNull();

    socket.write(body.slice(5));
    // The readiness check ran after the signal: terminus answers 503 "shutting_down" so that no
    // new traffic is routed here, and its database ping still succeeded, so the database was
    // still open while the request was in flight.
    const answer = await response;
    expect(answer).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
    expect(answer).toContain('"status":"shutting_down","info":{"database":{"status":"up"}}');
    await expect(service.exited).resolves.toBe(0);
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
