import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { format, stripVTControlCharacters } from 'node:util';
import { ConsoleLogger } from '@nestjs/common';
import { Test, TestingModule } from '@nestjs/testing';
import { getDataSourceToken } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppModule } from '../src/app.module';
import {
  AtlassianOauthReencryptionService,
  AtlassianOauthStateConflictError,
  AtlassianOauthStateRepo,
  TokenEncryptionConfigError,
} from '../src/atlassian';
import { PLAINTEXT_WARNING } from '../src/token-cipher/token-cipher.module';
import { newTokenKey, setEnv } from './support/env';
import { PLATFORM, startWorker } from './support/store-processes';

const ROOT = join(__dirname, '..');
const KEY_1 = newTokenKey();
const KEY_2 = newTokenKey();
const SHORT_KEY = newTokenKey().slice(0, 24);

/** A Nest logger that keeps what it is given (the default testing logger drops warnings). */
class CapturingLogger extends ConsoleLogger {
  readonly lines: string[] = [];

  override log(message: unknown): void {
    this.lines.push(`log ${String(message)}`);
  }
  override warn(message: unknown): void {
    this.lines.push(`warn ${String(message)}`);
  }
  override error(message: unknown): void {
    this.lines.push(`error ${String(message)}`);
  }
}

describe('token encryption in the whole application', () => {
  let dir: string;
  let restoreEnv: () => void;
  let moduleRef: TestingModule | undefined;

  const compile = async (logger?: CapturingLogger): Promise<TestingModule> => {
    const builder = Test.createTestingModule({ imports: [AppModule] });
    moduleRef = await (logger ? builder.setLogger(logger) : builder).compile();
    return moduleRef;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'agent-core-tokens-'));
    restoreEnv = setEnv({
      DATABASE_PATH: join(dir, 'agent-core.sqlite'),
      OAUTH_STATE_ENCRYPTION_KEYS: undefined,
      OAUTH_STATE_ALLOW_PLAINTEXT: undefined,
      OAUTH_STATE_ACCEPT_PLAINTEXT_ROWS: undefined,
      DATABASE_LOGGING: undefined,
      NODE_ENV: 'test',
    });
  });

  afterEach(async () => {
    await moduleRef?.close();
    moduleRef = undefined;
    restoreEnv();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('boot', () => {
    it.each([
      ['a key that is not 32 bytes', `k1:${KEY_1},k2:${SHORT_KEY}`, /key "k2" is 18 bytes/],
      [
        'a key that is not base64',
        `k1:${KEY_1.replace(/[+/]/g, '').slice(0, 30)}#${KEY_1.slice(31)}`,
        /key "k1" is not valid base64/,
      ],
      ['a duplicate key id', `k1:${KEY_1},k1:${KEY_2}`, /key "k1" is listed twice/],
      ['an empty key id', `:${KEY_1}`, /entry #1 has an empty key id/],
    ])('fails for %s, naming the key id and no key material', async (_case, keys, message) => {
      process.env.OAUTH_STATE_ENCRYPTION_KEYS = keys;

      const booting = compile();

      await expect(booting).rejects.toBeInstanceOf(TokenEncryptionConfigError);
      const error = (await booting.catch((e: unknown) => e)) as Error;
      expect(error.message).toMatch(message);
      for (const material of [KEY_1, KEY_2, SHORT_KEY, KEY_1.slice(0, 12), KEY_1.slice(31)]) {
        expect(error.message).not.toContain(material);
      }
    });

    it('fails in production without keys', async () => {
      process.env.NODE_ENV = 'production';

      await expect(compile()).rejects.toThrow(TokenEncryptionConfigError);
      await expect(compile()).rejects.toThrow(/NODE_ENV=production needs OAUTH_STATE_ENCRYPTION_KEYS/);
    });

    it('boots in production without keys only with OAUTH_STATE_ALLOW_PLAINTEXT=true, warning once', async () => {
      process.env.NODE_ENV = 'production';
      process.env.OAUTH_STATE_ALLOW_PLAINTEXT = 'true';
      const logger = new CapturingLogger();

      await compile(logger);

      expect(logger.lines.filter((line) => line.startsWith('warn'))).toEqual([`warn ${PLAINTEXT_WARNING}`]);
    });

    it('warns exactly once without keys outside production, and stores plaintext', async () => {
      const logger = new CapturingLogger();

      const app = await compile(logger);
      await app.init();

      expect(logger.lines.filter((line) => line.includes('plaintext'))).toEqual([`warn ${PLAINTEXT_WARNING}`]);
      await app.get(AtlassianOauthStateRepo).upsert('jira', 'tenant-a', { refreshToken: 'refresh-plain' });
      const raw = await app
        .get<DataSource>(getDataSourceToken())
        .query<{ refreshToken: string }[]>('SELECT refreshToken FROM atlassian_oauth_state');
      expect(raw).toEqual([{ refreshToken: 'refresh-plain' }]);
    });

    it('does not warn with keys', async () => {
      process.env.OAUTH_STATE_ENCRYPTION_KEYS = `k1:${KEY_1}`;
      const logger = new CapturingLogger();

      await compile(logger);

      expect(logger.lines.filter((line) => line.startsWith('warn'))).toEqual([]);
    });

    it('makes the service process exit 1 in production without keys, saying why', async () => {
      const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'production', NO_COLOR: '1' };
      const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/main.ts'], {
        cwd: ROOT,
        env,
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));

      const code = await new Promise<number | null>((resolve) => child.once('close', resolve));

      expect(code).toBe(1);
      expect(output).toContain('Boot failed: NODE_ENV=production needs OAUTH_STATE_ENCRYPTION_KEYS');
      expect(output).not.toContain('agent-core is running');
    });
  });

  describe.each([
    ['with a key', `k1:${KEY_1}`],
    ['in plaintext mode', undefined],
  ])('query logging (DATABASE_LOGGING=true) %s', (_mode, keys) => {
    let printed: string[];

    beforeEach(() => {
      printed = [];
      process.env.OAUTH_STATE_ENCRYPTION_KEYS = keys;
      if (keys === undefined) {
        delete process.env.OAUTH_STATE_ENCRYPTION_KEYS;
      }
      process.env.DATABASE_LOGGING = 'true';
      for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
        jest.spyOn(console, method).mockImplementation((...args: unknown[]) => void printed.push(format(...args)));
      }
      for (const stream of [process.stdout, process.stderr]) {
        jest.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => printed.push(String(chunk)) > 0);
      }
    });

    afterEach(() => {
      jest.restoreAllMocks();
    });

    it('logs the queries of upsert, get, a conflict and reencryptAll without any token value, plaintext or sealed', async () => {
      const app = await compile();
      const repo = app.get(AtlassianOauthStateRepo);
      const tokens = { accessToken: 'access-LOGGED-SECRET', refreshToken: 'refresh-LOGGED-SECRET' };

      await repo.upsert(PLATFORM, 'tenant-a', tokens);
      await repo.get(PLATFORM, 'tenant-a');
      await expect(
        repo.upsert(PLATFORM, 'tenant-a', { refreshToken: 'refresh-LOGGED-OTHER' }, { expectedRefreshToken: null }),
      ).rejects.toBeInstanceOf(AtlassianOauthStateConflictError);
      await repo.upsert(
        PLATFORM,
        'tenant-a',
        { ...tokens, refreshToken: 'refresh-LOGGED-ROTATED' },
        { expectedRefreshToken: tokens.refreshToken },
      );
      if (keys !== undefined) {
        await app.get(AtlassianOauthReencryptionService).reencryptAll();
      }
      const raw = await app
        .get<DataSource>(getDataSourceToken())
        .query<{ accessToken: string; refreshToken: string }[]>(
          'SELECT accessToken, refreshToken FROM atlassian_oauth_state',
        );
      jest.restoreAllMocks();

      // TypeORM highlights SQL in colour when supports-color says so (e.g. under CI=true): compare the text.
      const log = stripVTControlCharacters(printed.join('\n'));
      expect(log).toMatch(/INSERT INTO "atlassian_oauth_state"/);
      expect(log).toMatch(/SELECT .*"atlassian_oauth_state"/);
      expect(log).toMatch(/query failed/);
      expect(log).toMatch(/parameters redacted/);
      expect(log).not.toContain('LOGGED');
      for (const value of raw.flatMap((row) => [row.accessToken, row.refreshToken])) {
        expect(log).not.toContain(value);
        // Not even a piece of a ciphertext or a tag.
        for (const part of value.split(':').filter((p) => p.length >= 16)) {
          expect(log).not.toContain(part);
        }
      }
    });
  });

  describe('reencryptAll killed in the middle (a separate OS process, SIGKILL)', () => {
    const ROWS = 600;

    it('leaves every row readable, and a re-run finishes the job', async () => {
      // Legacy plaintext rows, written in one transaction for speed.
      const app = await compile();
      const dataSource = app.get<DataSource>(getDataSourceToken());
      await dataSource.transaction(async (manager) => {
        for (let i = 0; i < ROWS; i++) {
          await manager.query(
            `INSERT INTO atlassian_oauth_state (id, platform, tenant_id, accessToken, refreshToken, updatedAt) VALUES (?, ?, ?, ?, ?, datetime('now'))`,
            [
              `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
              PLATFORM,
              `tenant-${i}`,
              `access-${i}`,
              `refresh-${i}`,
            ],
          );
        }
      });
      await app.close();
      moduleRef = undefined;
      // Sealing legacy plaintext rows is the migration window: they are read only under this setting.
      process.env.OAUTH_STATE_ENCRYPTION_KEYS = `k1:${KEY_1}`;
      process.env.OAUTH_STATE_ACCEPT_PLAINTEXT_ROWS = 'true';
      const databasePath = process.env.DATABASE_PATH ?? '';

      const worker = startWorker(databasePath, 'reencrypt', { batchSize: 10 });
      await expect(worker.event('progress')).resolves.toMatchObject({ processed: 10, total: ROWS });
      worker.kill('SIGKILL');

      await expect(worker.exit).resolves.toMatchObject({ signal: 'SIGKILL' });
      const rebooted = await compile();
      const repo = rebooted.get(AtlassianOauthStateRepo);
      const reencryption = rebooted.get(AtlassianOauthReencryptionService);
      for (const i of [0, 9, 10, 299, ROWS - 1]) {
        await expect(repo.get(PLATFORM, `tenant-${i}`)).resolves.toMatchObject({
          accessToken: `access-${i}`,
          refreshToken: `refresh-${i}`,
        });
      }
      const rerun = await reencryption.reencryptAll({ batchSize: 100 });
      expect(rerun.failed).toBe(0);
      expect(rerun.sealed).toBe(0);
      expect(rerun.legacyPlaintext + rerun.alreadyCurrent).toBe(ROWS);
      // The killed run had finished at least its first batch; and it did not get far.
      expect(rerun.alreadyCurrent).toBeGreaterThanOrEqual(10);
      expect(rerun.legacyPlaintext).toBeGreaterThan(0);
      await expect(reencryption.reencryptAll({ batchSize: 100 })).resolves.toEqual({
        sealed: 0,
        legacyPlaintext: 0,
        alreadyCurrent: ROWS,
        failed: 0,
      });
      for (const i of [0, 9, 10, 299, ROWS - 1]) {
        await expect(repo.get(PLATFORM, `tenant-${i}`)).resolves.toMatchObject({
          accessToken: `access-${i}`,
          refreshToken: `refresh-${i}`,
        });
      }
    });
  });
});
