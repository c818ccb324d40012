import { Command } from 'commander';
import { loadConfig } from '../../config/config';
import { checkDatabase } from '../../database/database-probe';
import { CliContext } from '../cli-context';
import { CliError, ExitCode } from '../cli-errors';

/**
 * `check`: SQLite's integrity check over the whole file, or on a server that it answers and its
 * schema is current; exit 0 when it passed, 1 otherwise.
 */
export function registerCheckCommand(program: Command, cli: CliContext): void {
  program
    .command('check')
    .description(
      "Check the database: on SQLite, SQLite's integrity check over the whole file; on PostgreSQL or MariaDB, that it answers and its schema is current. Exit 0 when it passed, 1 otherwise.",
    )
    .action(async () => {
      const { line, ok } = await checkDatabase(loadConfig(cli.io.env).database);
      if (!ok) {
        throw new CliError(ExitCode.NotFoundOrConflict, line);
      }
      cli.print([line]);
    });
}
