import { Command } from 'commander';
import { CliContext } from '../cli-context';
import { CliError, ExitCode } from '../cli-errors';
import { describeKey } from '../cli-format';

/** `delete <platform> <tenantId>`: exit 1 when nothing was stored. */
export function registerDeleteCommand(program: Command, cli: CliContext): void {
  program
    .command('delete')
    .description(
      'Delete the stored state of one (platform, tenantId), e.g. after the customer disconnected: their tokens must not linger.',
    )
    .argument('<platform>', 'e.g. jira')
    .argument('<tenantId>', 'the tenant (cloud id)')
    .action(async (platform: string, tenantId: string) => {
      const deleted = await cli.withStates({ create: false }, ({ repo }) => repo.delete(platform, tenantId));
      if (!deleted) {
        throw new CliError(
          ExitCode.NotFoundOrConflict,
          `no state stored for ${describeKey(platform, tenantId)}; nothing deleted`,
        );
      }
      cli.print([`deleted ${describeKey(platform, tenantId)}`]);
    });
}
