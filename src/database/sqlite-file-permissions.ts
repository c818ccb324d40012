import { chmodSync, closeSync, constants, existsSync, fchmodSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { Logger } from '@nestjs/common';
import { quoteForLog } from '../common/quote-for-log';

/** The folder of the SQLite file, when this service creates it: its owner only. */
export const SQLITE_FOLDER_MODE = 0o700;
/** The SQLite file, when this service creates it: its owner only (SQLite gives `-wal` and `-shm` the same mode). */
export const SQLITE_FILE_MODE = 0o600;

/**
 * Makes sure the SQLite file at `database` is readable by its owner only, before SQLite opens it:
 * tokens stored in plaintext mode (and the sealed ones) must not be readable by another account
 * on the host. With the usual umask 022, SQLite and TypeORM would create the folder 0755 and the
 * files 0644.
 *
 * - A missing folder is created {@link SQLITE_FOLDER_MODE} and a missing file
 *   {@link SQLITE_FILE_MODE}, whatever the umask (each is chmod-ed after it is created). SQLite
 *   creates the `-wal` and `-shm` files with the mode of the database file
 *   (https://www.sqlite.org/src/file?name=src/os_unix.c, `findCreateFileMode`).
 * - A file that exists is left as it is, since this service did not create it; when it (or its
 *   `-wal` or `-shm`) can be read or written by the group or others, a warning names its path.
 *
 * Does nothing for `:memory:`.
 */
export function secureSqliteFile(database: string, logger: Pick<Logger, 'warn'> = new Logger('DatabaseModule')): void {
  if (database === ':memory:') {
    return;
  }
  const folder = dirname(database);
  const firstCreated = mkdirSync(folder, { recursive: true, mode: SQLITE_FOLDER_MODE });
  if (firstCreated !== undefined) {
    // Every folder from the first one created down to the file's own one.
    for (let created = folder; ; created = dirname(created)) {
      chmodSync(created, SQLITE_FOLDER_MODE);
      if (created === firstCreated || dirname(created) === created) {
        break;
      }
    }
  }
  let fd: number;
  try {
    fd = openSync(database, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, SQLITE_FILE_MODE);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw error;
    }
    warnIfShared(database, logger);
    return;
  }
  try {
    // An empty file is an empty SQLite database.
    fchmodSync(fd, SQLITE_FILE_MODE);
  } finally {
    closeSync(fd);
  }
}

function warnIfShared(database: string, logger: Pick<Logger, 'warn'>): void {
  for (const path of [database, `${database}-wal`, `${database}-shm`]) {
    const stats = existsSync(path) ? statSync(path) : undefined;
    // A folder where the file should be is reported by the open that follows, not here.
    if (!stats?.isFile()) {
      continue;
    }
    const mode = stats.mode & 0o777;
    if ((mode & 0o077) !== 0) {
      logger.warn(
        `The SQLite file ${quoteForLog(path)} can be read by other accounts on this host (mode ${mode.toString(8).padStart(4, '0')}); ` +
          'it holds the OAuth tokens. Restrict it with chmod 600 (and its folder with chmod 700).',
      );
    }
  }
}
