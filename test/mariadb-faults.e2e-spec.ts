import { setTimeout as sleep } from 'node:timers/promises';
import { Test, TestingModule } from '@nestjs/testing';
import { DataSource } from 'typeorm';
import {
  AtlassianModule,
  AtlassianOauthStateRepo,
  DatabaseOutageMonitor,
  DatabaseUnavailableError,
} from '../src/atlassian';
import { DatabaseModule } from '../src/database/database.module';
import { serverDataSourceOptions } from '../src/database/server-database';
import { testConfig, withConfig } from './support/config';
import { hammer, timeToRecover } from './support/fault-calls';
import {
  FreshDatabase,
  SERVERS_UNDER_TEST,
  createFreshDatabase,
  describeOnServer,
  serverConfig,
} from './support/server-databases';

const JIRA = 'jira';
const MARIADB = SERVERS_UNDER_TEST.find((server) => server.variable === 'TEST_MARIADB_URL');
if (!MARIADB) {
  throw new Error('no MariaDB entry in SERVERS_UNDER_TEST');
}
if (!process.env[MARIADB.variable]?.trim() && process.env.CI !== 'true') {
  console.log(`MariaDB fault tests skipped: set ${MARIADB.variable} to run them`);
}

// The shared server is never stopped: only the connections of this test's own database are killed.
describeOnServer(MARIADB, 'connections killed under load', (adminUrl) => {
  let database: FreshDatabase;
  let admin: DataSource;
  let moduleRef: TestingModule;

  beforeAll(async () => {
    database = await createFreshDatabase(adminUrl);
    admin = new DataSource(serverDataSourceOptions({ ...serverConfig(adminUrl), poolSize: 1 }, []));
    await admin.initialize();
  });

  afterAll(async () => {
    await admin?.destroy();
    await database?.drop();
  });

  afterEach(async () => {
    await moduleRef?.close();
  });

  /** Kills every connection whose current database is this test's own, and returns how many it killed. */
  async function killOwnConnections(): Promise<number> {
    const rows = await admin.query<{ ID: number | string }[]>(
      'SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()',
      [database.name],
    );
    for (const { ID } of rows) {
      // A connection can end between the SELECT and the KILL (ER_NO_SUCH_THREAD).
      await admin.query(`KILL CONNECTION ${Number(ID)}`).catch(() => undefined);
    }
    return rows.length;
  }

  it('fails calls on killed connections with a retryable DatabaseUnavailableError and recovers without a restart', async () => {
    moduleRef = await withConfig(
      Test.createTestingModule({ imports: [DatabaseModule, AtlassianModule] }),
      testConfig({ DATABASE_URL: database.url, DATABASE_QUERY_TIMEOUT_MS: '2000' }),
    ).compile();
    await moduleRef.init();
    const repo = moduleRef.get(AtlassianOauthStateRepo);
    const outages = moduleRef.get(DatabaseOutageMonitor);
    await repo.upsert(JIRA, 'killed', { refreshToken: 'refresh-killed' });
    const errors: unknown[] = [];
    const get = () =>
      repo.get(JIRA, 'killed').catch((error: unknown) => {
        errors.push(error);
        throw error;
      });

    let killed = 0;
    const kills = (async () => {
      for (let round = 0; round < 20; round++) {
        await sleep(50);
        killed += await killOwnConnections();
      }
    })();
    // Eight callers at once, so that queries are in flight whenever a kill lands.
    const seen = await Promise.all(Array.from({ length: 8 }, () => hammer(get, kills)));
    const recoverMs = await timeToRecover(() => repo.get(JIRA, 'killed'));

    const attempted = seen.reduce((sum, one) => sum + one.attempted, 0);
    const failed = seen.reduce((sum, one) => sum + one.failed, 0);
    const codes = new Set(seen.flatMap((one) => [...one.codes]));
    const classes = new Set(seen.flatMap((one) => [...one.classes]));
    console.log(
      `[fault] MariaDB connections killed (${killed} kills over 20 rounds, 50 ms apart): ${attempted} get calls, ${failed} failed as ${[...classes].join('/')} (${[...codes].join(', ')}); recovered ${recoverMs} ms after the last kill; outage monitor counted ${outages.snapshot().failedCalls} failed calls`,
    );
    expect(killed).toBeGreaterThan(0);
    expect(failed).toBeGreaterThan(0);
    expect(classes).toEqual(new Set(['DatabaseUnavailableError']));
    for (const error of errors) {
      expect(error).toBeInstanceOf(DatabaseUnavailableError);
      expect(error).toMatchObject({ engine: expect.stringMatching(/^(mysql|mariadb)$/), retryable: true });
      expect(String((error as Error).message)).not.toContain('refresh-killed');
    }
    // The same module, never restarted, serves reads and writes again.
    await expect(repo.get(JIRA, 'killed')).resolves.toMatchObject({ refreshToken: 'refresh-killed' });
    await expect(repo.upsert(JIRA, 'killed', { refreshToken: 'refresh-after' })).resolves.toMatchObject({
      refreshToken: 'refresh-after',
    });
    await expect(repo.get(JIRA, 'killed')).resolves.toMatchObject({ refreshToken: 'refresh-after' });
  });
});
