import type { Config } from 'jest';
import unit from './jest.config';

/**
 * `npm run test:e2e`: whole-application tests in real processes: the service binary, the CLI,
 * several workers on one database, the token endpoint in a child process and the bench's quick
 * run. The server suites among them run when `TEST_POSTGRES_URL` / `TEST_MARIADB_URL` are set.
 */
const config: Config = {
  ...unit,
  testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
};

export default config;
