// @ts-check
/**
 * Mutation testing of the pure rules: StrykerJS changes one operator, condition or literal at a
 * time in these files and runs their unit tests (vitest.mutate.config.ts); a mutant that no test
 * notices is a gap in the tests. `npm run mutate` runs it and writes reports/mutation/.
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  vitest: { configFile: 'vitest.mutate.config.ts' },
  coverageAnalysis: 'perTest',
  mutate: [
    'src/billing/proration.ts',
    'src/billing/periods.ts',
    'src/seats/rules.ts',
    'src/flows/seat-pricing.ts',
    // The request fingerprints: canonical JSON, requestHash, claimId, and replayOf, which compares them.
    'src/idempotency/fingerprint.ts',
    'src/webhooks/signature.ts',
    'src/webhooks/url.ts',
  ],
  ignorePatterns: ['.data', 'coverage', 'dist', 'reports'],
  tempDirName: '.stryker-tmp',
  concurrency: 2,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  // The score was 94.8% when set (the survivors are judged equivalent in docs/testing.md); CI fails
  // below the floor, which leaves room for a few new mutants before a test must be added.
  thresholds: { high: 95, low: 90, break: 90 },
};
