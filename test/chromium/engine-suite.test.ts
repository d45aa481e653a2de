/**
 * The engine's unit suite runs on both platforms: vitest runs test/engine/ under Node as part of
 * `npm test`, and this file runs the same files inside Debian's Chromium (vitest browser mode,
 * test/chromium/vitest.engine.config.ts) and fails when any test fails there — or when a file of
 * the suite did not run there at all. Skipped, with the reason printed, when /usr/bin/chromium is
 * missing.
 *
 * It also keeps test/engine/ platform-neutral: no `node:` imports, no Buffer, no process.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { within } from '../helpers/wait.js';
import { CHROMIUM_PATH } from './vitest.engine.config.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SUITE = join(ROOT, 'test/engine');
const REPORT = join(ROOT, 'test-artifacts/engine-chromium.json');
const HAS_CHROMIUM = existsSync(CHROMIUM_PATH);
/** The whole browser pass, a minute on an idle machine: generous, since other runs share the 2 cores. */
const CHROMIUM_PASS_TIMEOUT_MS = 480_000;

if (!HAS_CHROMIUM) console.warn(`engine suite in Chromium skipped: ${CHROMIUM_PATH} is missing (apt-get install chromium)`);

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}

interface JsonReport {
  numTotalTests: number;
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  success: boolean;
  testResults: { name: string; status: string; message: string; assertionResults: { fullName: string; status: string; failureMessages: string[] }[] }[];
}

/** Runs vitest with the browser config in a child process; resolves with its exit code and output. */
function runChromiumPass(): Promise<{ code: number | null; output: string }> {
  // Not the parent run's worker variables: the child is a vitest run of its own.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST')));
  const child = spawn(
    process.execPath,
    [join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--config', 'test/chromium/vitest.engine.config.ts', '--reporter=json', `--outputFile=${REPORT}`],
    { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
  return within(exited, CHROMIUM_PASS_TIMEOUT_MS - 10_000, 'the Chromium pass of the engine suite').catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
}

describe('the engine suite', () => {
  it('uses no Node APIs, so it can run in a browser', () => {
    const offenders: string[] = [];
    for (const file of filesUnder(SUITE).filter((f) => f.endsWith('.ts'))) {
      // Code only: comments may well say "no Buffer".
      const source = readFileSync(file, 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/(^|[^:])\/\/.*$/gm, '$1');
      for (const [pattern, what] of [
        [/from\s+['"]node:|import\(\s*['"]node:|require\(/, 'a node: import or require'],
        [/\bBuffer\b/, 'Buffer'],
        [/\bprocess\./, 'process'],
        [/\b__dirname\b|\b__filename\b/, '__dirname/__filename'],
      ] as const) {
        if (pattern.test(source)) offenders.push(`${relative(ROOT, file)}: ${what}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it.skipIf(!HAS_CHROMIUM)(
    'passes inside Chromium, every file of it',
    async () => {
      mkdirSync(join(ROOT, 'test-artifacts'), { recursive: true });
      rmSync(REPORT, { force: true });
      const { code, output } = await runChromiumPass();
      expect(existsSync(REPORT), `vitest wrote no report (exit ${code}):\n${output.slice(-4000)}`).toBe(true);
      const report = JSON.parse(readFileSync(REPORT, 'utf8')) as JsonReport;
      const failures = report.testResults.flatMap((f) => [
        ...(f.status === 'failed' && f.assertionResults.length === 0 ? [`${relative(ROOT, f.name)}: ${f.message}`] : []),
        ...f.assertionResults.filter((t) => t.status === 'failed').map((t) => `${relative(ROOT, f.name)} > ${t.fullName}: ${t.failureMessages.join('\n').slice(0, 1500)}`),
      ]);
      expect(failures, 'tests that failed in Chromium').toEqual([]);
      expect(code, output.slice(-4000)).toBe(0);
      // Every test file of the suite ran there (a file that failed to load would report no tests).
      const expected = filesUnder(SUITE).filter((f) => f.endsWith('.test.ts')).map((f) => relative(ROOT, f)).sort();
      const ran = report.testResults.filter((f) => f.assertionResults.length > 0).map((f) => relative(ROOT, f.name)).sort();
      expect(ran).toEqual(expected);
      expect(report.numFailedTests).toBe(0);
      expect(report.numPendingTests + report.numTodoTests, 'tests skipped in Chromium').toBe(0);
      expect(report.numPassedTests).toBe(report.numTotalTests);
      console.log(`engine suite in Chromium: ${report.numPassedTests} tests in ${ran.length} files passed`);
    },
    CHROMIUM_PASS_TIMEOUT_MS,
  );
});
