/** Every test: unit, store integration and e2e. Stores that need servers start them in globalSetup. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.spec.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest'] },
  moduleNameMapper: { '^nestjs-cache-memoize$': '<rootDir>/lib/index.ts' },
  testTimeout: 30000,
  // Two suites at once: most of the time goes to waiting (ttls, timeouts, servers, child processes),
  // and Jest's default (cores - 1) runs one at a time on a 2-core CI machine. Suites share the
  // servers globalSetup starts only under prefixes of their own; what stops, fills or counts a
  // server runs on a private one.
  maxWorkers: 2,
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
};
