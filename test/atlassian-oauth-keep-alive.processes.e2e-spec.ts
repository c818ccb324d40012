import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AtlassianOauthStateEntity, AtlassianOauthStateRepo, KeepAliveCounts } from '../src/atlassian';
import { FileDatabase, openFileDatabase } from './support/file-database';
import type { SweepArgs } from './support/keep-alive-worker';
import { OauthTestServer, startOauthServer } from './support/oauth-server';
import { PLATFORM, resultOf, startWorker } from './support/store-processes';
import { getDataSourceToken } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';

const WORKER = join(__dirname, 'support', 'keep-alive-worker.ts');
const IDLE = 20;
const FRESH = 5;
const DAY_MS = 24 * 3_600_000;

describe('the keep-alive sweep in two processes at once against a real OAuth server', () => {
  let server: OauthTestServer;
  let database: FileDatabase;

  beforeEach(async () => {
    server = await startOauthServer();
    database = await openFileDatabase('agent-core-keep-alive-race-');
  });
  afterEach(async () => {
    await database.close();
    await server.stop();
  });

  it(`two sweeps started together refresh each of ${IDLE} idle keys once, and none of ${FRESH} fresh ones`, async () => {
    const repo = database.moduleRef.get(AtlassianOauthStateRepo);
    const states = database.moduleRef.get<DataSource>(getDataSourceToken()).getRepository(AtlassianOauthStateEntity);
    for (let i = 0; i < IDLE + FRESH; i++) {
      await repo.upsert(PLATFORM, `tenant-${i}`, await server.connectedGrant());
      if (i < IDLE) {
        await states.update(
          { platform: PLATFORM, tenantId: `tenant-${i}` },
          { updatedAt: new Date(Date.now() - 40 * DAY_MS) },
        );
      }
    }
    await server.resetStats();
    const args: SweepArgs = { goFile: join(dirname(database.path), 'go'), idleForMs: 30 * DAY_MS };

    const workers = [1, 2].map(() => startWorker(database.path, 'sweep', args, { worker: WORKER, env: server.env }));
    await Promise.all(workers.map((worker) => worker.event('ready')));
    writeFileSync(args.goFile, '');
    const results = await Promise.all(workers.map((worker) => resultOf<KeepAliveCounts>(worker.exit, 'sweep')));
    const stats = await server.stats();

    const summary = {
      refreshedByProcess: results.map((r) => r.refreshed),
      freshByProcess: results.map((r) => r.fresh),
      failed: results.reduce((n, r) => n + r.failed + r.revoked, 0),
      refreshesCountedByServer: stats.issued.refreshToken,
      tokenRequests: stats.tokenRequests,
      reuses: stats.refreshTokenReuses,
    };
    console.log(`keep-alive sweep in two processes: ${JSON.stringify(summary)}`);
    expect(summary.refreshedByProcess.reduce((a, b) => a + b, 0)).toBe(IDLE);
    // Each process counts as fresh the keys it found fresh: the fresh ones, and the idle ones the other got to first.
    expect(results.map((r) => r.refreshed + r.fresh)).toEqual([IDLE + FRESH, IDLE + FRESH]);
    expect(summary).toMatchObject({ failed: 0, refreshesCountedByServer: IDLE, tokenRequests: IDLE, reuses: 0 });
  });
});
