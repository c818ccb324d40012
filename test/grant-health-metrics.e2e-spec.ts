import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Test, TestingModule } from '@nestjs/testing';
import { getDataSourceToken } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AtlassianModule, AtlassianOauthStateEntity, AtlassianOauthStateRepo } from '../src/atlassian';
import { DatabaseModule } from '../src/database/database.module';
import { AgentCoreMetrics } from '../src/metrics/agent-core-metrics';
import { MetricsModule } from '../src/metrics/metrics.module';
import { testConfig, withConfig } from './support/config';
import { ScriptedHttpServer, json, startScriptedHttpServer } from './support/scripted-http-server';

const ROOT = join(__dirname, '..');
const DAY_MS = 24 * 3_600_000;

/** The value of one series in Prometheus's text format, or undefined when it is not exposed. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** The three samples of `agent_core_atlassian_grants`. */
function grants(text: string): Record<string, number | undefined> {
  return Object.fromEntries(
    ['ok', 'refresh_failing', 'needs_reconnect'].map((health) => [
      health,
      sample(text, `agent_core_atlassian_grants{health="${health}"}`),
    ]),
  );
}

/** Runs `agent-core keep-alive` from the sources as its own OS process on `database`. */
function keepAlive(database: string, tokenUrl: string): Promise<number | null> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_PATH: database,
    ATLASSIAN_CLIENT_ID: 'client',
    ATLASSIAN_CLIENT_SECRET: 'secret',
    ATLASSIAN_OAUTH_TOKEN_URL: tokenUrl,
  };
  delete env.NODE_ENV;
  delete env.DATABASE_URL;
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/cli/main.ts', 'keep-alive'], {
    cwd: ROOT,
    env,
    stdio: 'ignore',
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
}

describe('agent_core_atlassian_grants: grants by health, counted in the database at scrape time', () => {
  let dir: string;
  let path: string;
  let endpoint: ScriptedHttpServer;
  let moduleRef: TestingModule;
  let metrics: AgentCoreMetrics;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'agent-core-grant-metrics-'));
    path = join(dir, 'agent-core.sqlite');
    endpoint = await startScriptedHttpServer();
    // The service's side: the store and the metrics it serves, on the file the CLI writes to too.
    moduleRef = await withConfig(
      Test.createTestingModule({ imports: [DatabaseModule, AtlassianModule, MetricsModule] }),
      testConfig({ DATABASE_PATH: path }),
    ).compile();
    await moduleRef.init();
    metrics = moduleRef.get(AgentCoreMetrics);
  });
  afterEach(async () => {
    await moduleRef.close();
    await endpoint.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const makeIdle = (tenantId: string) =>
    moduleRef
      .get<DataSource>(getDataSourceToken())
      .getRepository(AtlassianOauthStateEntity)
      .update({ platform: 'jira', tenantId }, { updatedAt: new Date(Date.now() - 40 * DAY_MS) });

  it("counts the failures and revocations another process (the CLI's keep-alive) recorded", async () => {
    const states = moduleRef.get(AtlassianOauthStateRepo);
    for (const tenantId of ['fine', 'down', 'gone']) {
      await states.upsert('jira', tenantId, { refreshToken: `refresh-of-${tenantId}` });
    }
    const before = grants(await metrics.render());

    await makeIdle('down');
    endpoint.script({ status: 503 });
    await expect(keepAlive(path, endpoint.url)).resolves.toBe(1);
    await makeIdle('gone');
    // 'down' is in its cooldown (30 s): only 'gone' reaches the endpoint, and is revoked.
    endpoint.script(json(400, { error: 'invalid_grant' }));
    await expect(keepAlive(path, endpoint.url)).resolves.toBe(1);
    const text = await metrics.render();

    expect(endpoint.requests).toHaveLength(2);
    expect(before).toEqual({ ok: 3, refresh_failing: 0, needs_reconnect: 0 });
    expect(grants(text)).toEqual({ ok: 1, refresh_failing: 1, needs_reconnect: 1 });
    expect(text).not.toMatch(/refresh-of-|tenant_id=/);

    // A reconnect (a new state stored for the key) makes it ok again, with nothing else to clear.
    await states.upsert('jira', 'gone', { refreshToken: 'refresh-of-gone-2' });
    await expect(metrics.render().then(grants)).resolves.toEqual({ ok: 2, refresh_failing: 1, needs_reconnect: 0 });
  }, 180_000);

  it('shows no grant sample while the database does not answer, rather than a stale count', async () => {
    await moduleRef.get(AtlassianOauthStateRepo).upsert('jira', 'fine', { refreshToken: 'refresh-of-fine' });
    await expect(metrics.render().then(grants)).resolves.toEqual({ ok: 1, refresh_failing: 0, needs_reconnect: 0 });

    await moduleRef.get<DataSource>(getDataSourceToken()).query('DROP TABLE atlassian_oauth_refresh_health');
    const text = await metrics.render();

    expect(grants(text)).toEqual({ ok: undefined, refresh_failing: undefined, needs_reconnect: undefined });
    expect(text).toContain('# TYPE agent_core_atlassian_grants gauge');
  });
});
