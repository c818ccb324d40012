import { Command } from 'commander';
import { loadConfig } from '../../config/config';
import { HEALTH_TIMEOUT_MS, probeDatabase } from '../../database/database-probe';
import { CliContext } from '../cli-context';
import { CliError, ExitCode, toFailure } from '../cli-errors';

/**
 * `health`: exit 0 when the database answers a query within a second, 1 otherwise, with one line
 * saying which: a Kubernetes exec probe (see docs/operations.md, "Health probe").
 */
export function registerHealthCommand(program: Command, cli: CliContext): void {
  program
    .command('health')
    .description(
      `Exit 0 when the database answers within ${HEALTH_TIMEOUT_MS} ms, 1 otherwise, with one line saying which (for an orchestrator's probe).`,
    )
    .action(async () => {
      let probe: { line: string; ok: boolean };
      try {
        probe = await probeDatabase(loadConfig(cli.io.env).database);
      } catch (error) {
        // A probe has two answers: a configuration the database cannot be reached with is "not healthy" too.
        throw new CliError(ExitCode.NotFoundOrConflict, toFailure(error).message);
      }
      const { line, ok } = probe;
      if (!ok) {
        throw new CliError(ExitCode.NotFoundOrConflict, line);
      }
      cli.print([line]);
    });
}
