import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { Test, TestingModule } from '@nestjs/testing';
import { testConfig, withConfig } from '../support/config';
import { AtlassianOauthStateRepo } from '../../src/atlassian/atlassian-oauth-state.repo';
import { AtlassianModule } from '../../src/atlassian/atlassian.module';
import { DatabaseModule } from '../../src/database/database.module';
import { secureSqliteFile } from '../../src/database/sqlite-file-permissions';

const modeOf = (path: string): string => (statSync(path).mode & 0o777).toString(8).padStart(4, '0');

describe(secureSqliteFile.name, () => {
  let dir: string;
  let moduleRef: TestingModule | undefined;
  let umask: number;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'agent-core-modes-'));
    umask = process.umask();
  });

  afterEach(async () => {
    await moduleRef?.close();
    moduleRef = undefined;
    process.umask(umask);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Boots the application's database on `path` and writes one state, so that SQLite creates -wal and -shm. */
  const bootAndWrite = async (path: string): Promise<void> => {
    moduleRef = await withConfig(
      Test.createTestingModule({ imports: [DatabaseModule, AtlassianModule] }),
      testConfig({ DATABASE_PATH: path }),
    ).compile();
    await moduleRef.get(AtlassianOauthStateRepo).upsert('jira', 'tenant-a', { refreshToken: 'refresh-a' });
  };

  it.each([
    ['022', 0o022],
    ['000', 0o000],
    ['002', 0o002],
  ])('creates the folders 0700 and the database, -wal and -shm 0600 under umask %s', async (_umask, mask) => {
    process.umask(mask);
    const path = join(dir, 'data', 'nested', 'agent-core.sqlite');

    await bootAndWrite(path);

    expect(modeOf(join(dir, 'data'))).toBe('0700');
    expect(modeOf(join(dir, 'data', 'nested'))).toBe('0700');
    for (const file of [path, `${path}-wal`, `${path}-shm`]) {
      expect(modeOf(file)).toBe('0600');
    }
    // The temp folder it did not create is left as it was.
    expect(modeOf(dir)).toBe('0700');
  });

  it('warns at boot, naming the path, about an existing file others can read, and leaves its mode alone', async () => {
    const path = join(dir, 'agent-core.sqlite');
    writeFileSync(path, '');
    chmodSync(path, 0o644);
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);

    try {
      await bootAndWrite(path);

      expect(warn).toHaveBeenCalledWith(
        `The SQLite file ${JSON.stringify(path)} can be read by other accounts on this host (mode 0644); it holds the OAuth tokens. Restrict it with chmod 600 (and its folder with chmod 700).`,
      );
    } finally {
      warn.mockRestore();
    }
    expect(modeOf(path)).toBe('0644');
  });

  it('says nothing about an existing owner-only file', () => {
    const path = join(dir, 'agent-core.sqlite');
    writeFileSync(path, '', { mode: 0o600 });
    const logger = { warn: jest.fn() };

    secureSqliteFile(path, logger);

    expect(logger.warn).not.toHaveBeenCalled();
  });
});
