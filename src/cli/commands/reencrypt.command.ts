import { Command } from 'commander';
import type { ReencryptProgress } from '../../atlassian';
import { CliContext } from '../cli-context';
import { CliError, ExitCode } from '../cli-errors';
import { formatProgressBar, formatProgressLine, formatReencryptCounts } from '../cli-format';

interface ReencryptCommandOptions {
  batchSize?: string;
}

/** `reencrypt [--batch-size N]`: every row under the active key, with progress; exit 3 when a row failed. */
export function registerReencryptCommand(program: Command, cli: CliContext): void {
  program
    .command('reencrypt')
    .description(
      'Re-encrypt every stored token that is not yet sealed under the first key of OAUTH_STATE_ENCRYPTION_KEYS (after a key rotation, or to seal plaintext rows). Safe to re-run.',
    )
    .option('--batch-size <rows>', 'rows read per batch (default 500)')
    .action(async (options: ReencryptCommandOptions) => {
      const batchSize = parseBatchSize(options.batchSize);
      const { stdout } = cli.io;
      // A terminal gets one bar redrawn in place; a pipe or a file gets one line per batch.
      let barDrawn = false;
      const onProgress = (progress: ReencryptProgress): void => {
        if (stdout.isTTY) {
          stdout.write(`\r${formatProgressBar(progress)}`);
          barDrawn = true;
        } else {
          cli.print([formatProgressLine(progress)]);
        }
      };
      const { counts, failures } = await cli.withStates({ create: false }, async ({ reencryption, warnings }) => {
        const before = warnings.length;
        const result = await reencryption.reencryptAll({ batchSize, onProgress });
        return { counts: result, failures: warnings.slice(before) };
      });
      if (barDrawn) {
        stdout.write('\n');
      }
      cli.print([
        ...failures.map((failure) => `failed: ${failure}`),
        `reencrypt done: ${formatReencryptCounts(counts)}`,
      ]);
      if (counts.failed > 0) {
        throw new CliError(
          ExitCode.Unavailable,
          `${counts.failed} row(s) could not be re-encrypted and were left as they were (a key problem, listed above)`,
        );
      }
    });
}

function parseBatchSize(value: string | undefined): number | undefined {
  if (value === undefined) {
    return undefined;
  }
  if (!/^[1-9]\d{0,8}$/.test(value)) {
    throw new CliError(ExitCode.Usage, '--batch-size must be a positive whole number of rows, e.g. 500');
  }
  return Number(value);
}
