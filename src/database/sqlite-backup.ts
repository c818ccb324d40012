import { existsSync, rmSync } from 'node:fs';
import { DataSource } from 'typeorm';
import { sqliteHandleOf } from './sqlite-handle';
import { secureSqliteFile } from './sqlite-file-permissions';
import { sqliteOpenError } from './sqlite-database';

/** How long the backup waits for another process's write lock on the source (SQLite's busy timeout). */
const BACKUP_BUSY_TIMEOUT_MS = 30_000;

/** What {@link backupSqliteDatabase} copied. */
export interface SqliteBackupResult {
  /** The pages of the copy (SQLite's page size is 4 KiB by default). */
  readonly pages: number;
}

/** better-sqlite3's online backup, which its `Database` has but the shared handle type leaves out. */
interface BackupHandle {
  backup(destination: string): Promise<{ totalPages: number; remainingPages: number }>;
}

/**
 * Copies the SQLite database at `source` into a new file at `destination` with SQLite's online
 * backup API (https://www.sqlite.org/backup.html, through better-sqlite3's `Database#backup`): a
 * consistent snapshot, write-ahead log included, while the service keeps running and writing.
 * Copying the file with `cp` while it runs can give a torn copy, and misses the `-wal` file.
 *
 * The copy is created readable by its owner only (it holds the tokens), in a folder created
 * owner-only if it is missing. A copy that failed halfway is removed.
 *
 * @throws Error when `destination` exists already (nothing is overwritten), or `source` cannot be
 *   opened (the error names it).
 */
export async function backupSqliteDatabase(source: string, destination: string): Promise<SqliteBackupResult> {
  if (existsSync(destination)) {
    throw new Error(`${destination} exists already: a backup never overwrites a file; choose a new name`);
  }
  const dataSource = new DataSource({
    type: 'better-sqlite3',
    database: source,
    fileMustExist: true,
    timeout: BACKUP_BUSY_TIMEOUT_MS,
  });
  try {
    await dataSource.initialize();
  } catch (error) {
    throw sqliteOpenError(source, error);
  }
  let created = false;
  try {
    secureSqliteFile(destination);
    created = true;
    const handle = sqliteHandleOf(dataSource) as unknown as BackupHandle;
    const { totalPages } = await handle.backup(destination);
    return { pages: totalPages };
  } catch (error) {
    if (created) {
      rmSync(destination, { force: true });
    }
    throw error;
  } finally {
    await dataSource.destroy();
  }
}
