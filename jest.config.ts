import type { Config } from 'jest';

const config: Config = {
  moduleFileExtensions: ['js', 'mjs', 'json', 'ts'],
  rootDir: '.',
  roots: ['<rootDir>/src', '<rootDir>/test'],
  testRegex: '.*\\.(spec|e2e-spec)\\.ts$',
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
    // oauth4webapi ships ESM only: ts-jest compiles it to CommonJS for jest (Node 20's require(esm)
    // loads it in the built service, but not inside jest's module system).
    '^.+/node_modules/oauth4webapi/.+\\.js$': ['ts-jest', { tsconfig: { allowJs: true }, isolatedModules: true }],
  },
  transformIgnorePatterns: ['/node_modules/(?!oauth4webapi/)'],
  testEnvironment: 'node',
  testTimeout: 60_000,
};

export default config;
