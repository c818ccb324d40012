import { Test, TestingModule } from '@nestjs/testing';
import { getDataSourceToken } from '@nestjs/typeorm';
import { DataSource, Logger as TypeOrmLogger, QueryRunner } from 'typeorm';
import {
  AtlassianOauthRotationService,
  AtlassianOauthStateRepo,
  AtlassianOauthTokenService,
  AtlassianOauthTokensModule,
} from '../src/atlassian';
import { ATLASSIAN_OAUTH_SETTINGS } from '../src/atlassian/client/atlassian-oauth-client.options';
import { DatabaseModule } from '../src/database/database.module';
import { atlassianSettings, withConfig } from './support/config';
import { OauthTestServer, startOauthServer } from './support/oauth-server';
import { RepoTestEngine, repoTestEngines } from './support/repo-test-engines';

/** The most statements one refresh may send, lease included (issue 25; the README says so too). */
export const MAX_STATEMENTS_PER_REFRESH = 6;

const PLATFORM = 'jira';

/**
 * Wraps the connection's own logger: every statement TypeORM sends through a query runner is
 * counted (its SQL text kept, never its parameters), then passed on.
 */
class CountingLogger implements TypeOrmLogger {
  readonly statements: string[] = [];

  constructor(private readonly inner: TypeOrmLogger) {}

  logQuery(query: string, parameters?: unknown[], queryRunner?: QueryRunner): void {
    this.statements.push(query);
    this.inner.logQuery(query, parameters, queryRunner);
  }
  logQueryError(error: string | Error, query: string, parameters?: unknown[], queryRunner?: QueryRunner): void {
    this.inner.logQueryError(error, query, parameters, queryRunner);
  }
  logQuerySlow(time: number, query: string, parameters?: unknown[], queryRunner?: QueryRunner): void {
    this.inner.logQuerySlow(time, query, parameters, queryRunner);
  }
  logSchemaBuild(message: string, queryRunner?: QueryRunner): void {
    this.inner.logSchemaBuild(message, queryRunner);
  }
  logMigration(message: string, queryRunner?: QueryRunner): void {
    this.inner.logMigration(message, queryRunner);
  }
  log(level: 'log' | 'info' | 'warn', message: unknown, queryRunner?: QueryRunner): void {
    this.inner.log(level, message, queryRunner);
  }
}

describe.each(repoTestEngines())('statements of one refresh (%s)', (_name: string, engine: RepoTestEngine) => {
  let server: OauthTestServer;
  let moduleRef: TestingModule;
  let tokens: AtlassianOauthTokenService;
  let states: AtlassianOauthStateRepo;
  let rotation: AtlassianOauthRotationService;
  let counting: CountingLogger;
  let tenant = 0;

  beforeAll(async () => {
    await engine.setUp();
    server = await startOauthServer();
    moduleRef = await withConfig(
      Test.createTestingModule({ imports: [DatabaseModule, AtlassianOauthTokensModule] }),
      engine.config(),
    )
      .overrideProvider(ATLASSIAN_OAUTH_SETTINGS)
      .useValue(atlassianSettings(server.settings))
      .compile();
    await moduleRef.init();
    const dataSource = moduleRef.get<DataSource>(getDataSourceToken());
    await engine.reset(dataSource);
    counting = new CountingLogger(dataSource.logger);
    // Every query runner reads the connection's logger when it logs, so swapping it counts them all.
    (dataSource as { logger: TypeOrmLogger }).logger = counting;
    tokens = moduleRef.get(AtlassianOauthTokenService);
    states = moduleRef.get(AtlassianOauthStateRepo);
    rotation = moduleRef.get(AtlassianOauthRotationService);
  }, 60_000);
  afterAll(async () => {
    await moduleRef?.close();
    await server?.stop();
    await engine.tearDown();
  });

  /** A tenant connected through the service, its access token expired: the next `accessToken` must refresh. */
  async function expiredGrant(): Promise<{ tenantId: string; accessToken: string }> {
    const tenantId = `tenant-${++tenant}`;
    const { code } = await server.mintGrant();
    const connected = await tokens.connect(PLATFORM, tenantId, code, server.redirectUri).catch(async () => {
      // `connect` also reads the grant's sites; the tokens are stored even when that fails.
      return (await states.get(PLATFORM, tenantId))!;
    });
    await states.upsert(PLATFORM, tenantId, { ...connected, expiresAt: new Date(Date.now() - 1_000) });
    return { tenantId, accessToken: connected.accessToken! };
  }

  it(`accessToken of an expired grant refreshes it in at most ${MAX_STATEMENTS_PER_REFRESH} statements, lease included`, async () => {
    const { tenantId, accessToken } = await expiredGrant();
    await server.resetStats();
    counting.statements.length = 0;

    const fresh = await tokens.accessToken(PLATFORM, tenantId);

    const sent = [...counting.statements];
    expect(fresh).not.toBe(accessToken);
    await expect(server.stats()).resolves.toMatchObject({ tokenRequests: 1 });
    await expect(states.get(PLATFORM, tenantId)).resolves.toMatchObject({ accessToken: fresh });
    // The lease was taken and given back within the call.
    expect(sent.some((sql) => /atlassian_oauth_refresh_lease/.test(sql))).toBe(true);
    process.stdout.write(`${engine.name}: ${sent.length} statements per refresh\n`);
    expect(sent.length).toBeLessThanOrEqual(MAX_STATEMENTS_PER_REFRESH);
  });

  it('accessToken of a valid grant reads once', async () => {
    const { tenantId } = await expiredGrant();
    await tokens.accessToken(PLATFORM, tenantId);
    counting.statements.length = 0;

    await tokens.accessToken(PLATFORM, tenantId);

    expect(counting.statements).toHaveLength(1);
  });

  it(`accessToken with a refused token refreshes it in at most ${MAX_STATEMENTS_PER_REFRESH} statements`, async () => {
    const { tenantId } = await expiredGrant();
    const current = await tokens.accessToken(PLATFORM, tenantId);
    await server.resetStats();
    counting.statements.length = 0;

    const fresh = await tokens.accessToken(PLATFORM, tenantId, { refused: current });

    expect(fresh).not.toBe(current);
    await expect(server.stats()).resolves.toMatchObject({ tokenRequests: 1 });
    expect(counting.statements.length).toBeLessThanOrEqual(MAX_STATEMENTS_PER_REFRESH);
  });

  it(`the keep-alive's refreshIdle refreshes an idle grant in at most ${MAX_STATEMENTS_PER_REFRESH} statements`, async () => {
    const { tenantId } = await expiredGrant();
    await server.resetStats();
    counting.statements.length = 0;

    await expect(tokens.refreshIdle(PLATFORM, tenantId, new Date(Date.now() + 60_000))).resolves.toBe('refreshed');

    await expect(server.stats()).resolves.toMatchObject({ tokenRequests: 1 });
    expect(counting.statements.length).toBeLessThanOrEqual(MAX_STATEMENTS_PER_REFRESH);
  });

  it(`rotate with a refresh of its caller's own stores it in at most ${MAX_STATEMENTS_PER_REFRESH} statements`, async () => {
    const tenantId = `tenant-${++tenant}`;
    await states.upsert(PLATFORM, tenantId, { refreshToken: 'r-1', accessToken: 'a-1', expiresAt: new Date(0) });
    counting.statements.length = 0;

    const rotated = await rotation.rotate(PLATFORM, tenantId, () =>
      Promise.resolve({ refreshToken: 'r-2', accessToken: 'a-2', expiresAt: new Date(Date.now() + 3_600_000) }),
    );

    expect(rotated).toMatchObject({ refreshToken: 'r-2', accessToken: 'a-2' });
    await expect(states.get(PLATFORM, tenantId)).resolves.toMatchObject({ refreshToken: 'r-2' });
    expect(counting.statements.length).toBeLessThanOrEqual(MAX_STATEMENTS_PER_REFRESH);
  });
});
