/**
 * The database configuration in the environment is unusable: thrown at boot, before any
 * connection is tried. The message names the variable and what it must be; it never contains a
 * password.
 */
export class DatabaseConfigError extends Error {
  override readonly name = 'DatabaseConfigError';

  constructor(
    /** The environment variable at fault, e.g. `DATABASE_URL`. */
    readonly variable: string,
    problem: string,
  ) {
    super(`Invalid database configuration: ${variable} ${problem}.`);
  }
}

/**
 * The database server could not be reached or refused the login at boot. The message names the
 * engine, host, port, database and user, and the driver's reason; never the password.
 */
export class DatabaseConnectionError extends Error {
  override readonly name = 'DatabaseConnectionError';

  constructor(
    /** `host:port` of the server that failed. */
    readonly address: string,
    message: string,
  ) {
    super(message);
  }
}
