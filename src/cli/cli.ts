import { Command, CommanderError } from 'commander';
import { CLI_NAME, CliContext, CliIo } from './cli-context';
import { CliError, ExitCode, toFailure, toOneSafeLine } from './cli-errors';
import { registerBackupCommand } from './commands/backup.command';
import { registerCheckCommand } from './commands/check.command';
import { registerDeleteCommand } from './commands/delete.command';
import { registerConnectCommand } from './commands/connect.command';
import { registerGetCommand } from './commands/get.command';
import { registerHealthCommand } from './commands/health.command';
import { registerKeepAliveCommand } from './commands/keep-alive.command';
import { registerListCommand } from './commands/list.command';
import { registerPutCommand } from './commands/put.command';
import { registerReencryptCommand } from './commands/reencrypt.command';
import { registerSitesCommand } from './commands/sites.command';

export { CliIo } from './cli-context';

/** Every command, in the order `--help` lists them; each lives in `commands/<name>.command.ts`. */
const COMMANDS = [
  registerListCommand,
  registerGetCommand,
  registerPutCommand,
  registerDeleteCommand,
  registerReencryptCommand,
  registerCheckCommand,
  registerBackupCommand,
  registerHealthCommand,
  registerKeepAliveCommand,
  registerConnectCommand,
  registerSitesCommand,
] as const;

/**
 * Runs one `agent-core` command and resolves with its exit code (see {@link ExitCode}); it never
 * rejects. Output goes to `io.stdout`; a failure is one line on `io.stderr`, without a stack trace
 * or a token value. The database is opened only for a command that needs it, through the service's
 * own `AppModule`, so configuration, validation and conditional writes are the service's.
 */
export async function runCli(args: readonly string[], io: CliIo): Promise<number> {
  const cli = new CliContext(io);
  const program = buildProgram(cli);
  try {
    if (args.length === 0) {
      throw new CliError(ExitCode.Usage, `missing command (see '${CLI_NAME} --help')`);
    }
    await program.parseAsync(args, { from: 'user' });
    return ExitCode.Ok;
  } catch (error) {
    const { exitCode, message } = toFailure(error);
    if (exitCode !== ExitCode.Ok) {
      const command = program.commands.find((c) => c.name() === args[0]);
      const hint =
        error instanceof CommanderError
          ? ` (see '${command ? `${CLI_NAME} ${command.name()}` : CLI_NAME} --help')`
          : '';
      io.stderr.write(`${CLI_NAME}: ${toOneSafeLine(message, cli.secrets)}${hint}\n`);
    }
    return exitCode;
  }
}

function buildProgram(cli: CliContext): Command {
  const program = new Command(CLI_NAME)
    .description(
      'Operator tool for the Atlassian OAuth token state that agent-core stores. It reads the same configuration as the service (DATABASE_PATH, ...).',
    )
    .exitOverride()
    .configureOutput({
      writeOut: (text) => cli.io.stdout.write(text),
      writeErr: (text) => cli.io.stderr.write(text),
      // runCli prints the one error line itself.
      outputError: () => undefined,
    })
    .helpCommand(true)
    .addHelpText(
      'after',
      '\nExit codes: 0 done; 1 not found, conflict, or something needs attention (check, health: failed; list --unhealthy: listed any; keep-alive: a grant failed or was found revoked); 2 usage or bad input; 3 database or key problem (check: no agent-core tables).',
    );
  for (const register of COMMANDS) {
    register(program, cli);
  }
  return program;
}
