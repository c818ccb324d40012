import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { DataSource, DataSourceOptions } from 'typeorm';
import { isSqliteCorruption, sqliteCodeOf } from './database-failure';
import { DatabaseConnectionError, DatabaseCorruptError } from './database.errors';

/**
 * The write-ahead log is truncated to this size after each checkpoint (`journal_size_limit`), so
 * a burst of writes does not leave a large `-wal` file behind. https://www.sqlite.org/pragma.html#pragma_journal_size_limit
 */
export const SQLITE_JOURNAL_SIZE_LIMIT_BYTES = 1024 * 1024;

/**
 * Pages written to the log before SQLite copies them into the database file (SQLite's default is
 * 1,000, about 4 MB). An upsert writes about four pages, so the log stays near 1 MB.
 */
export const SQLITE_WAL_AUTOCHECKPOINT_PAGES = 250;

/**
 * Opens a SQLite database file and makes sure it is one and is intact before anything uses it:
 * SQLite's `quick_check` reads every page (milliseconds for this store's size), so a file with
 * damaged pages fails the boot instead of serving part of its keys and taking writes.
 *
 * @throws DatabaseCorruptError naming the file when it is damaged or not a SQLite database.
 * @throws DatabaseConnectionError naming the file and why it cannot be opened: it is a folder, or
 *   the file or its folder is not writable (a read-only filesystem, a permission).
 * @throws the driver's error as it is for lock contention (SQLITE_BUSY), which a retry can cure.
 */
export async function openSqliteDatabase(options: DataSourceOptions & { type: 'better-sqlite3' }): Promise<DataSource> {
  const path = options.database;
  const dataSource = new DataSource(options);
  try {
    await dataSource.initialize();
    const [result] = await dataSource.query<{ quick_check: string }[]>('PRAGMA quick_check(1)');
    if (result?.quick_check !== 'ok') {
      throw new DatabaseCorruptError(path, 'INTEGRITY_CHECK', `SQLite's quick_check found "${result?.quick_check}"`);
    }
    return dataSource;
  } catch (error) {
    if (dataSource.isInitialized) {
      await dataSource.destroy();
    }
    throw sqliteOpenError(path, error);
  }
}

/** Why `path` could not be opened, as an error naming it; lock contention and our own errors pass unchanged. */
export function sqliteOpenError(path: string, error: unknown): unknown {
  if (error instanceof DatabaseCorruptError) {
    return error;
  }
  const code = sqliteCodeOf(error);
  if (code && /^SQLITE_(BUSY|LOCKED)/.test(code)) {
    return error;
  }
  if (isSqliteCorruption(error)) {
    const notADatabase = code?.startsWith('SQLITE_NOTADB') ?? false;
    return new DatabaseCorruptError(
      path,
      code ?? 'SQLITE_CORRUPT',
      notADatabase ? 'it is not a SQLite database' : 'SQLite found damaged pages',
      { cause: error },
    );
  }
  const reason = unopenableReason(path);
  if (reason === undefined) {
    return error;
  }
  return new DatabaseConnectionError(
    path,
    `Cannot open the SQLite database ${path}: ${reason}${code ? ` (${code})` : ''}. Check DATABASE_PATH.`,
  );
}

/** What keeps SQLite from opening `path` for writing, in words, or `undefined` when the file system shows nothing wrong. */
function unopenableReason(path: string): string | undefined {
  try {
    if (statSync(path).isDirectory()) {
      return 'it is a directory, not a file';
    }
  } catch {
    // No such file: SQLite creates it in its folder, so the folder must be writable.
  }
  for (const target of [path, nearestExistingFolder(dirname(path))]) {
    try {
      accessSync(target, constants.W_OK);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'EROFS') {
        return `${target === path ? 'it' : 'its folder'} is on a read-only filesystem`;
      }
      if (code === 'EACCES' || code === 'EPERM') {
        return `${target === path ? 'it' : 'its folder'} is not writable by this process`;
      }
    }
  }
  return undefined;
}

/** `folder`, or the closest of its parents that exists: the one SQLite (or TypeORM, creating the rest) writes into. */
function nearestExistingFolder(folder: string): string {
  for (let current = folder; ; current = dirname(current)) {
    if (existsSync(current) || dirname(current) === current) {
      return current;
    }
  }
}

/**
 * Copies the write-ahead log into the database file and truncates it to zero bytes
 * (`wal_checkpoint(TRUNCATE)`), so a clean shutdown leaves one self-contained file and no log
 * taking disk space. https://www.sqlite.org/pragma.html#pragma_wal_checkpoint
 *
 * @returns SQLite's answer: `busy` is 1 when another process's reader kept it from finishing.
 */
export async function checkpointSqlite(dataSource: DataSource): Promise<{ busy: number; log: number }> {
  const [row] = await dataSource.query<{ busy: number; log: number }[]>('PRAGMA wal_checkpoint(TRUNCATE)');
  return { busy: row?.busy ?? 0, log: row?.log ?? 0 };
}
