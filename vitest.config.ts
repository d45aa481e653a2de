import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real servers and native peers: give each test room, and keep files in separate processes so
    // one file's native handles can't keep another's alive.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Kills a test process frozen in native code, so the run goes on (scripts/vitest-run.mjs).
    setupFiles: ['./test/setup/freeze-watchdog.ts'],
    reporters: ['default', './test/reporters/summary-line.ts'],
  },
});
