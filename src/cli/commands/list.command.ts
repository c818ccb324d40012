import { Command } from 'commander';
import { CLI_NAME, CliContext } from '../cli-context';
import { CliError, ExitCode } from '../cli-errors';
import { formatSummaryLines, summaryJson } from '../cli-format';
import { formatHealthLines, healthJson, listWithHealth } from './list-health';

interface ListOptions {
  platform?: string;
  json?: boolean;
  unhealthy?: boolean;
}

/**
 * `list [--platform] [--unhealthy] [--json]`: one line per stored key with its site count and refresh health, never a
 * token. With `--unhealthy` it exits 1 when it lists any state, so a cron job or a probe can alert on it.
 */
export function registerListCommand(program: Command, cli: CliContext): void {
  program
    .command('list')
    .description(
      'List the stored states, one line per (platform, tenantId): access token present or not, expiry, last update, how many Atlassian sites the grant reaches, refresh health (ok, refresh failing, needs reconnect). Never shows a token.',
    )
    .option('--platform <platform>', 'only the states of this platform')
    .option('--unhealthy', 'only the states whose refresh fails or whose grant is revoked; exit 1 when there is any')
    .option('--json', 'print JSON instead of text')
    .action(async (options: ListOptions) => {
      const summaries = await cli.withStates({ create: false }, (states) =>
        listWithHealth(states, { platform: options.platform, unhealthy: options.unhealthy === true }),
      );
      const now = cli.io.now();
      if (options.json) {
        cli.printJson(
          summaries.map((summary) => ({
            ...summaryJson(summary, now),
            sites: summary.sites,
            health: healthJson(summary.health),
          })),
        );
      } else if (summaries.length > 0) {
        cli.print(formatHealthLines(summaries, formatSummaryLines(summaries, now)));
      } else {
        const which = options.unhealthy ? 'no unhealthy state' : 'no state stored';
        cli.io.stderr.write(
          `${CLI_NAME}: ${which}${options.platform === undefined ? '' : ` for platform ${options.platform}`}\n`,
        );
      }
      if (options.unhealthy && summaries.length > 0) {
        throw new CliError(
          ExitCode.NotFoundOrConflict,
          `${summaries.length} state(s) need attention (listed above): refresh failing or grant revoked`,
        );
      }
    });
}
