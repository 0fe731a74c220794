import type { RunnerTestCase } from 'vitest';
import { defineConfig } from 'vitest/config';
import type { Reporter, Vitest } from 'vitest/node';
import base from './vitest.config.ts';

/**
 * The tests StrykerJS runs against each mutant of the pure rules (stryker.config.mjs): the unit
 * tests of those files only. They need no database, so there is no global setup: a mutant run
 * costs milliseconds rather than a PostgreSQL start.
 */
export const mutationTestFiles = [
  'test/proration.test.ts',
  'test/periods.test.ts',
  'test/rules.test.ts',
  'test/webhook-signature.test.ts',
  'test/webhook-url.test.ts',
  'test/mutants.test.ts',
];

/**
 * A test file that fails while collecting (a mutant makes a describe body or an import throw)
 * has no tests, and @stryker-mutator/vitest-runner 9.6.1 judges a mutant by its tests alone, so
 * it would call that mutant Survived (stryker-js issue 6150). This reporter gives such a file one
 * failed test carrying the file's error, so the mutant counts as Killed, as it should.
 */
class UncollectableFileFails implements Reporter {
  private vitest: Vitest | undefined;

  onInit(vitest: Vitest) {
    this.vitest = vitest;
  }

  onTestRunEnd() {
    // The runner reads the same task tree (vitest.state) once the run has ended.
    for (const file of this.vitest?.state.getFiles() ?? []) {
      if (file.result?.state !== 'fail' || file.tasks.length > 0) continue;
      // Vitest types a test with a context that only it can build; nothing reads it after the run.
      const failed = {
        type: 'test',
        id: `${file.id}_uncollectable`,
        name: 'the test file fails to load',
        mode: 'run',
        file,
        suite: file,
        meta: {},
        result: { state: 'fail', errors: file.result.errors ?? [] },
      } as unknown as RunnerTestCase;
      file.tasks.push(failed);
    }
  }
}

export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: mutationTestFiles,
    globalSetup: [],
    reporters: ['default', new UncollectableFileFails()],
  },
});
