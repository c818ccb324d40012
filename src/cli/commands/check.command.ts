import { Command } from 'commander';
import { loadConfig } from '../../config/config';
import { checkDatabase } from '../../database/database-probe';
import { CliContext } from '../cli-context';
import { CliError, ExitCode } from '../cli-errors';

/**
 * `check`: SQLite's integrity check over the whole file, or on a server that it answers and its
 * schema is current; on both, that every agent-core table and column is there. Exit 0 when it
 * passed, 3 when the database holds no agent-core table at all (an empty or foreign file), 1 otherwise.
 */
export function registerCheckCommand(program: Command, cli: CliContext): void {
  program
    .command('check')
    .description(
      "Check the database: on SQLite, SQLite's integrity check over the whole file; on PostgreSQL or MariaDB, that it answers and its schema is current; on both, that every agent-core table and column is there. Exit 0 when it passed, 3 when it holds no agent-core tables (an empty or foreign file), 1 otherwise.",
    )
    .action(async () => {
      const { line, ok, noTables } = await checkDatabase(loadConfig(cli.io.env).database);
      if (noTables) {
        throw new CliError(ExitCode.Unavailable, line);
      }
      if (!ok) {
        throw new CliError(ExitCode.NotFoundOrConflict, line);
      }
      cli.print([line]);
    });
}
