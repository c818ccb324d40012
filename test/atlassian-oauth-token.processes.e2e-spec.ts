import { join } from 'node:path';
import { AtlassianOauthStateRepo } from '../src/atlassian';
import { FileDatabase, openFileDatabase } from './support/file-database';
import { OauthTestServer, startOauthServer } from './support/oauth-server';
import { PLATFORM, resultOf, startWorker } from './support/store-processes';
import type { AccessTokenLoopArgs, AccessTokenLoopResult } from './support/token-worker';

const WORKER = join(__dirname, 'support', 'token-worker.ts');
const PROCESSES = 4;
const CALLERS_PER_PROCESS = 4;
const ITERATIONS = 15;
/** Time for every process to boot, so that all of them start their calls together. */
const BOOT_MS = 6_000;
const TENANT = 'tenant-racing';

describe('AtlassianOauthTokenService.accessToken in several processes against a real OAuth server', () => {
  let server: OauthTestServer;
  let database: FileDatabase;

  beforeEach(async () => {
    // Access tokens live 2 s and callers want 1 s of validity: the fleet refreshes about once a second.
    server = await startOauthServer({ accessTokenTtlSeconds: 2 });
    database = await openFileDatabase('agent-core-token-race-');
  });
  afterEach(async () => {
    await database.close();
    await server.stop();
  });

  it(`${PROCESSES} processes x ${CALLERS_PER_PROCESS} callers on an expiring token: every call served, not one refresh token reused`, async () => {
    const connected = await server.connectedGrant();
    await database.moduleRef.get(AtlassianOauthStateRepo).upsert(PLATFORM, TENANT, connected);
    await server.resetStats();
    const args: AccessTokenLoopArgs = {
      tenantId: TENANT,
      callers: CALLERS_PER_PROCESS,
      iterations: ITERATIONS,
      startAt: Date.now() + BOOT_MS,
      maxPauseMs: 300,
      minValidityMs: 1_000,
    };

    const results = await Promise.all(
      Array.from({ length: PROCESSES }, () =>
        resultOf<AccessTokenLoopResult>(
          startWorker(database.path, 'access-token-loop', args, { worker: WORKER, env: server.env }).exit,
          'access-token-loop',
        ),
      ),
    );
    const stats = await server.stats();

    const summary = {
      processes: PROCESSES,
      calls: results.reduce((n, r) => n + r.calls, 0),
      failed: results.flatMap((r) => r.failures).length,
      distinctTokens: new Set(results.flatMap((r) => r.tokens)).size,
      refreshesCountedByServer: stats.issued.refreshToken,
      tokenRequests: stats.tokenRequests,
      reuses: stats.refreshTokenReuses,
      grantsRevoked: stats.grantsRevoked,
    };
    console.log(`accessToken across processes: ${JSON.stringify(summary)}`);
    expect(summary).toMatchObject({
      calls: PROCESSES * CALLERS_PER_PROCESS * ITERATIONS,
      failed: 0,
      reuses: 0,
      grantsRevoked: 0,
    });
    expect(summary.refreshesCountedByServer).toBeGreaterThan(1);
    expect(summary.tokenRequests).toBe(summary.refreshesCountedByServer);
    // Compared as a boolean: a failure must not print a token.
    const stored = await database.moduleRef.get(AtlassianOauthStateRepo).get(PLATFORM, TENANT);
    expect(stored?.refreshToken === connected.refreshToken).toBe(false);
  });
});
