import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Test, TestingModule } from '@nestjs/testing';
import { DataSource } from 'typeorm';
import {
  AtlassianModule,
  AtlassianOauthStateRepo,
  DatabaseCorruptError,
  DatabaseUnavailableError,
} from '../src/atlassian';
import { DatabaseConnectionError, SQLITE_RECOVERY_README } from '../src/database/database.errors';
import { DatabaseModule } from '../src/database/database.module';
import { sqliteHandleOf } from '../src/database/sqlite-handle';
import { testConfig, withConfig } from './support/config';
import { InProcessRun, runCliInProcess } from './support/run-cli-in-process';

const JIRA = 'jira';
const ROWS = 300;
const PAGE_BYTES = 4096;

/** Boots the store on the SQLite file at `path`, as the service would with `DATABASE_PATH`. */
async function boot(path: string): Promise<TestingModule> {
  const moduleRef = await withConfig(
    Test.createTestingModule({ imports: [DatabaseModule, AtlassianModule] }),
    testConfig({ DATABASE_PATH: path }),
  ).compile();
  await moduleRef.init();
  return moduleRef;
}

/** Resolves with why booting on `path` failed; fails the test if it booted. */
async function bootError(path: string): Promise<Error> {
  let moduleRef: TestingModule;
  try {
    moduleRef = await boot(path);
  } catch (error) {
    return error as Error;
  }
  await moduleRef.close();
  throw new Error(`booted on ${path}, expected a failure`);
}

/** Runs `agent-core check` in this process on the file at `path`. */
function check(path: string): Promise<InProcessRun> {
  return runCliInProcess(['check'], { DATABASE_PATH: path });
}

/** Writes {@link ROWS} keys into a new database at `path` through the store, and closes it cleanly. */
async function createPopulatedDatabase(path: string): Promise<void> {
  const moduleRef = await boot(path);
  try {
    const repo = moduleRef.get(AtlassianOauthStateRepo);
    for (let i = 0; i < ROWS; i++) {
      await repo.upsert(JIRA, `tenant-${i}`, { refreshToken: `refresh-${i}-${'x'.repeat(200)}` });
    }
  } finally {
    // A clean shutdown checkpoints the write-ahead log into the file, so every row is in it.
    await moduleRef.close();
  }
}

/**
 * Overwrites `pages` whole pages in the middle of the file with a fixed garbage byte (never the
 * first page, which holds the header): what a failing disk or a stray writer leaves behind.
 */
function damageMiddlePages(path: string, pages = 3): void {
  const size = statSync(path).size;
  const totalPages = Math.floor(size / PAGE_BYTES);
  if (totalPages < pages + 4) {
    throw new Error(`the database has only ${totalPages} pages; too small to damage its middle`);
  }
  const first = Math.floor(totalPages / 2);
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, Buffer.alloc(pages * PAGE_BYTES, 0x5a), 0, pages * PAGE_BYTES, first * PAGE_BYTES);
  } finally {
    closeSync(fd);
  }
}

describe('SQLite faults', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'agent-core-sqlite-faults-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses to boot on a file that is not a SQLite database, naming the file', async () => {
    const path = join(dir, 'foreign.sqlite');
    const foreign = randomBytes(64 * 1024);
    writeFileSync(path, foreign);

    const error = await bootError(path);

    expect(error).toBeInstanceOf(DatabaseCorruptError);
    expect(error.message).toContain(path);
    expect(error.message).toContain('is not a SQLite database');
    expect(error.message).toContain(SQLITE_RECOVERY_README);
    // Nothing was written into the foreign file.
    expect(statSync(path).size).toBe(foreign.length);
  });

  it('refuses to boot on a directory, naming it and saying it is a directory', async () => {
    const path = join(dir, 'a-folder.sqlite');
    mkdirSync(path);

    const error = await bootError(path);

    expect(error).toBeInstanceOf(DatabaseConnectionError);
    expect(error.message).toContain(path);
    expect(error.message).toContain('it is a directory');
  });

  it('check exits 0 on a healthy file with rows in it', async () => {
    const path = join(dir, 'agent-core.sqlite');
    await createPopulatedDatabase(path);

    const run = await check(path);

    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(path);
    expect(run.stdout).toContain("passed SQLite's integrity check");
  });

  describe('a file with damaged pages', () => {
    let path: string;

    beforeEach(async () => {
      path = join(dir, 'agent-core.sqlite');
      await createPopulatedDatabase(path);
      damageMiddlePages(path);
    });

    it('fails check with exit 1, naming the file and the recovery section', async () => {
      const run = await check(path);

      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).toContain(path);
      expect(run.stderr).toContain('is damaged');
      expect(run.stderr).toContain(SQLITE_RECOVERY_README);
    });

    it('refuses to boot with DatabaseCorruptError naming the file and the recovery section', async () => {
      const before = statSync(path).size;

      const error = await bootError(path);

      expect(error).toBeInstanceOf(DatabaseCorruptError);
      expect((error as DatabaseCorruptError).path).toBe(path);
      expect(error.message).toContain(path);
      expect(error.message).toContain(SQLITE_RECOVERY_README);
      // The damaged file took no writes.
      expect(statSync(path).size).toBe(before);
    });
  });

  it('a read that meets pages damaged while the service runs rejects with DatabaseCorruptError, not an outage', async () => {
    const path = join(dir, 'agent-core.sqlite');
    await createPopulatedDatabase(path);
    const moduleRef = await boot(path);
    try {
      const repo = moduleRef.get(AtlassianOauthStateRepo);
      await expect(repo.count()).resolves.toBe(ROWS);
      damageMiddlePages(path);
      // Another writer changes the file, so the running connection drops its page cache and
      // reads the damaged pages from disk.
      await bumpUserVersion(path);

      const read = repo.list();

      await expect(read).rejects.toBeInstanceOf(DatabaseCorruptError);
      await expect(read).rejects.not.toBeInstanceOf(DatabaseUnavailableError);
      await expect(read).rejects.toThrow(path);
      await expect(read).rejects.toThrow(SQLITE_RECOVERY_README);
    } finally {
      await moduleRef.close().catch(() => undefined);
    }
  });

  it("a write that meets another process's write lock past the busy timeout rejects naming the file, not the token", async () => {
    const path = join(dir, 'agent-core.sqlite');
    const moduleRef = await boot(path);
    const locker = new DataSource({ type: 'better-sqlite3', database: path, fileMustExist: true });
    await locker.initialize();
    try {
      // The service waits SQLITE_BUSY_TIMEOUT_MS (30 s) for a lock; a short wait reaches the same error sooner.
      sqliteHandleOf(moduleRef.get(DataSource)).pragma('busy_timeout = 50');
      sqliteHandleOf(locker).prepare('BEGIN IMMEDIATE').run();
      const secret = 'refresh-token-that-must-not-leak';

      const write = moduleRef.get(AtlassianOauthStateRepo).upsert(JIRA, 'acme', { refreshToken: secret });

      await expect(write).rejects.toBeInstanceOf(DatabaseUnavailableError);
      await expect(write).rejects.toMatchObject({ code: 'SQLITE_BUSY' });
      await expect(write).rejects.toThrow(`The SQLite database ${path} is unavailable`);
      await expect(write).rejects.not.toThrow(secret);
    } finally {
      await locker.destroy();
      await moduleRef.close();
    }
  });
});

/** A write by a second connection: SQLite's other connections see the file changed and drop their caches. */
async function bumpUserVersion(path: string): Promise<void> {
  const other = new DataSource({ type: 'better-sqlite3', database: path, fileMustExist: true });
  await other.initialize();
  try {
    await other.query('PRAGMA user_version = 7');
  } finally {
    await other.destroy();
  }
}
