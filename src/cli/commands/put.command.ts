import { Command, Option } from 'commander';
import type { AtlassianOauthTokens, AtlassianOauthUpsertOptions } from '../../atlassian';
import { CliContext, FROM_STDIN } from '../cli-context';
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
    .requiredOption('--refresh-token <value>', `the refresh token; ${FROM_STDIN} reads it from stdin`)
    .option(
      '--access-token <value>',
      `the access token; ${FROM_STDIN} reads it from stdin; stored as none when omitted`,
    )
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
        `write only if the stored refresh token is still this one, else exit 1 (conflict); ${FROM_STDIN} reads it from stdin`,
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

/** Turns `put`'s options into the repo's arguments, reading a `-` value from stdin; bad input is a usage error. */
async function readPutRequest(options: PutOptions, cli: CliContext): Promise<PutRequest> {
  const fromStdin = [options.refreshToken, options.accessToken, options.expectRefreshToken].filter(
    (value) => value === FROM_STDIN,
  );
  if (fromStdin.length > 1) {
    throw new CliError(ExitCode.Usage, `only one option can read its value from stdin (${FROM_STDIN})`);
  }
  const stdin = fromStdin.length > 0 ? await cli.readStdin() : '';
  const value = (option: string | undefined): string | undefined => (option === FROM_STDIN ? stdin : option);
  const refreshToken = value(options.refreshToken) ?? '';
  const accessToken = value(options.accessToken) ?? null;
  const expectedRefreshToken = options.expectNone ? null : value(options.expectRefreshToken);
  cli.secrets.push(
    ...[refreshToken, accessToken, expectedRefreshToken].filter(
      (secret): secret is string => typeof secret === 'string',
    ),
  );
  return {
    tokens: { refreshToken, accessToken, expiresAt: parseExpiry(options, cli.io.now()) },
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
