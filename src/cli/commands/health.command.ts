import { Command } from 'commander';
import { loadConfig } from '../../config/config';
import { HEALTH_TIMEOUT_MS, probeDatabase } from '../../database/database-probe';
import { CliContext } from '../cli-context';
import { CliError, ExitCode } from '../cli-errors';

/**
 * `health`: exit 0 when the database answers a query within a second, 1 otherwise, with one line
 * saying which: a Kubernetes exec probe (see the README).
 */
export function registerHealthCommand(program: Command, cli: CliContext): void {
  program
    .command('health')
    .description(
      `Exit 0 when the database answers within ${HEALTH_TIMEOUT_MS} ms, 1 otherwise, with one line saying which (for an orchestrator's probe).`,
    )
    .action(async () => {
      const { line, ok } = await probeDatabase(loadConfig(cli.io.env).database);
      if (!ok) {
        throw new CliError(ExitCode.NotFoundOrConflict, line);
      }
      cli.print([line]);
    });
}
