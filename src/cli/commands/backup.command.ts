import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { loadConfig } from '../../config/config';
import { checkDatabase } from '../../database/database-probe';
import { backupSqliteDatabase } from '../../database/sqlite-backup';
import { CliContext } from '../cli-context';
import { CliError, ExitCode, toFailure } from '../cli-errors';

/**
 * `backup <file>`: a consistent copy of the SQLite database into a new file, while the service
 * runs, then `check` on the copy. Exit 0 when the copy is complete and checks out, 2 when the file
 * exists or the database is a server's, 3 when the database cannot be read or the copy fails its check.
 */
export function registerBackupCommand(program: Command, cli: CliContext): void {
  program
    .command('backup')
    .description(
      "Copy the SQLite database into a new file with SQLite's online backup (safe while the service runs and writes; cp is not), readable by its owner only, then check the copy. PostgreSQL and MariaDB have their own tools (pg_dump, mariadb-dump).",
    )
    .argument('<file>', 'the new file (never overwritten)')
    .action(async (file: string) => {
      const { database } = loadConfig(cli.io.env);
      if (database.type !== 'better-sqlite3' || database.database === ':memory:') {
        throw new CliError(
          ExitCode.Usage,
          `backup copies a SQLite file; back up the ${database.location} database with its server's own tool (pg_dump, mariadb-dump)`,
        );
      }
      const destination = resolve(file);
      if (existsSync(destination)) {
        throw new CliError(
          ExitCode.Usage,
          `${destination} exists already: a backup never overwrites a file; choose a new name`,
        );
      }
      let pages: number;
      try {
        ({ pages } = await backupSqliteDatabase(database.database, destination));
      } catch (error) {
        throw new CliError(ExitCode.Unavailable, `backup failed: ${toFailure(error).message}`);
      }
      const checked = await checkDatabase({ ...database, database: destination, location: destination });
      if (!checked.ok) {
        throw new CliError(ExitCode.Unavailable, `the backup ${destination} does not check out: ${checked.line}`);
      }
      cli.print([`backed up ${database.database} to ${destination} (${pages} pages)`, checked.line]);
    });
}
