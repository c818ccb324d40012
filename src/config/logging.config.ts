import { LogLevel } from '@nestjs/common';
import { z } from 'zod';
import { LoggingConfigError } from './config.errors';
import { Environment, validateEnvironment } from './environment';

/** `LOG_LEVEL`: `log` (the default) or `debug`. */
export type LoggingLevel = 'log' | 'debug';

/**
 * How much the service logs. It is read on its own, before the rest of the configuration and
 * outside Nest's container, because it decides how a failure to read the rest is reported.
 */
export interface LoggingConfig {
  readonly level: LoggingLevel;
  /** The Nest log levels that {@link level} turns on. */
  readonly nestLogLevels: LogLevel[];
  /** `LOG_LEVEL=debug`: Nest's debug and verbose lines, and the stack of a boot failure. */
  readonly debug: boolean;
}

const loggingEnvironment = z.object({
  LOG_LEVEL: z
    .string()
    .optional()
    .transform((value) => value?.trim() || 'log')
    .pipe(z.enum(['log', 'debug'], { error: 'must be log or debug' })),
});

/** What a failure is reported with when `LOG_LEVEL` itself is unusable. */
export const DEFAULT_LOGGING: LoggingConfig = { level: 'log', nestLogLevels: ['log', 'warn', 'error'], debug: false };

/**
 * Reads `LOG_LEVEL` from `env`.
 *
 * @throws LoggingConfigError naming `LOG_LEVEL` when it is neither `log` nor `debug`.
 */
export function readLoggingConfig(env: Environment): LoggingConfig {
  const { LOG_LEVEL: level } = validateEnvironment(
    loggingEnvironment,
    env,
    (variable, problem) => new LoggingConfigError(variable, problem),
  );
  return level === 'debug'
    ? { level, nestLogLevels: [...DEFAULT_LOGGING.nestLogLevels, 'debug', 'verbose'], debug: true }
    : DEFAULT_LOGGING;
}
