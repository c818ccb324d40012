import { CommanderError } from 'commander';
import {
  AtlassianOauthStateConflictError,
  AtlassianOauthStateValidationError,
} from '../atlassian/atlassian-oauth-state.errors';
import { describeKey, REDACTED } from './cli-format';

/** The exit codes of the `agent-core` CLI. */
export const ExitCode = {
  /** The command did what was asked. */
  Ok: 0,
  /**
   * The state asked for is not stored, or a conditional write lost to another writer, or the
   * command found something an operator must act on: `check` or `health` failed, `list
   * --unhealthy` listed a state, `keep-alive` could not refresh a grant or found one revoked.
   */
  NotFoundOrConflict: 1,
  /** A usage error or bad input: nothing was written. */
  Usage: 2,
  /** The database cannot be reached or opened, or holds no agent-core tables, or the configuration (keys) is wrong. */
  Unavailable: 3,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** A failure the CLI reports as one line on stderr and ends with `exitCode`. */
export class CliError extends Error {
  override readonly name = 'CliError';

  constructor(
    readonly exitCode: ExitCode,
    message: string,
  ) {
    super(message);
  }
}

/** What the CLI prints (after `agent-core: `) and exits with for an error. */
export interface CliFailure {
  readonly exitCode: ExitCode;
  readonly message: string;
}

/**
 * Maps any error to its exit code and one stderr line: our own errors keep their code, a conditional
 * write's conflict is 1, commander's usage errors and the repo's validation errors are usage (2),
 * and anything else (the database, the driver, the keys) is 3. The line is the error's message only, never a stack trace.
 */
export function toFailure(error: unknown): CliFailure {
  if (error instanceof CliError) {
    return { exitCode: error.exitCode, message: error.message };
  }
  if (error instanceof CommanderError) {
    return { exitCode: error.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage, message: describeUsageError(error) };
  }
  if (error instanceof AtlassianOauthStateConflictError) {
    const key = describeKey(error.platform, error.tenantId);
    const found = error.current
      ? `the stored state of ${key} (updated ${error.current.updatedAt.toISOString()}) is not the expected one`
      : `nothing is stored for ${key}`;
    return { exitCode: ExitCode.NotFoundOrConflict, message: `conflict: ${found}; nothing was written` };
  }
  if (error instanceof AtlassianOauthStateValidationError) {
    return { exitCode: ExitCode.Usage, message: error.message };
  }
  return { exitCode: ExitCode.Unavailable, message: error instanceof Error ? error.message : String(error) };
}

/**
 * Commander's errors whose message quotes only what the program declares (its option flags,
 * argument names and counts), never a word the user typed.
 */
const DECLARED_ONLY = new Set([
  'commander.missingArgument',
  'commander.optionMissingArgument',
  'commander.missingMandatoryOptionValue',
  'commander.conflictingOption',
  'commander.excessArguments',
  'commander.helpDisplayed',
  'commander.help',
  'commander.version',
]);

/** An option's name as typed, up to where a value could start (`=`, a space, a quote). */
const OPTION_NAME = /^--?[A-Za-z0-9][A-Za-z0-9-]*/;

/**
 * Commander's error as one message that echoes nothing the user typed but an option's or a
 * command's name. Commander quotes a mistyped option whole (`--acess-token='PART1 PART2'` arrives
 * as one word, quotes, spaces and all), so its message is rebuilt from the name alone rather than
 * scrubbed: no pattern can tell where such a value ends.
 */
function describeUsageError(error: CommanderError): string {
  const message = error.message.replace(/^error: /, '');
  if (DECLARED_ONLY.has(error.code)) {
    return message;
  }
  // Commander's suggestion names a declared option or command: `(Did you mean --access-token?)`.
  const suggestion = /\(Did you mean (--?[A-Za-z0-9-]+|[a-z][a-z-]*)\?\)\s*$/.exec(message)?.[1];
  const hint = suggestion ? ` (did you mean ${suggestion}?)` : '';
  if (error.code === 'commander.unknownOption') {
    const typed = /^unknown option '(.*)'/s.exec(message)?.[1] ?? '';
    const name = OPTION_NAME.exec(typed)?.[0];
    return `${name ? `unknown option '${name}'` : 'unknown option'}${typed.length > (name?.length ?? 0) ? ' (its value is not shown)' : ''}${hint}`;
  }
  if (error.code === 'commander.unknownCommand') {
    const typed = /^unknown command '(.*)'/s.exec(message)?.[1] ?? '';
    return `${/^[a-z][a-z-]{0,31}$/.test(typed) ? `unknown command '${typed}'` : 'unknown command'}${hint}`;
  }
  // Anything else (e.g. an argument's value that failed to parse) is named by its kind only.
  return `invalid usage (${error.code.replace(/^commander\./, '')})`;
}

/** Shortest value {@link toOneSafeLine} scrubs, so that a one-letter value does not blank out a message. */
const MIN_SECRET_LENGTH = 4;

/**
 * Makes `message` safe for stderr: one line, each of `secrets` (the token values this run was
 * given) replaced by {@link REDACTED}, the password of any `scheme://user:password@` URL masked,
 * and the value of any `--option=value` (e.g. a mistyped option commander quotes back) redacted.
 */
export function toOneSafeLine(message: string, secrets: readonly string[]): string {
  let line = message.replace(/\s*[\r\n]+\s*/g, ' ').trim();
  for (const secret of secrets) {
    if (secret.length >= MIN_SECRET_LENGTH) {
      line = line.split(secret).join(REDACTED);
    }
  }
  return (
    line
      .replace(/(\/\/[^/\s:@]*:)[^@\s/]*@/g, '$1***@')
      // A mistyped option (`--acess-token=V`) reaches commander's error as it was typed, value and all.
      .replace(/(--[A-Za-z0-9-]+)=[^\s'"]+/g, `$1=${REDACTED}`)
  );
}
