import { Command } from 'commander';
import type { AtlassianOauthRefreshHealthRepo, KeepAliveCounts, KeepAliveProgress } from '../../atlassian';
import { CLI_NAME, CliContext } from '../cli-context';
import { CliError, ExitCode } from '../cli-errors';
import { describeKey } from '../cli-format';

/** A terminal's bar is redrawn at most this often: a sweep can look at thousands of keys a second. */
const REDRAW_MS = 100;
const BAR_WIDTH = 30;
const DEFAULT_IDLE_DAYS = 30;

interface KeepAliveCommandOptions {
  idleDays?: string;
  concurrency?: string;
}

/**
 * `agent-core keep-alive [--idle-days N] [--concurrency N]`: the service's sweep, run once, now. It
 * exits 1 when a grant could not be refreshed or was found revoked by this run (a grant already
 * known to be revoked is skipped and counted, not reported again: `list --unhealthy` shows it).
 */
export function registerKeepAliveCommand(program: Command, cli: CliContext): void {
  program
    .command('keep-alive')
    .description(
      `Refresh every stored grant not refreshed for --idle-days (default ${DEFAULT_IDLE_DAYS}), as the service's scheduled sweep does: Atlassian drops a refresh token unused for 90 days. Needs ATLASSIAN_CLIENT_ID and ATLASSIAN_CLIENT_SECRET. Names each grant it could not refresh (failed: ...) and each it found newly revoked (revoked: jira/acme), and exits 1 when there is any.`,
    )
    .option(
      '--idle-days <days>',
      `refresh the states last written more than this many days ago (default ${DEFAULT_IDLE_DAYS})`,
    )
    .option('--concurrency <n>', 'grants refreshed at once (default 4)')
    .action(async (options: KeepAliveCommandOptions) => {
      const idleForMs = parseIdleDays(options.idleDays) * 24 * 3_600_000;
      const concurrency = parseConcurrency(options.concurrency);
      let drawnAt: number | undefined;
      const onProgress = (progress: KeepAliveProgress): void => {
        const now = Date.now();
        if (
          cli.io.stdout.isTTY &&
          (drawnAt === undefined || now - drawnAt >= REDRAW_MS || progress.processed === progress.idle)
        ) {
          cli.io.stdout.write(`\r${formatKeepAliveBar(progress)}`);
          drawnAt = now;
        }
      };
      const { counts, failures, revoked } = await cli.withStates(
        { create: false, atlassian: true },
        async ({ app, warnings, health }) => {
          const { AtlassianOauthKeepAliveService } = await import('../../atlassian');
          const revokedBefore = new Set(await revokedKeys(health));
          const before = warnings.length;
          const result = await app.get(AtlassianOauthKeepAliveService).run({ idleForMs, concurrency, onProgress });
          const revokedNow = await revokedKeys(health);
          return {
            counts: result,
            failures: warnings.slice(before),
            revoked: revokedNow.filter((key) => !revokedBefore.has(key)),
          };
        },
      );
      if (drawnAt !== undefined) {
        cli.io.stdout.write('\n');
      }
      cli.print([
        ...failures.map((failure) => `failed: ${failure}`),
        ...revoked.map((key) => `revoked: ${key}`),
        `keep-alive done: ${formatKeepAliveCounts(counts)}`,
      ]);
      const problems = [
        ...(counts.failed > 0 ? [`${counts.failed} idle grant(s) could not be refreshed now`] : []),
        ...(revoked.length > 0 ? [`${revoked.length} grant(s) found revoked: the tenant must connect again`] : []),
      ];
      if (problems.length > 0) {
        throw new CliError(
          ExitCode.NotFoundOrConflict,
          `${problems.join('; ')} (listed above); see '${CLI_NAME} list --unhealthy'`,
        );
      }
    });
}

/** The keys (`platform/tenantId`) whose stored grant is recorded as revoked now. */
async function revokedKeys(health: AtlassianOauthRefreshHealthRepo): Promise<string[]> {
  const rows = await health.listCurrent();
  return rows.filter((row) => row.status === 'revoked').map((row) => describeKey(row.platform, row.tenantId));
}

/** `refreshed 3, fresh 120, revoked 1, failed 0` */
export function formatKeepAliveCounts(counts: KeepAliveCounts): string {
  return `refreshed ${counts.refreshed}, fresh ${counts.fresh}, revoked ${counts.revoked}, failed ${counts.failed}`;
}

/** `[#######-----------------------]  25% 250/1000 idle (refreshed 249, fresh 20, revoked 1, failed 0)` */
export function formatKeepAliveBar(progress: KeepAliveProgress): string {
  // Keys that turn idle while the sweep runs can make processed exceed the count taken at the start.
  const done = progress.idle === 0 ? 1 : Math.min(1, progress.processed / progress.idle);
  const filled = Math.round(done * BAR_WIDTH);
  return `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${`${Math.floor(done * 100)}%`.padStart(4)} ${progress.processed}/${progress.idle} idle (${formatKeepAliveCounts(progress)})`;
}

function parseIdleDays(value: string | undefined): number {
  if (value === undefined) {
    return DEFAULT_IDLE_DAYS;
  }
  if (!/^\d{1,5}(\.\d+)?$/.test(value)) {
    throw new CliError(ExitCode.Usage, '--idle-days must be a number of days, 0 or more, e.g. 30');
  }
  return Number(value);
}

function parseConcurrency(value: string | undefined): number | undefined {
  if (value === undefined) {
    return undefined;
  }
  if (!/^[1-9]\d?$/.test(value) || Number(value) > 64) {
    throw new CliError(ExitCode.Usage, '--concurrency must be a whole number from 1 to 64');
  }
  return Number(value);
}
