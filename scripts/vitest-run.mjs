#!/usr/bin/env node
// Runs `vitest run ARGS` for scripts/test.mjs (inside its loopback-only namespace).
//
// node-datachannel 0.33.4 can deadlock in native code on a TURN-relayed DTLS setup and freeze the
// whole process (native-notes.md, "TURN: a DTLS setup that deadlocks the process"); nothing in
// JavaScript can report or recover that. test/setup/freeze-watchdog.ts kills a test process whose
// event loop stopped and names the test in RTC_TEST_FREEZE_LOG (test/fixtures/agent-child.ts
// does the same for child agents). Such a file runs once more, alone; the run passes only if every
// failure of the first run was in a file that froze, and the second run of those files passes with
// no freeze. Whatever happens, vitest is stopped after a bound, so CI reports instead of timing out.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The whole suite takes about 15 min on 2 cores; CI gives up at 90 min including installs. */
const FIRST_RUN_LIMIT_MS = 60 * 60_000;
const RERUN_LIMIT_MS = 15 * 60_000;

const args = process.argv.slice(2);
const dir = mkdtempSync(join(tmpdir(), 'rtc-agent-vitest-'));

function run(tag, vitestArgs, limitMs) {
  const freezeLog = join(dir, `freezes-${tag}.jsonl`);
  const resultsFile = join(dir, `results-${tag}.json`);
  const child = spawn(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', ...vitestArgs], {
    stdio: 'inherit',
    env: { ...process.env, RTC_TEST_FREEZE_LOG: freezeLog, RTC_TEST_RESULTS: resultsFile },
  });
  return new Promise((resolve) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      console.log(`\n[vitest-run] vitest did not finish within ${limitMs / 60_000} min; stopping it`);
      child.kill('SIGKILL');
    }, limitMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const frozen = existsSync(freezeLog)
        ? readFileSync(freezeLog, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line))
        : [];
      const results = existsSync(resultsFile) ? JSON.parse(readFileSync(resultsFile, 'utf8')) : null;
      resolve({ status: timedOut ? 1 : code ?? (signal ? 1 : 0), frozen, results });
    });
  });
}

const fileOf = (label) => String(label).split(' > ')[0];
const bad = (f) => f.failed + f.unfinished > 0;

const first = await run('first', args, FIRST_RUN_LIMIT_MS);
let status = first.status;
if (first.frozen.length > 0) {
  const frozenFiles = [...new Set(first.frozen.map((f) => fileOf(f.label)))];
  console.log(`\n[vitest-run] froze in native code and will run again: ${first.frozen.map((f) => f.label).join('; ')}`);
  const workerFreezes = first.frozen.filter((f) => !String(f.label).endsWith('(child agent)')).length;
  const unexplained = first.results === null
    ? ['(no results: vitest did not finish)']
    : [
        ...first.results.files.filter((f) => bad(f) && !frozenFiles.includes(f.file)).map((f) => f.file),
        ...(first.results.unhandledErrors > workerFreezes ? [`${first.results.unhandledErrors - workerFreezes} unhandled error(s)`] : []),
      ];
  if (unexplained.length > 0) {
    console.log(`[vitest-run] failures not explained by the freeze: ${unexplained.join(', ')}`);
    status = 1;
  } else {
    const again = await run('again', frozenFiles, RERUN_LIMIT_MS);
    const kept = first.results.files.filter((f) => !frozenFiles.includes(f.file));
    const all = [...kept, ...(again.results?.files ?? [])];
    const sum = (k) => all.reduce((n, f) => n + f[k], 0);
    if (again.frozen.length > 0) console.log(`[vitest-run] froze again: ${again.frozen.map((f) => f.label).join('; ')}`);
    status = again.status === 0 && again.frozen.length === 0 && again.results !== null ? 0 : 1;
    console.log(
      `\n[vitest-run] the first run, with ${frozenFiles.join(', ')} run again: ` +
        `${sum('passed')} passed, ${sum('failed') + sum('unfinished') + (again.results?.unhandledErrors ?? 1)} failed, ${sum('skipped')} skipped`,
    );
  }
}
rmSync(dir, { recursive: true, force: true });
process.exitCode = status;
