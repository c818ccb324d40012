import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { INestApplicationContext, LoggerService } from '@nestjs/common';
import type {
  AtlassianOauthRefreshHealthRepo,
  AtlassianSiteRepo,
  AtlassianOauthReencryptionService,
  AtlassianOauthStateRepo,
} from '../atlassian';
import { AtlassianOauthClientConfigError } from '../atlassian/client/atlassian-oauth-client.errors';
import { loadConfig } from '../config/config';
import { Environment } from '../config/environment';
import { TokenEncryptionConfigError } from '../token-cipher/token-cipher.errors';
import { CliError, ExitCode, toFailure } from './cli-errors';

/** The command's name, as the `bin` entry installs it. */
export const CLI_NAME = 'agent-core';

/**
 * A token option's value of `-` means: read the token from stdin. Only one option of a run can.
 * Like {@link FROM_FILE}, it keeps the token out of argv, which every account on the host can read
 * (`ps`, `/proc/<pid>/cmdline`), and out of shell history.
 */
export const FROM_STDIN = '-';

/**
 * A token option's value of `@<path>` means: read the token from the file at `<path>` (one trailing
 * line break dropped), e.g. `@/run/secrets/refresh-token`, or `@<(vault kv get ...)` from a shell
 * that hands the command's output over as `/dev/fd/N` without a file on disk. Any number of options
 * can, so a conditional put needs no token on the command line.
 */
export const FROM_FILE = '@';

/** How the help text says where a token option can be read from. */
export const TOKEN_SOURCES_HELP = `${FROM_STDIN} reads it from stdin, ${FROM_FILE}<path> from a file; a literal value is visible to every account on the host (ps)`;

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

/** The repo and the re-encryption service of a booted context, and the warnings logged so far. */
export interface States {
  readonly repo: AtlassianOauthStateRepo;
  readonly reencryption: AtlassianOauthReencryptionService;
  readonly health: AtlassianOauthRefreshHealthRepo;
  /** The sites each key's grant reaches, as stored (no Atlassian credentials needed). */
  readonly sites: AtlassianSiteRepo;
  readonly warnings: readonly string[];
  /** The booted context, for what a command injects itself (the token service, the keep-alive sweep). */
  readonly app: INestApplicationContext;
}

/** How {@link CliContext.withStates} boots. */
export interface BootOptions {
  /** A SQLite file that does not exist is created (else refused). */
  readonly create: boolean;
  /**
   * Boot the Atlassian client, the token service and the keep-alive sweep too (`CliAtlassianModule`):
   * `ATLASSIAN_CLIENT_ID` and `ATLASSIAN_CLIENT_SECRET` are then required.
   */
  readonly atlassian?: boolean;
}

/**
 * What every command gets: the run's streams, the secrets its one error line must never show, and
 * the output and database helpers they all share.
 */
export class CliContext {
  /** Token values this run has seen: {@link toOneSafeLine} replaces them in the error line. */
  readonly secrets: string[] = [];

  constructor(readonly io: CliIo) {}

  /** Writes lines to stdout. */
  print(lines: readonly string[]): void {
    this.io.stdout.write(lines.map((line) => `${line}\n`).join(''));
  }

  /** Writes one JSON document to stdout. */
  printJson(value: unknown): void {
    this.print([JSON.stringify(value, null, 2)]);
  }

  /**
   * Reads the configuration from `io.env` (once: the application is booted on that very object),
   * boots the service's `AppModule` on it as a standalone application context with a quiet logger,
   * hands its injected repo to `work` and closes the context again.
   *
   * Without `create`, a database file that does not exist is an error rather than a fresh, empty
   * database: `list` run from the wrong directory must not answer "nothing stored".
   */
  async withStates<T>(options: BootOptions, work: (states: States) => Promise<T>): Promise<T> {
    const config = loadConfig(this.io.env);
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
      { CliAtlassianModule },
      {
        AtlassianOauthStateRepo: Repo,
        AtlassianOauthReencryptionService: Reencryption,
        AtlassianOauthRefreshHealthRepo: HealthRepo,
        AtlassianSiteRepo: SiteRepo,
      },
    ] = await Promise.all([
      import('@nestjs/core'),
      import('../app.module'),
      import('./cli-atlassian.module'),
      import('../atlassian'),
    ]);
    const logger = new CliLogger();
    let app: INestApplicationContext;
    try {
      const module = options.atlassian ? CliAtlassianModule.forConfig(config) : AppModule.forConfig(config);
      app = await NestFactory.createApplicationContext(module, { logger, abortOnError: false });
    } catch (error) {
      if (error instanceof TokenEncryptionConfigError || error instanceof AtlassianOauthClientConfigError) {
        throw error;
      }
      throw new CliError(ExitCode.Unavailable, `cannot open the database ${database}: ${toFailure(error).message}`);
    }
    try {
      return await work({
        repo: app.get(Repo),
        reencryption: app.get(Reencryption),
        health: app.get(HealthRepo),
        sites: app.get(SiteRepo),
        warnings: logger.warnings,
        app,
      });
    } finally {
      await app.close();
    }
  }

  /**
   * The token options of a command with their values read: `-` from stdin (one option at most),
   * `@<path>` from that file, anything else as given. Every value read joins {@link secrets}.
   *
   * @throws CliError (usage) when two options ask for stdin, or a file cannot be read (the message
   *   names the option and the path, never a value).
   */
  async readTokenOptions<K extends string>(
    options: Readonly<Record<K, string | undefined>>,
  ): Promise<Record<K, string | undefined>> {
    const entries = Object.entries(options) as [K, string | undefined][];
    const fromStdin = entries.filter(([, value]) => value === FROM_STDIN);
    if (fromStdin.length > 1) {
      throw new CliError(ExitCode.Usage, `only one option can read its value from stdin (${FROM_STDIN})`);
    }
    const stdin = fromStdin.length > 0 ? await this.readStdin() : '';
    const read = {} as Record<K, string | undefined>;
    for (const [name, value] of entries) {
      read[name] =
        value === FROM_STDIN ? stdin : value?.startsWith(FROM_FILE) ? await readTokenFile(name, value.slice(1)) : value;
      const secret = read[name];
      if (secret !== undefined) {
        this.secrets.push(secret);
      }
    }
    return read;
  }

  /** Reads stdin to its end and drops one trailing line break, so `echo "$TOKEN" |` works. */
  async readStdin(): Promise<string> {
    if (this.io.stdin.isTTY) {
      this.io.stderr.write('Reading the value from stdin: paste it, then press Enter and Ctrl+D.\n');
    }
    const chunks: Buffer[] = [];
    for await (const chunk of this.io.stdin) {
      chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    }
    return Buffer.concat(chunks)
      .toString('utf8')
      .replace(/\r?\n$/, '');
  }
}

/** The token in the file at `path`, without one trailing line break, for the option `name`. */
async function readTokenFile(name: string, path: string): Promise<string> {
  if (path === '') {
    throw new CliError(ExitCode.Usage, `${name}: ${FROM_FILE} must be followed by the path of the file to read`);
  }
  try {
    return (await readFile(path, 'utf8')).replace(/\r?\n$/, '');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'an error';
    throw new CliError(ExitCode.Usage, `${name}: cannot read the file ${JSON.stringify(path)} (${code})`);
  }
}

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
