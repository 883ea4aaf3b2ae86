/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  // Two cores here and in CI; end-to-end tests spawn the CLI and simulators.
  maxWorkers: 2,
  testTimeout: 30000,
  watchman: false,
};
