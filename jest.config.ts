import type { Config } from 'jest';

/**
 * `npm test`: the specs that need no second process, in one jest run that a laptop without any
 * database server passes. Unit specs sit next to their file in `src/`; `test/integration/` boots
 * the modules in-process on real databases: SQLite always, and PostgreSQL / MariaDB when
 * `TEST_POSTGRES_URL` / `TEST_MARIADB_URL` name them. Processes, the CLI, the service binary and
 * the bench run under `npm run test:e2e` (`jest.e2e.config.ts`).
 */
const config: Config = {
  moduleFileExtensions: ['js', 'mjs', 'json', 'ts'],
  rootDir: '.',
  testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/integration/**/*.spec.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
    // oauth4webapi ships ESM only: ts-jest compiles it to CommonJS for jest (Node 20's require(esm)
    // loads it in the built service, but not inside jest's module system).
    '^.+/node_modules/oauth4webapi/.+\\.js$': ['ts-jest', { tsconfig: { allowJs: true }, isolatedModules: true }],
  },
  transformIgnorePatterns: ['/node_modules/(?!oauth4webapi/)'],
  testEnvironment: 'node',
  testTimeout: 60_000,
  // Says once, before the run, which server suites run, which are skipped and why.
  globalSetup: '<rootDir>/test/support/server-suites-notice.ts',
};

export default config;
