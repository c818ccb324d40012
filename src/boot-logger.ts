import { ConsoleLogger, Logger } from '@nestjs/common';
import { LoggingConfig } from './config/logging.config';

/** The context Nest logs an exception thrown while the application is created under. */
const NEST_EXCEPTION_HANDLER = 'ExceptionHandler';

/**
 * Nest's console logger at the configured levels, without the error (and its stack) that Nest
 * logs itself when creating the application fails: the service reports that failure once, in its
 * own words ({@link reportBootFailure}).
 */
export class BootLogger extends ConsoleLogger {
  constructor(logging: LoggingConfig) {
    super();
    this.setLogLevels(logging.nestLogLevels);
  }

  override error(message: unknown, ...optionalParams: unknown[]): void {
    if (optionalParams.at(-1) === NEST_EXCEPTION_HANDLER) {
      return;
    }
    super.error(message, ...optionalParams);
  }
}

/**
 * Logs why the service could not boot: one `Boot failed: <message>` line, and the stack after it
 * only with `LOG_LEVEL=debug`. The messages of agent-core's errors name the setting at fault and
 * never a secret.
 */
export function reportBootFailure(error: unknown, logging: LoggingConfig): void {
  const message = `Boot failed: ${error instanceof Error ? error.message : String(error)}`;
  const logger = new Logger('agent-core');
  if (logging.debug && error instanceof Error && error.stack) {
    logger.error(message, error.stack);
  } else {
    logger.error(message);
  }
}
