import { existsSync } from 'node:fs';
import type { INestApplicationContext, LoggerService } from '@nestjs/common';
import { Command, CommanderError, Option } from 'commander';
import type {
  AtlassianOauthReencryptionService,
  AtlassianOauthStateRepo,
  AtlassianOauthTokens,
  AtlassianOauthUpsertOptions,
  ReencryptProgress,
} from '../atlassian';
import { loadConfig } from '../config/config';
import { Environment } from '../config/environment';
import { TokenEncryptionConfigError } from '../token-cipher/token-cipher.errors';
import { CliError, ExitCode, toFailure, toOneSafeLine } from './cli-errors';
import {
  describeKey,
  formatProgressBar,
  formatProgressLine,
  formatReencryptCounts,
  formatStateLines,
  formatSummaryLines,
  stateJson,
  summarize,
  summaryJson,
} from './cli-format';

/** The streams, clock and environment one CLI run uses: the process's own in `main.ts`. */
export interface CliIo {
  /** What the configuration is read from, once per command that opens the database (`process.env` in `main.ts`). */
  readonly env: Environment;
  /** Where results go; when it is a terminal (`isTTY`), `reencrypt` draws a progress bar. */
  readonly stdout: NodeJS.WritableStream & { readonly isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream;
  readonly stdin: NodeJS.ReadableStream & { readonly isTTY?: boolean };
  readonly now: () => Date;
}

const NAME = 'agent-core';

/** An option value of `-` means: read the value from stdin (keeps secrets out of shell history). */
const FROM_STDIN = '-';

/**
 * Keeps Nest's log lines out of the CLI's output, which must stay parseable (`--json`) and whose
 * failures are one line: boot errors are reported by the CLI itself, and warnings are kept for a
 * command that reports them (`reencrypt`'s rows left as they were) instead of being printed.
 */
class CliLogger implements LoggerService {
  readonly warnings: string[] = [];

  log(): void {}

  error(): void {}

  warn(message: unknown): void {
    this.warnings.push(String(message));
  }
}

/** The repo and the re-encryption service of a booted context, and the warnings logged so far. */
interface States {
  readonly repo: AtlassianOauthStateRepo;
  readonly reencryption: AtlassianOauthReencryptionService;
  readonly warnings: readonly string[];
}

interface ListOptions {
  platform?: string;
  json?: boolean;
}

interface GetOptions {
  reveal?: boolean;
  json?: boolean;
}

interface ReencryptCommandOptions {
  batchSize?: string;
}

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

/**
 * Runs one `agent-core` command and resolves with its exit code (see {@link ExitCode}); it never
 * rejects. Output goes to `io.stdout`; a failure is one line on `io.stderr`, without a stack trace
 * or a token value. The database is opened only for a command that needs it, through the service's
 * own `AppModule`, so configuration, validation and conditional writes are the service's.
 */
export async function runCli(args: readonly string[], io: CliIo): Promise<number> {
  const secrets: string[] = [];
  const program = buildProgram(io, secrets);
  try {
    if (args.length === 0) {
      throw new CliError(ExitCode.Usage, `missing command (see '${NAME} --help')`);
    }
    await program.parseAsync(args, { from: 'user' });
    return ExitCode.Ok;
  } catch (error) {
    const { exitCode, message } = toFailure(error);
    if (exitCode !== ExitCode.Ok) {
      const command = program.commands.find((c) => c.name() === args[0]);
      const hint =
        error instanceof CommanderError ? ` (see '${command ? `${NAME} ${command.name()}` : NAME} --help')` : '';
      io.stderr.write(`${NAME}: ${toOneSafeLine(message, secrets)}${hint}\n`);
    }
    return exitCode;
  }
}

function buildProgram(io: CliIo, secrets: string[]): Command {
  const print = (lines: readonly string[]): void => {
    io.stdout.write(lines.map((line) => `${line}\n`).join(''));
  };
  const printJson = (value: unknown): void => print([JSON.stringify(value, null, 2)]);

  const program = new Command(NAME)
    .description(
      'Operator tool for the Atlassian OAuth token state that agent-core stores. It reads the same configuration as the service (DATABASE_PATH, ...).',
    )
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      // runCli prints the one error line itself.
      outputError: () => undefined,
    })
    .helpCommand(true)
    .addHelpText(
      'after',
      '\nExit codes: 0 done, 1 not found or conflict, 2 usage or bad input, 3 database or key problem.',
    );

  program
    .command('list')
    .description(
      'List the stored states, one line per (platform, tenantId): access token present or not, expiry, last update. Never shows a token.',
    )
    .option('--platform <platform>', 'only the states of this platform')
    .option('--json', 'print JSON instead of text')
    .action(async (options: ListOptions) => {
      const summaries = await withStates(io, { create: false }, ({ repo }) =>
        repo.list({ platform: options.platform }),
      );
      const now = io.now();
      if (options.json) {
        printJson(summaries.map((summary) => summaryJson(summary, now)));
      } else if (summaries.length > 0) {
        print(formatSummaryLines(summaries, now));
      } else {
        io.stderr.write(
          `${NAME}: no state stored${options.platform === undefined ? '' : ` for platform ${options.platform}`}\n`,
        );
      }
    });

  program
    .command('get')
    .description('Show the stored state of one (platform, tenantId); tokens are [redacted] unless --reveal is given.')
    .argument('<platform>', 'e.g. jira')
    .argument('<tenantId>', 'the tenant (cloud id)')
    .option('--reveal', 'show the token values')
    .option('--json', 'print JSON instead of text')
    .action(async (platform: string, tenantId: string, options: GetOptions) => {
      const state = await withStates(io, { create: false }, ({ repo }) => repo.get(platform, tenantId));
      if (!state) {
        throw new CliError(ExitCode.NotFoundOrConflict, `no state stored for ${describeKey(platform, tenantId)}`);
      }
      secrets.push(state.refreshToken, ...(state.accessToken === null ? [] : [state.accessToken]));
      const shown = { reveal: options.reveal === true, now: io.now() };
      if (options.json) {
        printJson(stateJson(state, shown));
      } else {
        print(formatStateLines(state, shown));
      }
    });

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
      const { tokens, options: upsertOptions } = await readPutRequest(options, io, secrets);
      const stored = await withStates(io, { create: true }, ({ repo }) =>
        repo.upsert(platform, tenantId, tokens, upsertOptions),
      );
      print([`stored ${formatSummaryLines([summarize(stored)], io.now()).join('')}`]);
    });

  program
    .command('delete')
    .description(
      'Delete the stored state of one (platform, tenantId), e.g. after the customer disconnected: their tokens must not linger.',
    )
    .argument('<platform>', 'e.g. jira')
    .argument('<tenantId>', 'the tenant (cloud id)')
    .action(async (platform: string, tenantId: string) => {
      const deleted = await withStates(io, { create: false }, ({ repo }) => repo.delete(platform, tenantId));
      if (!deleted) {
        throw new CliError(
          ExitCode.NotFoundOrConflict,
          `no state stored for ${describeKey(platform, tenantId)}; nothing deleted`,
        );
      }
      print([`deleted ${describeKey(platform, tenantId)}`]);
    });

  program
    .command('reencrypt')
    .description(
      'Re-encrypt every stored token that is not yet sealed under the first key of OAUTH_STATE_ENCRYPTION_KEYS (after a key rotation, or to seal plaintext rows). Safe to re-run.',
    )
    .option('--batch-size <rows>', 'rows read per batch (default 500)')
    .action(async (options: ReencryptCommandOptions) => {
      const batchSize = parseBatchSize(options.batchSize);
      // A terminal gets one bar redrawn in place; a pipe or a file gets one line per batch.
      let barDrawn = false;
      const onProgress = (progress: ReencryptProgress): void => {
        if (io.stdout.isTTY) {
          io.stdout.write(`\r${formatProgressBar(progress)}`);
          barDrawn = true;
        } else {
          print([formatProgressLine(progress)]);
        }
      };
      const { counts, failures } = await withStates(io, { create: false }, async ({ reencryption, warnings }) => {
        const before = warnings.length;
        const result = await reencryption.reencryptAll({ batchSize, onProgress });
        return { counts: result, failures: warnings.slice(before) };
      });
      if (barDrawn) {
        io.stdout.write('\n');
      }
      print([...failures.map((failure) => `failed: ${failure}`), `reencrypt done: ${formatReencryptCounts(counts)}`]);
      if (counts.failed > 0) {
        throw new CliError(
          ExitCode.Unavailable,
          `${counts.failed} row(s) could not be re-encrypted and were left as they were (a key problem, listed above)`,
        );
      }
    });

  return program;
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

/** Turns `put`'s options into the repo's arguments, reading a `-` value from stdin; bad input is a usage error. */
async function readPutRequest(options: PutOptions, io: CliIo, secrets: string[]): Promise<PutRequest> {
  const fromStdin = [options.refreshToken, options.accessToken, options.expectRefreshToken].filter(
    (value) => value === FROM_STDIN,
  );
  if (fromStdin.length > 1) {
    throw new CliError(ExitCode.Usage, `only one option can read its value from stdin (${FROM_STDIN})`);
  }
  const stdin = fromStdin.length > 0 ? await readStdin(io) : '';
  const value = (option: string | undefined): string | undefined => (option === FROM_STDIN ? stdin : option);
  const refreshToken = value(options.refreshToken) ?? '';
  const accessToken = value(options.accessToken) ?? null;
  const expectedRefreshToken = options.expectNone ? null : value(options.expectRefreshToken);
  secrets.push(
    ...[refreshToken, accessToken, expectedRefreshToken].filter(
      (secret): secret is string => typeof secret === 'string',
    ),
  );
  return {
    tokens: { refreshToken, accessToken, expiresAt: parseExpiry(options, io.now()) },
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

/** Reads stdin to its end and drops one trailing line break, so `echo "$TOKEN" |` works. */
async function readStdin(io: CliIo): Promise<string> {
  if (io.stdin.isTTY) {
    io.stderr.write('Reading the value from stdin: paste it, then press Enter and Ctrl+D.\n');
  }
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin) {
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  }
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/**
 * Reads the configuration from `io.env` (once: the application is booted on that very object),
 * boots the service's `AppModule` on it as a standalone application context with a quiet logger,
 * hands its injected repo to `work` and closes the context again.
 *
 * Without `create`, a database file that does not exist is an error rather than a fresh, empty
 * database: `list` run from the wrong directory must not answer "nothing stored".
 */
async function withStates<T>(
  io: CliIo,
  options: { create: boolean },
  work: (states: States) => Promise<T>,
): Promise<T> {
  const config = loadConfig(io.env);
  // A server database (DATABASE_URL) has no file to look for; `location` never shows its password.
  const database = config.database.location;
  if (
    config.database.type === 'better-sqlite3' &&
    !options.create &&
    database !== ':memory:' &&
    !existsSync(database)
  ) {
    throw new CliError(
      ExitCode.Unavailable,
      `no database at ${database}: set DATABASE_PATH to the service's database file`,
    );
  }
  // Loaded here, not at the top: `--help` and usage errors answer without loading Nest and TypeORM.
  const [
    { NestFactory },
    { AppModule },
    { AtlassianOauthStateRepo: Repo, AtlassianOauthReencryptionService: Reencryption },
  ] = await Promise.all([import('@nestjs/core'), import('../app.module'), import('../atlassian')]);
  const logger = new CliLogger();
  let app: INestApplicationContext;
  try {
    app = await NestFactory.createApplicationContext(AppModule.forConfig(config), { logger, abortOnError: false });
  } catch (error) {
    if (error instanceof TokenEncryptionConfigError) {
      throw error;
    }
    throw new CliError(ExitCode.Unavailable, `cannot open the database ${database}: ${toFailure(error).message}`);
  }
  try {
    return await work({ repo: app.get(Repo), reencryption: app.get(Reencryption), warnings: logger.warnings });
  } finally {
    await app.close();
  }
}
