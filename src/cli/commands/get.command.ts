import { Command } from 'commander';
import { CliContext } from '../cli-context';
import { CliError, ExitCode } from '../cli-errors';
import { describeKey, formatStateLines, stateJson } from '../cli-format';

interface GetOptions {
  reveal?: boolean;
  json?: boolean;
}

/** `get <platform> <tenantId> [--reveal] [--json]`: one stored state, tokens redacted unless revealed. */
export function registerGetCommand(program: Command, cli: CliContext): void {
  program
    .command('get')
    .description('Show the stored state of one (platform, tenantId); tokens are [redacted] unless --reveal is given.')
    .argument('<platform>', 'e.g. jira')
    .argument('<tenantId>', 'the tenant (cloud id)')
    .option('--reveal', 'show the token values')
    .option('--json', 'print JSON instead of text')
    .action(async (platform: string, tenantId: string, options: GetOptions) => {
      const state = await cli.withStates({ create: false }, ({ repo }) => repo.get(platform, tenantId));
      if (!state) {
        throw new CliError(ExitCode.NotFoundOrConflict, `no state stored for ${describeKey(platform, tenantId)}`);
      }
      cli.secrets.push(state.refreshToken, ...(state.accessToken === null ? [] : [state.accessToken]));
      const shown = { reveal: options.reveal === true, now: cli.io.now() };
      if (options.json) {
        cli.printJson(stateJson(state, shown));
      } else {
        cli.print(formatStateLines(state, shown));
      }
    });
}
