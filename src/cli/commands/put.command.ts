import { Command, Option } from 'commander';
import type { AtlassianOauthTokens, AtlassianOauthUpsertOptions } from '../../atlassian';
import { CliContext, TOKEN_SOURCES_HELP } from '../cli-context';
import { CliError, ExitCode } from '../cli-errors';
import { formatSummaryLines, summarize } from '../cli-format';

interface PutOptions {
  refreshToken: string;
  accessToken?: string;
  expiresAt?: string;
  expiresIn?: string;
  expectRefreshToken?: string;
  expectNone?: boolean;
}

/** What `put` hands to the repo. */
interface PutRequest {
  tokens: AtlassianOauthTokens;
  options: AtlassianOauthUpsertOptions;
}

/** `put <platform> <tenantId> --refresh-token ...`: the repo's upsert, plain or conditional. */
export function registerPutCommand(program: Command, cli: CliContext): void {
  program
    .command('put')
    .description(
      'Store the token state of one (platform, tenantId), replacing the stored one, through the same repo and validation as the service.',
    )
    .argument('<platform>', 'e.g. jira')
    .argument('<tenantId>', 'the tenant (cloud id)')
    .requiredOption('--refresh-token <value>', `the refresh token; ${TOKEN_SOURCES_HELP}`)
    .option('--access-token <value>', `the access token, stored as none when omitted; ${TOKEN_SOURCES_HELP}`)
    .addOption(
      new Option(
        '--expires-at <iso>',
        'when the access token expires, ISO 8601 with a time zone (2026-11-27T20:00:00Z)',
      ).conflicts('expiresIn'),
    )
    .option('--expires-in <seconds>', 'when the access token expires, in seconds from now')
    .addOption(
      new Option(
        '--expect-refresh-token <value>',
        `write only if the stored refresh token is still this one, else exit 1 (conflict); ${TOKEN_SOURCES_HELP}`,
      ).conflicts('expectNone'),
    )
    .option('--expect-none', 'write only if nothing is stored yet for this key, else exit 1 (conflict)')
    .action(async (platform: string, tenantId: string, options: PutOptions) => {
      const { tokens, options: upsertOptions } = await readPutRequest(options, cli);
      const stored = await cli.withStates({ create: true }, ({ repo }) =>
        repo.upsert(platform, tenantId, tokens, upsertOptions),
      );
      cli.print([`stored ${formatSummaryLines([summarize(stored)], cli.io.now()).join('')}`]);
    });
}

/**
 * Turns `put`'s options into the repo's arguments, reading each token given as `-` (stdin) or
 * `@<path>` (a file); bad input is a usage error.
 */
async function readPutRequest(options: PutOptions, cli: CliContext): Promise<PutRequest> {
  const read = await cli.readTokenOptions({
    '--refresh-token': options.refreshToken,
    '--access-token': options.accessToken,
    '--expect-refresh-token': options.expectRefreshToken,
  });
  const expectedRefreshToken = options.expectNone ? null : read['--expect-refresh-token'];
  return {
    tokens: {
      refreshToken: read['--refresh-token'] ?? '',
      accessToken: read['--access-token'] ?? null,
      expiresAt: parseExpiry(options, cli.io.now()),
    },
    options: expectedRefreshToken === undefined ? {} : { expectedRefreshToken },
  };
}

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

function parseExpiry(options: PutOptions, now: Date): Date | null {
  if (options.expiresAt !== undefined) {
    const expiresAt = new Date(options.expiresAt);
    if (!ISO_DATE_TIME.test(options.expiresAt) || Number.isNaN(expiresAt.getTime())) {
      throw new CliError(
        ExitCode.Usage,
        '--expires-at must be an ISO 8601 date-time with a time zone, e.g. 2026-11-27T20:00:00Z',
      );
    }
    return expiresAt;
  }
  if (options.expiresIn !== undefined) {
    if (!/^\d{1,10}$/.test(options.expiresIn)) {
      throw new CliError(ExitCode.Usage, '--expires-in must be a whole number of seconds, e.g. 3600');
    }
    return new Date(now.getTime() + Number(options.expiresIn) * 1000);
  }
  return null;
}
