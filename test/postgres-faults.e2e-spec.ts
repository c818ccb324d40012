import { setTimeout as sleep } from 'node:timers/promises';
import { Test, TestingModule } from '@nestjs/testing';
import {
  AtlassianModule,
  AtlassianOauthRefreshFailedError,
  AtlassianOauthRotationService,
  AtlassianOauthStateRepo,
  DatabaseOutageMonitor,
} from '../src/atlassian';
import { DatabaseModule } from '../src/database/database.module';
import { testConfig, withConfig } from './support/config';
import { hammer, timeToRecover } from './support/fault-calls';
import { FreezablePostgres, freezablePostgresUnavailable } from './support/freezable-postgres';

const JIRA = 'jira';
const HOUR_MS = 3_600_000;
const PASSWORD_FREE_SECRET = 'refresh-token-that-must-not-leak';

const unavailable = freezablePostgresUnavailable();
// These start their own PostgreSQL (never the shared one); they need root and the server binaries.
(unavailable ? describe.skip : describe)(
  `database faults on a private PostgreSQL${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    let pg: FreezablePostgres;
    const modules: TestingModule[] = [];

    const boot = async (env: Record<string, string> = {}) => {
      const config = testConfig({ DATABASE_URL: pg.url, DATABASE_QUERY_TIMEOUT_MS: '500', ...env });
      const moduleRef = await withConfig(
        Test.createTestingModule({ imports: [DatabaseModule, AtlassianModule] }),
        config,
      ).compile();
      await moduleRef.init();
      modules.push(moduleRef);
      return {
        repo: moduleRef.get(AtlassianOauthStateRepo),
        rotation: moduleRef.get(AtlassianOauthRotationService),
        outages: moduleRef.get(DatabaseOutageMonitor),
      };
    };

    beforeAll(async () => {
      if (unavailable) {
        console.log(`private PostgreSQL fault tests skipped: ${unavailable}`);
      }
      pg = await FreezablePostgres.create();
    }, 60_000);

    afterEach(async () => {
      pg.resume();
      await Promise.all(modules.splice(0).map((moduleRef) => moduleRef.close()));
    });

    afterAll(async () => {
      await pg?.destroy();
    });

    it('reports a stopped server as DatabaseUnavailableError, logs its end with the failed calls, and recovers after a restart', async () => {
      const { repo, outages } = await boot();
      await repo.upsert(JIRA, 'stopped', { refreshToken: 'refresh-stopped' });
      const ended = new Promise<{ failedCalls: number; durationMs: number }>((resolve) =>
        outages.once('outageEnded', resolve),
      );

      const outage = (async () => {
        await pg.stop();
        await sleep(2_000);
        await pg.start();
      })();
      const seen = await hammer(() => repo.get(JIRA, 'stopped'), outage);
      const recoverMs = await timeToRecover(() => repo.get(JIRA, 'stopped'));
      const { failedCalls, durationMs } = await Promise.race([
        ended,
        sleep(5_000).then(() => ({ failedCalls: -1, durationMs: -1 })),
      ]);

      console.log(
        `[fault] PostgreSQL stop 2 s + restart: ${seen.attempted} get calls, ${seen.failed} failed as ${[...seen.classes].join('/')} (${[...seen.codes].join(', ')}); recovered ${recoverMs} ms after the restart; outage logged as ${durationMs} ms, ${failedCalls} failed calls`,
      );
      expect(seen.failed).toBeGreaterThan(0);
      expect(seen.classes).toEqual(new Set(['DatabaseUnavailableError']));
      expect(failedCalls).toBe(seen.failed);
      await expect(repo.get(JIRA, 'stopped')).resolves.toMatchObject({ refreshToken: 'refresh-stopped' });
    });

    it('takes over a lease it could not release at its next rotate, and gives it back to other processes once the database answers', async () => {
      const first = await boot();
      const second = await boot();
      await first.repo.upsert(JIRA, 'stranded', { refreshToken: 'refresh-0', expiresAt: null });

      // The refresh stops the database and fails: releasing the lease fails too. (A refresh that
      // returns a pair would be kept and hold the lease until stored: unsaved-rotations.e2e-spec.ts.)
      const failed = await first.rotation
        .rotate(JIRA, 'stranded', async () => {
          await pg.stop();
          throw new Error('token endpoint down');
        })
        .catch((error: unknown) => error);
      expect(failed).toBeInstanceOf(AtlassianOauthRefreshFailedError);
      await pg.start();

      // Another process (its own module and pool): it waits at most 3 s, far less than the 30 s lease.
      const started = Date.now();
      const other = await second.rotation.rotate(
        JIRA,
        'stranded',
        () => Promise.resolve({ refreshToken: 'refresh-1', expiresAt: new Date(Date.now() + HOUR_MS) }),
        { waitMs: 3_000 },
      );
      console.log(
        `[fault] stranded lease: another process's rotate waited ${Date.now() - started} ms after the restart`,
      );
      expect(other.refreshToken).toBe('refresh-1');
    });

    it('takes over its own stranded lease at once on its next rotate of the key', async () => {
      const { repo, rotation } = await boot();
      await repo.upsert(JIRA, 'own', { refreshToken: 'refresh-0', expiresAt: null });
      const failed = await rotation
        .rotate(JIRA, 'own', async () => {
          await pg.stop();
          throw new Error('token endpoint down');
        })
        .catch((error: unknown) => error);
      expect(failed).toBeInstanceOf(AtlassianOauthRefreshFailedError);
      await pg.start();

      // waitMs 0: a lease held by anyone else would time out at once.
      const state = await rotation.rotate(
        JIRA,
        'own',
        () => Promise.resolve({ refreshToken: 'refresh-1', expiresAt: new Date(Date.now() + HOUR_MS) }),
        { waitMs: 0 },
      );
      expect(state.refreshToken).toBe('refresh-1');
    });

    it('boots beside a server that is not up yet, retrying until it is', async () => {
      await pg.stop();
      const starting = sleep(2_000).then(() => pg.start());
      const started = Date.now();
      const { repo } = await boot({ DATABASE_CONNECT_RETRY_MS: '30000' });
      await starting;
      console.log(`[fault] boot while PostgreSQL was down for 2 s: booted after ${Date.now() - started} ms`);
      await expect(repo.count()).resolves.toBeGreaterThanOrEqual(0);
    });

    it('cuts calls to a frozen server off at DATABASE_QUERY_TIMEOUT_MS with DatabaseUnavailableError, and recovers when it thaws', async () => {
      const { repo, outages } = await boot();
      await repo.upsert(JIRA, 'frozen', { refreshToken: PASSWORD_FREE_SECRET });

      pg.freeze();
      const seen = await hammer(() => repo.get(JIRA, 'frozen'), sleep(3_000));
      pg.resume();
      const recoverMs = await timeToRecover(() => repo.get(JIRA, 'frozen'));

      console.log(
        `[fault] PostgreSQL SIGSTOP 3 s: ${seen.attempted} get calls, ${seen.failed} failed as ${[...seen.classes].join('/')} (${[...seen.codes].join(', ')}); recovered ${recoverMs} ms after SIGCONT`,
      );
      // Without a query time limit the first call would block for the whole freeze: one attempt.
      expect(seen.attempted).toBeGreaterThan(2);
      expect(seen.classes).toEqual(new Set(['DatabaseUnavailableError']));
      expect(seen.messages.join('\n')).not.toContain(PASSWORD_FREE_SECRET);
      await expect(repo.get(JIRA, 'frozen')).resolves.toMatchObject({ refreshToken: PASSWORD_FREE_SECRET });
      expect(outages.snapshot()).toMatchObject({ current: undefined, outagesStarted: 1, failedCalls: seen.failed });
    });
  },
);
