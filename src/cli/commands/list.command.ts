import { Command } from 'commander';
import { CLI_NAME, CliContext } from '../cli-context';
import { formatSummaryLines, summaryJson } from '../cli-format';

interface ListOptions {
  platform?: string;
  json?: boolean;
}

/** `list [--platform] [--json]`: one line per stored key, never a token. */
export function registerListCommand(program: Command, cli: CliContext): void {
  program
    .command('list')
    .description(
      'List the stored states, one line per (platform, tenantId): access token present or not, expiry, last update. Never shows a token.',
    )
    .option('--platform <platform>', 'only the states of this platform')
    .option('--json', 'print JSON instead of text')
    .action(async (options: ListOptions) => {
      const summaries = await cli.withStates({ create: false }, ({ repo }) =>
        repo.list({ platform: options.platform }),
      );
      const now = cli.io.now();
      if (options.json) {
        cli.printJson(summaries.map((summary) => summaryJson(summary, now)));
      } else if (summaries.length > 0) {
        cli.print(formatSummaryLines(summaries, now));
      } else {
        cli.io.stderr.write(
          `${CLI_NAME}: no state stored${options.platform === undefined ? '' : ` for platform ${options.platform}`}\n`,
        );
      }
    });
}
