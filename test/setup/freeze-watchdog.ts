/**
 * In every test process: if its JavaScript thread stops for good (libdatachannel's TURN DTLS
 * deadlock, native-notes.md), kill the process so vitest reports the file and goes on instead of
 * waiting for it until CI gives up. The frozen test is named on stderr and, when
 * RTC_TEST_FREEZE_LOG is set (scripts/vitest-run.mjs sets it), in that file, which decides
 * whether the file runs again.
 */
import { beforeAll, beforeEach, expect } from 'vitest';
import { relative } from 'node:path';
import { startFreezeWatchdog, type FreezeWatchdog } from '../../src/node/freeze-watchdog.js';

const key = Symbol.for('rtc-agent.test-freeze-watchdog');
const holder = globalThis as { [key]?: FreezeWatchdog };
const watchdog = (holder[key] ??= startFreezeWatchdog({
  message: '[freeze-watchdog] this test process was frozen for 60 s (its event loop blocked, in native code: see native-notes.md, "TURN: a DTLS setup that deadlocks the process"); killing it so the run goes on',
  ...(process.env.RTC_TEST_FREEZE_LOG ? { appendTo: process.env.RTC_TEST_FREEZE_LOG } : {}),
}));

beforeAll(() => {
  watchdog.setLabel(`${relative(process.cwd(), expect.getState().testPath ?? '?')} > (hooks)`);
});

beforeEach(() => {
  const state = expect.getState();
  watchdog.setLabel(`${relative(process.cwd(), state.testPath ?? '?')} > ${state.currentTestName ?? '?'}`);
});
