/** Legacy (eslintrc) config: ESLint 9 reads it with ESLINT_USE_FLAT_CONFIG=false. */
module.exports = {
  root: true,
  parser: '@typescript-eslint/parser',
  parserOptions: {
    project: './tsconfig.json',
    tsconfigRootDir: __dirname,
    sourceType: 'module',
  },
  plugins: ['@typescript-eslint'],
  extends: ['eslint:recommended', 'plugin:@typescript-eslint/recommended-type-checked'],
  env: { node: true, jest: true },
  ignorePatterns: ['.eslintrc.cjs', 'dist', 'node_modules', 'coverage'],
  rules: {
    '@typescript-eslint/no-explicit-any': 'error',
    '@typescript-eslint/no-floating-promises': 'error',
    '@typescript-eslint/no-misused-promises': 'error',
    '@typescript-eslint/await-thenable': 'error',
    '@typescript-eslint/require-await': 'error',
    '@typescript-eslint/ban-ts-comment': 'error',
    '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    eqeqeq: 'error',
    curly: 'error',
  },
  overrides: [
    {
      // Jest's asymmetric matchers (`expect.any(Date)`) are typed `any` by @types/jest.
      files: ['**/*.spec.ts', '**/*.e2e-spec.ts'],
      rules: { '@typescript-eslint/no-unsafe-assignment': 'off' },
    },
  ],
};
