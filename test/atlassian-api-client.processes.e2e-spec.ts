import { renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AtlassianOauthStateRepo, AtlassianSiteRepo } from '../src/atlassian';
import { connectWithSite } from './support/api-tenants';
import type { CallLoopArgs, CallLoopResult } from './support/api-worker';
import { FileDatabase, openFileDatabase } from './support/file-database';
import { OauthTestServer, startOauthServer } from './support/oauth-server';
import { PLATFORM, resultOf, startWorker } from './support/store-processes';

const WORKER = join(__dirname, 'support', 'api-worker.ts');
const PROCESSES = 4;
const TENANTS = 4;
/** The pause cache's second, plus time for requests already under way when the 429 came. */
const GRACE_MS = 1_500;

describe('AtlassianApiClient in several processes against the gateway stand-in: the app-wide pause', () => {
  let server: OauthTestServer;
  let database: FileDatabase;

  beforeEach(async () => {
    server = await startOauthServer();
    database = await openFileDatabase('agent-core-api-pause-');
  });
  afterEach(async () => {
    await database.close();
    await server.stop();
  });

  it(`${PROCESSES} processes x ${TENANTS} tenants: once the app-wide 429 is recorded, the server receives nothing until the pause ends`, async () => {
    const states = database.moduleRef.get(AtlassianOauthStateRepo);
    const sites = database.moduleRef.get(AtlassianSiteRepo);
    const tenants = Array.from({ length: TENANTS }, (_, i) => ({
      tenantId: `tenant-${i}`,
      site: `cloud-${i}`,
      callers: 2,
      pauseMs: 20,
    }));
    for (const tenant of tenants) {
      await connectWithSite(server, states, sites, PLATFORM, tenant);
    }
    // 30 points every 3 s for the whole app: the fleet spends it in well under a second.
    await server.configureGateway({ budget: { app: { points: 30, windowMs: 3_000 } }, graceMs: GRACE_MS });
    const args: CallLoopArgs = {
      platform: PLATFORM,
      tenants,
      path: '/rest/api/3/myself',
      startFile: join(dirname(database.path), 'start.json'),
      durationMs: 10_000,
    };

    const workers = Array.from({ length: PROCESSES }, () =>
      startWorker(database.path, 'call-loop', args, {
        worker: WORKER,
        env: { ...server.env, ATLASSIAN_API_BASE_URL: server.apiBaseUrl },
      }),
    );
    await Promise.all(workers.map((worker) => worker.event('ready')));
    // Written whole, then renamed: a worker never reads half of it.
    writeFileSync(`${args.startFile}.tmp`, JSON.stringify({ startAt: Date.now() + 200 }));
    renameSync(`${args.startFile}.tmp`, args.startFile);
    const results = await Promise.all(workers.map((worker) => resultOf<CallLoopResult>(worker.exit, 'call-loop')));
    const stats = await server.gatewayStats();

    const perTenant = results.flatMap((result) => Object.values(result.tenants));
    const summary = {
      ok: perTenant.reduce((n, t) => n + t.ok, 0),
      failures: perTenant.reduce((n, t) => n + Object.values(t.failures).reduce((a, b) => a + b, 0), 0),
      pauses: stats.pauses.length,
      limited: stats.limited,
      sentDuringPause: stats.sentDuringPause,
      sentDuringPauseAll: stats.sentDuringPauseAll,
    };
    console.log(`app-wide pause across processes: ${JSON.stringify(summary)}`);
    expect(summary.pauses).toBeGreaterThanOrEqual(2);
    expect(summary.sentDuringPause).toBe(0);
    expect(summary.failures).toBe(0);
    expect(summary.ok).toBe(stats.answered);
    expect(results.every((result) => Object.values(result.tenants).every((tenant) => tenant.ok > 0))).toBe(true);
  }, 180_000);
});
