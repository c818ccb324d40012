import { Test, TestingModule } from '@nestjs/testing';
import {
  AtlassianOauthStateRepo,
  AtlassianOauthTokenEndpointError,
  AtlassianOauthTokenService,
  AtlassianOauthTokensModule,
} from '../src/atlassian';
import { ATLASSIAN_OAUTH_SETTINGS } from '../src/atlassian/client/atlassian-oauth-client.options';
import { DatabaseModule } from '../src/database/database.module';
import { atlassianSettings, testConfig, withConfig } from './support/config';
import { FileDatabase, openFileDatabase } from './support/file-database';
import { rejection } from './support/rejection';
import { ScriptedHttpServer, startScriptedHttpServer } from './support/scripted-http-server';

const PLATFORM = 'jira';
const TENANT = 'acme';

/**
 * Issue #27: a refresh that fails records its cooldown before it gives the refresh lease back, so
 * a caller of another instance waiting for that lease finds the cooldown and sends nothing. Were
 * the cooldown recorded after the release, the waiting caller would take the lease, read a state
 * that still needs a refresh, and send a second request inside the server's Retry-After.
 */
describe('a failed refresh and the callers of another instance waiting for its lease', () => {
  let database: FileDatabase;
  let endpoint: ScriptedHttpServer;
  const instances: TestingModule[] = [];

  /** Another instance of the service on the same SQLite file: its own token service, in-process queue and lease holder. */
  async function instance(): Promise<AtlassianOauthTokenService> {
    const moduleRef = await withConfig(
      Test.createTestingModule({ imports: [DatabaseModule, AtlassianOauthTokensModule] }),
      testConfig({ DATABASE_PATH: database.path }),
    )
      .overrideProvider(ATLASSIAN_OAUTH_SETTINGS)
      .useValue(
        atlassianSettings({
          clientId: 'client-1',
          clientSecret: 'secret-1',
          tokenUrl: endpoint.url,
          tokenEndpointTimeoutMs: 5_000,
          refreshCooldownMs: 60_000,
        }),
      )
      .compile();
    await moduleRef.init();
    instances.push(moduleRef);
    return moduleRef.get(AtlassianOauthTokenService);
  }

  beforeEach(async () => {
    database = await openFileDatabase('agent-core-failure-ordering-');
    endpoint = await startScriptedHttpServer();
  });
  afterEach(async () => {
    for (const moduleRef of instances.splice(0)) {
      await moduleRef.close();
    }
    await endpoint.close();
    await database.close();
  });

  it('the second instance, waiting while the first one is refused with 503 and Retry-After, sends no request of its own', async () => {
    await database.moduleRef
      .get(AtlassianOauthStateRepo)
      .upsert(PLATFORM, TENANT, { accessToken: 'expired-access', refreshToken: 'refresh-1', expiresAt: new Date(0) });
    // Slow enough for the second instance to start waiting for the lease while the first one's request is out.
    endpoint.script({ status: 503, headers: { 'retry-after': '120' }, body: 'busy', delayMs: 1_000 });
    const [first, second] = [await instance(), await instance()];

    const firstCall = rejection(first.accessToken(PLATFORM, TENANT));
    // The first instance holds the lease once its request is out.
    for (const deadline = Date.now() + 5_000; endpoint.requests.length === 0 && Date.now() < deadline;) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(endpoint.requests.length).toBe(1);
    const secondCall = rejection(second.accessToken(PLATFORM, TENANT));

    const [firstError, secondError] = await Promise.all([firstCall, secondCall]);
    expect(firstError).toBeInstanceOf(AtlassianOauthTokenEndpointError);
    expect(firstError).toMatchObject({ status: 503, retryAfterMs: 120_000 });
    // The second one met the recorded cooldown: the server's 120 s, not a request of its own.
    expect(secondError).toBeInstanceOf(AtlassianOauthTokenEndpointError);
    expect(endpoint.requests.length).toBe(1);
    await expect(rejection(second.accessToken(PLATFORM, TENANT))).resolves.toBeInstanceOf(
      AtlassianOauthTokenEndpointError,
    );
    expect(endpoint.requests.length).toBe(1);
  });
});
