/**
 * Prints one plain closing line, "N passed, N failed, N skipped", after vitest's own summary, so
 * CI logs carry the counts in a form any tool can read. With RTC_TEST_RESULTS set it also
 * writes the counts per file there as JSON, for scripts/vitest-run.mjs to decide whether a run
 * whose only failure was a test process frozen in native code passed once that file ran again.
 */
import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';

export interface FileCounts {
  file: string;
  passed: number;
  failed: number;
  skipped: number;
  /** Tests that never finished: the file's process died under them. */
  unfinished: number;
}

export default class SummaryLineReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    const files: FileCounts[] = [];
    for (const mod of testModules) {
      const counts: FileCounts = { file: relative(process.cwd(), mod.moduleId), passed: 0, failed: 0, skipped: 0, unfinished: 0 };
      for (const test of mod.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') counts.passed++;
        else if (state === 'failed') counts.failed++;
        else if (state === 'skipped') counts.skipped++;
        else counts.unfinished++;
      }
      // A file that failed to load has no tests but is a failure all the same.
      if (mod.state() === 'failed' && [...mod.children.allTests()].length === 0) counts.failed++;
      files.push(counts);
    }
    const sum = (k: keyof Omit<FileCounts, 'file'>): number => files.reduce((n, f) => n + f[k], 0);
    const failed = sum('failed') + sum('unfinished') + unhandledErrors.length;
    process.stdout.write(`\n${sum('passed')} passed, ${failed} failed, ${sum('skipped')} skipped\n`);
    const out = process.env.RTC_TEST_RESULTS;
    if (out) writeFileSync(out, JSON.stringify({ files, unhandledErrors: unhandledErrors.length }));
  }
}
