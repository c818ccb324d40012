import { Command, CommanderError } from 'commander';
import { QueryFailedError } from 'typeorm';
import {
  AtlassianOauthStateConflictError,
  AtlassianOauthStateEntity,
  AtlassianOauthStateValidationError,
} from '../atlassian';
import { CliError, ExitCode, toFailure, toOneSafeLine } from './cli-errors';

describe('toFailure', () => {
  it.each([
    ['a CliError', new CliError(ExitCode.NotFoundOrConflict, 'no state'), ExitCode.NotFoundOrConflict, 'no state'],
    [
      'a commander usage error',
      new CommanderError(1, 'commander.unknownOption', "error: unknown option '--x'"),
      ExitCode.Usage,
      "unknown option '--x'",
    ],
    [
      'commander having shown help',
      new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)'),
      ExitCode.Ok,
      '(outputHelp)',
    ],
    [
      'a validation error',
      new AtlassianOauthStateValidationError('tenantId', 'must be a non-blank string'),
      ExitCode.Usage,
      'Invalid Atlassian OAuth state: tenantId must be a non-blank string.',
    ],
    [
      'a conflict with nothing stored',
      new AtlassianOauthStateConflictError('jira', 't', null),
      ExitCode.NotFoundOrConflict,
      'conflict: nothing is stored for jira/t; nothing was written',
    ],
    [
      'a conflict with a newer state',
      new AtlassianOauthStateConflictError(
        'jira',
        't',
        Object.assign(new AtlassianOauthStateEntity(), {
          refreshToken: 'winner-token',
          updatedAt: new Date('2026-11-27T10:00:00.000Z'),
        }),
      ),
      ExitCode.NotFoundOrConflict,
      'conflict: the stored state of jira/t (updated 2026-11-27T10:00:00.000Z) is not the expected one; nothing was written',
    ],
    [
      'a driver error',
      new QueryFailedError('SELECT 1', [], new Error('SQLITE_IOERR: disk I/O error')),
      ExitCode.Unavailable,
      'SQLITE_IOERR: disk I/O error',
    ],
    ['a thrown string', 'boom', ExitCode.Unavailable, 'boom'],
  ])('maps %s to its exit code and message', (_case, error, exitCode, message) => {
    expect(toFailure(error)).toEqual({ exitCode, message });
  });
});

describe('toFailure on a mistyped or malformed option', () => {
  /** The error commander raises for `args` on a program with put's token options. */
  const commanderErrorFor = (args: string[]): CommanderError => {
    const program = new Command('agent-core').exitOverride().configureOutput({ outputError: () => undefined });
    program
      .command('put')
      .argument('<platform>')
      .argument('<tenantId>')
      .option('--access-token <value>')
      .option('--refresh-token <value>')
      .action(() => undefined);
    try {
      program.parse(args, { from: 'user' });
    } catch (error) {
      return error as CommanderError;
    }
    throw new Error('commander accepted the arguments');
  };

  it.each([
    ['a value with a space', '--acess-token=PART1 PART2', "unknown option '--acess-token' (its value is not shown)"],
    ['a quoted value', "--acess-token='PART1 PART2'", "unknown option '--acess-token' (its value is not shown)"],
    [
      'a value with quotes inside',
      '--acess-token=a\'b"c PART2',
      "unknown option '--acess-token' (its value is not shown)",
    ],
    ['a short option with a value', '-x=PART1 PART2', "unknown option '-x' (its value is not shown)"],
    [
      'a value that looks like an option',
      '--acess-token=--PART1',
      "unknown option '--acess-token' (its value is not shown)",
    ],
    ['a word that is no option name', "-'PART1 PART2", 'unknown option (its value is not shown)'],
  ])('echoes %s by the option name only', (_case, typed, expected) => {
    const { message, exitCode } = toFailure(commanderErrorFor(['put', 'jira', 't', typed]));

    expect(exitCode).toBe(ExitCode.Usage);
    expect(message).toBe(expected);
    expect(message).not.toMatch(/PART|'b|"c/);
  });

  it("keeps commander's suggestion, which names a declared option", () => {
    expect(toFailure(commanderErrorFor(['put', 'jira', 't', '--acess-token', 'PART1'])).message).toBe(
      "unknown option '--acess-token' (did you mean --access-token?)",
    );
  });

  it('names an unknown command only when it looks like a command name', () => {
    expect(toFailure(commanderErrorFor(['putt'])).message).toBe("unknown command 'putt' (did you mean put?)");
    expect(toFailure(commanderErrorFor(['AT-secret-token.value'])).message).toBe('unknown command');
  });
});

describe('toOneSafeLine', () => {
  it('joins lines, so a stack or a multi-line driver message stays one line', () => {
    expect(toOneSafeLine('first\n  second\r\nthird\n', [])).toBe('first second third');
  });

  it('replaces every given secret, but not values too short to be one', () => {
    expect(toOneSafeLine('token tok-123 rejected; tok-123 again; a', ['tok-123', 'a'])).toBe(
      'token [redacted] rejected; [redacted] again; a',
    );
  });

  it('redacts the value of an --option=value that commander quotes back', () => {
    expect(toOneSafeLine("error: unknown option '--acess-token=AT-secret-999'", [])).toBe(
      "error: unknown option '--acess-token=[redacted]'",
    );
  });

  it('masks the password of a URL', () => {
    expect(toOneSafeLine('connect postgres://app:s3cr%40t@db:5432/x failed', [])).toBe(
      'connect postgres://app:***@db:5432/x failed',
    );
  });
});
