import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { isSqliteLockContention } from './database.module';

describe(isSqliteLockContention.name, () => {
  let dir: string;
  const open: DataSource[] = [];

  const connect = async (database: string, timeout: number): Promise<DataSource> => {
    const dataSource = new DataSource({ type: 'better-sqlite3', database, timeout });
    await dataSource.initialize();
    open.push(dataSource);
    return dataSource;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'agent-core-lock-'));
  });

  afterEach(async () => {
    await Promise.all(open.splice(0).map((dataSource) => dataSource.destroy()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('is true for SQLITE_BUSY on a file that another connection holds locked', async () => {
    const path = join(dir, 'locked.sqlite');
    const holder = await connect(path, 0);
    const waiter = await connect(path, 0);
    await holder.query('CREATE TABLE t (x INTEGER)');
    const transaction = holder.createQueryRunner();
    await transaction.query('BEGIN EXCLUSIVE');
    try {
      const error: unknown = await waiter.query('INSERT INTO t VALUES (2)').catch((e: unknown) => e);

      expect(error).toMatchObject({ code: 'SQLITE_BUSY' });
      expect(isSqliteLockContention(error)).toBe(true);
    } finally {
      await transaction.query('ROLLBACK');
      await transaction.release();
    }
  });

  it('is false for a file that is not a database, and for anything else', async () => {
    const path = join(dir, 'not-a-database.sqlite');
    writeFileSync(path, 'plain text, not SQLite '.repeat(10));
    const error: unknown = await connect(path, 0)
      .then((dataSource) => dataSource.query('CREATE TABLE t (x INTEGER)'))
      .catch((e: unknown) => e);

    expect(error).toMatchObject({ message: expect.stringContaining('file is not a database') });
    expect(isSqliteLockContention(error)).toBe(false);
    expect(isSqliteLockContention(new Error('boom'))).toBe(false);
    expect(isSqliteLockContention({ code: 'SQLITE_ERROR' })).toBe(false);
    expect(isSqliteLockContention({ code: 'SQLITE_BUSYNESS' })).toBe(false);
  });

  it("is true for SQLite's extended busy and locked codes (better-sqlite3 reports extended codes)", () => {
    for (const code of ['SQLITE_BUSY_SNAPSHOT', 'SQLITE_BUSY_RECOVERY', 'SQLITE_LOCKED', 'SQLITE_LOCKED_SHAREDCACHE']) {
      expect(isSqliteLockContention({ code })).toBe(true);
    }
    expect(isSqliteLockContention(undefined)).toBe(false);
  });
});
