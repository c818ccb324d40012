import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Test, TestingModule } from '@nestjs/testing';
import { testConfig, withConfig } from '../support/config';
import { AtlassianModule, AtlassianOauthRotationService, AtlassianOauthStateRepo } from '../../src/atlassian';
import { DatabaseModule } from '../../src/database/database.module';
import { AgentCoreMetrics } from '../../src/metrics/agent-core-metrics';
import { MetricsModule } from '../../src/metrics/metrics.module';

/** The value of one series in Prometheus's text format, or undefined when it is not exposed. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe(AgentCoreMetrics.name, () => {
  const sutWith = (tenantLabels: boolean): AgentCoreMetrics => new AgentCoreMetrics({ tenantLabels });

  it('counts refreshes by outcome without platform or tenant labels by default', async () => {
    const sut = sutWith(false);
    sut.refresh('refreshed', 'jira', 'tenant-secretive');
    sut.refresh('refreshed', 'jira', 'tenant-other');
    sut.refresh('revoked', 'jira', 'tenant-other');

    const text = await sut.render();
    expect(sample(text, 'agent_core_atlassian_refreshes_total{outcome="refreshed"}')).toBe(2);
    expect(sample(text, 'agent_core_atlassian_refreshes_total{outcome="revoked"}')).toBe(1);
    expect(text).not.toContain('tenant-');
  });

  it('labels refreshes with platform and tenant_id only when tenant labels are on', async () => {
    const sut = sutWith(true);
    sut.refresh('cooldown', 'jira', 'tenant-a');

    await expect(sut.render()).resolves.toContain(
      'agent_core_atlassian_refreshes_total{outcome="cooldown",platform="jira",tenant_id="tenant-a"} 1',
    );
  });

  it('counts one outage per change from up to down, however many checks fail during it', async () => {
    const sut = sutWith(false);
    for (const up of [true, false, false, false, true, true, false, true]) {
      sut.databaseAvailability(up);
    }

    const text = await sut.render();
    expect(sample(text, 'agent_core_database_outages_total')).toBe(2);
    expect(sample(text, 'agent_core_database_up')).toBe(1);
  });

  it("runs the monitored database check at every scrape, so up and outages follow the database's answers", async () => {
    const sut = sutWith(false);
    const answers = [true, false, true];
    sut.monitorDatabase(() => {
      sut.databaseAvailability(answers.shift() ?? true);
      return Promise.resolve();
    });

    expect(sample(await sut.render(), 'agent_core_database_up')).toBe(1);
    expect(sample(await sut.render(), 'agent_core_database_up')).toBe(0);
    const text = await sut.render();
    expect(sample(text, 'agent_core_database_up')).toBe(1);
    expect(sample(text, 'agent_core_database_outages_total')).toBe(1);
  });

  it("adds up keep-alive sweeps' counts and stamps the last run", async () => {
    const sut = sutWith(false);
    sut.keepAliveSweep({ refreshed: 3, fresh: 10, revoked: 1, failed: 0 }, new Date('2026-01-01T00:00:00Z'));
    sut.keepAliveSweep({ refreshed: 1, fresh: 13, revoked: 0, failed: 2 }, new Date('2026-01-02T00:00:00Z'));

    const text = await sut.render();
    expect(sample(text, 'agent_core_keepalive_keys_total{result="refreshed"}')).toBe(4);
    expect(sample(text, 'agent_core_keepalive_keys_total{result="fresh"}')).toBe(23);
    expect(sample(text, 'agent_core_keepalive_keys_total{result="revoked"}')).toBe(1);
    expect(sample(text, 'agent_core_keepalive_keys_total{result="failed"}')).toBe(2);
    expect(sample(text, 'agent_core_keepalive_last_run_timestamp_seconds')).toBe(Date.UTC(2026, 0, 2) / 1000);
  });

  it('keeps each instance in a registry of its own: two apps in one process never share a series', async () => {
    const first = sutWith(false);
    const second = sutWith(false);
    first.refresh('refreshed', 'jira', 't');

    expect(sample(await first.render(), 'agent_core_atlassian_refreshes_total{outcome="refreshed"}')).toBe(1);
    expect(sample(await second.render(), 'agent_core_atlassian_refreshes_total{outcome="refreshed"}')).toBeUndefined();
  });

  describe('fed by the store', () => {
    let moduleRef: TestingModule;
    let repo: AtlassianOauthStateRepo;
    let sut: AgentCoreMetrics;

    beforeEach(async () => {
      moduleRef = await withConfig(
        Test.createTestingModule({ imports: [DatabaseModule, AtlassianModule, MetricsModule] }),
        testConfig(),
      ).compile();
      repo = moduleRef.get(AtlassianOauthStateRepo);
      sut = moduleRef.get(AgentCoreMetrics);
    });

    afterEach(() => moduleRef.close());

    it('records every store call by method and outcome, never with an argument in a label', async () => {
      await repo.upsert('jira', 'tenant-a', { refreshToken: 'refresh-secret-1' });
      await repo.get('jira', 'tenant-a');
      await repo.get('jira', 'tenant-b');
      await expect(repo.get('jira', ' ')).rejects.toThrow('tenantId');

      const text = await sut.render();
      expect(sample(text, 'agent_core_store_call_duration_seconds_count{method="upsert",outcome="ok"}')).toBe(1);
      expect(sample(text, 'agent_core_store_call_duration_seconds_count{method="get",outcome="ok"}')).toBe(2);
      expect(sample(text, 'agent_core_store_call_duration_seconds_count{method="get",outcome="error"}')).toBe(1);
      expect(text).not.toMatch(/refresh-secret|tenant-a/);
    });

    it("counts a caller queued in memory behind its own process's refresh as refreshed elsewhere", async () => {
      await repo.upsert('jira', 'tenant-a', { refreshToken: 'refresh-1', expiresAt: new Date(0) });
      const rotation = moduleRef.get(AtlassianOauthRotationService);
      let refreshes = 0;
      const refresh = async () => {
        refreshes++;
        await sleep(100);
        return { refreshToken: 'refresh-2', expiresAt: new Date(Date.now() + 3_600_000) };
      };

      await Promise.all([rotation.rotate('jira', 'tenant-a', refresh), rotation.rotate('jira', 'tenant-a', refresh)]);

      expect(refreshes).toBe(1);
      const text = await sut.render();
      expect(sample(text, 'agent_core_rotation_lease_wait_seconds_count{outcome="acquired"}')).toBe(1);
      expect(sample(text, 'agent_core_rotation_lease_wait_seconds_count{outcome="refreshed_elsewhere"}')).toBe(1);
    });

    it('records the lease wait of rotate calls that needed the lease, by how the wait ended', async () => {
      // A second store on the same database file stands for another process: this store must
      // wait for the lease that one holds, not for a turn in memory.
      const dir = mkdtempSync(join(tmpdir(), 'agent-core-lease-metrics-'));
      const config = testConfig({ DATABASE_PATH: join(dir, 'agent-core.sqlite') });
      const measured = await withConfig(
        Test.createTestingModule({ imports: [DatabaseModule, AtlassianModule, MetricsModule] }),
        config,
      ).compile();
      const elsewhere = await withConfig(
        Test.createTestingModule({ imports: [DatabaseModule, AtlassianModule] }),
        config,
      ).compile();
      try {
        const mine = measured.get(AtlassianOauthRotationService);
        const theirs = elsewhere.get(AtlassianOauthRotationService);
        const metrics = measured.get(AgentCoreMetrics);
        await measured
          .get(AtlassianOauthStateRepo)
          .upsert('jira', 'tenant-a', { refreshToken: 'refresh-1', expiresAt: new Date(0) });
        let refreshes = 0;
        const slowRefresh = async () => {
          refreshes++;
          await sleep(300);
          return { refreshToken: `refresh-${refreshes + 1}`, expiresAt: new Date(Date.now() + 3_600_000) };
        };
        let leaseTaken!: () => void;
        const taken = new Promise<void>((resolve) => (leaseTaken = resolve));

        const theirRotate = theirs.rotate('jira', 'tenant-a', async () => {
          leaseTaken();
          return slowRefresh();
        });
        await taken;
        await expect(mine.rotate('jira', 'tenant-a', slowRefresh)).resolves.toMatchObject({
          refreshToken: 'refresh-2',
        });
        await theirRotate;
        await mine.rotate('jira', 'tenant-a', slowRefresh, { minValidityMs: Infinity });

        expect(refreshes).toBe(2);
        const text = await metrics.render();
        expect(sample(text, 'agent_core_rotation_lease_wait_seconds_count{outcome="refreshed_elsewhere"}')).toBe(1);
        expect(
          sample(text, 'agent_core_rotation_lease_wait_seconds_sum{outcome="refreshed_elsewhere"}'),
        ).toBeGreaterThan(0.1);
        expect(sample(text, 'agent_core_rotation_lease_wait_seconds_count{outcome="acquired"}')).toBe(1);
        expect(sample(text, 'agent_core_rotation_lease_wait_seconds_count{outcome="timeout"}')).toBeUndefined();
      } finally {
        await measured.close();
        await elsewhere.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
