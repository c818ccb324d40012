import { randomBytes } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { NestFactory } from '@nestjs/core';
import { Test, TestingModule } from '@nestjs/testing';
import { AppModule } from '../../src/app.module';
import { AtlassianModule } from '../../src/atlassian/atlassian.module';
import { AtlassianOauthStateRepo } from '../../src/atlassian/atlassian-oauth-state.repo';
import { runCli } from '../../src/cli/cli';
import { DatabaseModule } from '../../src/database/database.module';
import { TokenCipher } from '../../src/token-cipher/token-cipher';
import { DatabaseConfig, databaseConfig } from '../../src/config/database.config';
import { TOKEN_KEY_RING_PARSED_CHANNEL } from '../../src/config/token-encryption.config';

const KEYS = `k1:${randomBytes(32).toString('base64')}`;

/** Runs `work` and resolves with how many key rings were parsed meanwhile, in this process. */
async function keyRingsParsedDuring(work: () => Promise<void>): Promise<number> {
  let parsed = 0;
  const listener = (): void => void parsed++;
  subscribe(TOKEN_KEY_RING_PARSED_CHANNEL, listener);
  try {
    await work();
  } finally {
    unsubscribe(TOKEN_KEY_RING_PARSED_CHANNEL, listener);
  }
  return parsed;
}

describe('the configuration is read once per process', () => {
  let dir: string;
  let databasePath: string;
  const saved = { ...process.env };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'agent-core-config-'));
    databasePath = join(dir, 'agent-core.sqlite');
  });

  afterEach(() => {
    process.env = { ...saved };
    rmSync(dir, { recursive: true, force: true });
  });

  describe('from process.env, when the application boots', () => {
    beforeEach(() => {
      process.env = { ...saved, NODE_ENV: 'test', DATABASE_PATH: databasePath, OAUTH_STATE_ENCRYPTION_KEYS: KEYS };
      delete process.env.DATABASE_URL;
    });

    it('configures a module that imports only DatabaseModule and AtlassianModule, parsing the key ring once', async () => {
      let moduleRef: TestingModule | undefined;
      const parsed = await keyRingsParsedDuring(async () => {
        moduleRef = await Test.createTestingModule({ imports: [DatabaseModule, AtlassianModule] }).compile();
      });
      if (!moduleRef) {
        throw new Error('not booted');
      }
      try {
        expect(parsed).toBe(1);
        expect(moduleRef.get<DatabaseConfig>(databaseConfig.KEY)).toMatchObject({ database: databasePath });
        expect(moduleRef.get(TokenCipher).activeKeyId).toBe('k1');
        await expect(
          moduleRef.get(AtlassianOauthStateRepo).upsert('jira', 'tenant-a', { refreshToken: 'refresh-a' }),
        ).resolves.toMatchObject({ refreshToken: 'refresh-a' });
      } finally {
        await moduleRef.close();
      }
    });

    it('parses it once for the whole AppModule, as `npm start` boots it', async () => {
      const parsed = await keyRingsParsedDuring(async () => {
        const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
        await app.close();
      });

      expect(parsed).toBe(1);
    });
  });

  describe('by the CLI, from the environment it is given', () => {
    const run = async (args: string[]): Promise<{ code: number; stderr: string }> => {
      let stderr = '';
      const err = new PassThrough().on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await runCli(args, {
        stdout: new PassThrough(),
        stderr: err,
        stdin: Readable.from([]),
        env: { DATABASE_PATH: databasePath, OAUTH_STATE_ENCRYPTION_KEYS: KEYS },
        now: () => new Date(),
      });
      return { code, stderr };
    };

    beforeEach(() => {
      // What the CLI must not read: its configuration comes from the environment it is handed.
      process.env = { ...saved, DATABASE_PATH: join(dir, 'not-this.sqlite'), OAUTH_STATE_ENCRYPTION_KEYS: 'broken' };
    });

    it.each([['put', 'jira', 'tenant-a', '--refresh-token', 'refresh-a'], ['list'], ['reencrypt']])(
      'parses the key ring once for `%s`, checks and boots on that one configuration',
      async (...args) => {
        await run(['put', 'jira', 'tenant-a', '--refresh-token', 'refresh-a']);
        let result: { code: number; stderr: string } | undefined;

        const parsed = await keyRingsParsedDuring(async () => {
          result = await run(args);
        });

        expect(result).toEqual({ code: 0, stderr: '' });
        expect(parsed).toBe(1);
      },
    );
  });
});
