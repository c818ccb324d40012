import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { AppModule } from '../../src/app.module';
import { AtlassianOauthStateRepo } from '../../src/atlassian';
import { testConfig, withConfig } from '../support/config';

describe('AppModule on a database file', () => {
  let dir: string;
  let app: INestApplicationContext | undefined;

  const boot = async (): Promise<INestApplicationContext> => {
    const config = testConfig({ DATABASE_PATH: join(dir, 'nested', 'agent-core.sqlite') });
    const moduleRef = await withConfig(Test.createTestingModule({ imports: [AppModule] }), config).compile();
    return moduleRef.init();
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'agent-core-e2e-'));
  });

  afterEach(async () => {
    await app?.close();
    app = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the stored state across a close and a fresh boot', async () => {
    app = await boot();
    const written = await app.get(AtlassianOauthStateRepo).upsert('jira', 'tenant-e2e', {
      accessToken: 'access-e2e',
      refreshToken: 'refresh-e2e',
      expiresAt: new Date('2031-02-03T04:05:06.789Z'),
    });
    await app.close();

    app = await boot();
    await expect(app.get(AtlassianOauthStateRepo).get('jira', 'tenant-e2e')).resolves.toEqual(written);
    await expect(app.get(AtlassianOauthStateRepo).count()).resolves.toBe(1);
  });
});
