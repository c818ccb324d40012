import { Test, TestingModule } from '@nestjs/testing';
import { AtlassianOauthStateRepo, AtlassianOauthTokenService, AtlassianOauthTokensModule } from '../src/atlassian';
import { DatabaseModule } from '../src/database/database.module';
import { AgentCoreMetrics } from '../src/metrics/agent-core-metrics';
import { MetricsModule } from '../src/metrics/metrics.module';
import { testConfig, withConfig } from './support/config';
import { ScriptedHttpServer, json, startScriptedHttpServer } from './support/scripted-http-server';

const PLATFORM = 'jira';
const TOKENS = { access_token: 'access-2', refresh_token: 'refresh-2', expires_in: 3600, token_type: 'Bearer' };

/** The value of one series in Prometheus's text format, or undefined when it is not exposed. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('refresh metrics of AtlassianOauthTokenService', () => {
  let endpoint: ScriptedHttpServer;
  let moduleRef: TestingModule;
  let sut: AtlassianOauthTokenService;
  let metrics: AgentCoreMetrics;

  beforeAll(async () => {
    endpoint = await startScriptedHttpServer();
  });
  afterAll(() => endpoint.close());

  const boot = async (tenantLabels: boolean): Promise<void> => {
    const config = testConfig({
      ATLASSIAN_CLIENT_ID: 'client',
      ATLASSIAN_CLIENT_SECRET: 'secret',
      ATLASSIAN_OAUTH_TOKEN_URL: endpoint.url,
      ATLASSIAN_OAUTH_AUTHORIZE_URL: 'http://127.0.0.1:9/authorize',
      ATLASSIAN_REFRESH_COOLDOWN_MS: '60000',
      METRICS_TENANT_LABELS: String(tenantLabels),
    });
    moduleRef = await withConfig(
      Test.createTestingModule({ imports: [DatabaseModule, AtlassianOauthTokensModule, MetricsModule] }),
      config,
    ).compile();
    sut = moduleRef.get(AtlassianOauthTokenService);
    metrics = moduleRef.get(AgentCoreMetrics);
    const states = moduleRef.get(AtlassianOauthStateRepo);
    for (const tenantId of ['tenant-ok', 'tenant-down', 'tenant-revoked']) {
      await states.upsert(PLATFORM, tenantId, { refreshToken: `refresh-of-${tenantId}`, expiresAt: new Date(0) });
    }
  };
  afterEach(() => moduleRef.close());

  it('counts refreshed, transient_failure, cooldown and revoked, each where it happens', async () => {
    await boot(false);

    endpoint.script(json(200, TOKENS));
    await expect(sut.accessToken(PLATFORM, 'tenant-ok')).resolves.toBe('access-2');
    endpoint.script({ status: 503 });
    await expect(sut.accessToken(PLATFORM, 'tenant-down')).rejects.toMatchObject({ failure: 'server-error' });
    await expect(sut.accessToken(PLATFORM, 'tenant-down')).rejects.toMatchObject({ failure: 'server-error' });
    await expect(sut.accessToken(PLATFORM, 'tenant-down')).rejects.toMatchObject({ failure: 'server-error' });
    endpoint.script(json(400, { error: 'invalid_grant' }));
    await expect(sut.accessToken(PLATFORM, 'tenant-revoked')).rejects.toThrow();
    // Known revoked: refused without a request, and not a refresh.
    await expect(sut.accessToken(PLATFORM, 'tenant-revoked')).rejects.toThrow();

    const text = await metrics.render();
    expect(endpoint.requests).toHaveLength(3);
    expect(sample(text, 'agent_core_atlassian_refreshes_total{outcome="refreshed"}')).toBe(1);
    expect(sample(text, 'agent_core_atlassian_refreshes_total{outcome="transient_failure"}')).toBe(1);
    expect(sample(text, 'agent_core_atlassian_refreshes_total{outcome="cooldown"}')).toBe(2);
    expect(sample(text, 'agent_core_atlassian_refreshes_total{outcome="revoked"}')).toBe(1);
    expect(text).not.toMatch(/tenant-|refresh-of|access-2/);
  });

  it('labels them with platform and tenant_id when tenant labels are on', async () => {
    await boot(true);

    endpoint.script(json(200, TOKENS));
    await sut.accessToken(PLATFORM, 'tenant-ok');

    await expect(metrics.render()).resolves.toContain(
      'agent_core_atlassian_refreshes_total{outcome="refreshed",platform="jira",tenant_id="tenant-ok"} 1',
    );
  });
});
