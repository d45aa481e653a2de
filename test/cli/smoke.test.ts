/**
 * `rtc-agent smoke` as CI runs it: real worker processes, the embedded or a test hub, ICE on
 * loopback. Every run must end by itself with the documented exit code and leave no worker behind.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { Fleet } from '../../src/cli/smoke/fleet.js';
import { escapeXml, pairResults } from '../../src/cli/smoke/report.js';
import { useHub } from '../helpers/hub.js';
import { freePort } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SECRET = 'smoke-test-secret-0123456789';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function smoke(args: string[], nodeArgs: string[] = [], ms = 60_000): Promise<Run> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RTC_AGENT_')));
  const started = Date.now();
  const child = spawn(process.execPath, [...nodeArgs, 'bin/rtc-agent.js', 'smoke', '--ice-bind-address', '127.0.0.1', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    // The command must end by itself; this bound only turns a hang into a clear failure.
    const timer = setTimeout(() => reject(new Error(`smoke did not exit within ${ms} ms; stderr: ${stderr.slice(-2000)}`)), ms);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

interface Pair {
  a: string;
  b: string;
  path: string;
  ok: boolean;
  setupMs: number | null;
  rttMs: number | null;
  sent: number;
  received: number;
  lost: number;
  duplicated: number;
  reordered: number;
}

interface Report {
  ok: boolean;
  exitCode: number;
  reason?: string;
  hub: string;
  embeddedHub: boolean;
  room: string;
  expectedPath: string;
  messages: number;
  peers: { name: string; peerId: string | null; pid: number | null; native: boolean | null; connectMs: number | null }[];
  pairs: Pair[];
  durationMs: number;
  native: { available: boolean; version?: string; reason?: string } | null;
  version: string;
}

function parse(run: Run): Report {
  try {
    return JSON.parse(run.stdout) as Report;
  } catch {
    throw new Error(`stdout is not one JSON object (exit ${run.code}): ${run.stdout}\nstderr: ${run.stderr.slice(-2000)}`);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** No worker may outlive the command. */
function expectNoWorkersLeft(report: Report, count: number): void {
  const pids = report.peers.map((p) => p.pid);
  expect(pids).toHaveLength(count);
  for (const pid of pids) {
    expect(pid).toBeGreaterThan(0);
    expect(alive(pid!), `worker ${pid} still running`).toBe(false);
  }
}

describe('rtc-agent smoke', () => {
  it('--peers 3 --json: every pair on p2p, no loss, exit 0, one JSON report', async () => {
    const run = await smoke(['--peers', '3', '--json']);
    const report = parse(run);
    expect(run.code, report.reason ?? run.stderr).toBe(0);
    expect(report).toMatchObject({ ok: true, exitCode: 0, embeddedHub: true, expectedPath: 'p2p', messages: 20 });
    expect(report.hub).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/hub$/);
    expect(report.room).toMatch(/^smoke-[0-9a-f]{8}$/);
    expect(report.native?.available).toBe(true);
    expect(report.native?.version).toContain('libdatachannel');
    expect(report.peers.map((p) => p.name)).toEqual(['smoke-1', 'smoke-2', 'smoke-3']);
    expect(report.pairs.map((p) => `${p.a}/${p.b}`)).toEqual(['smoke-1/smoke-2', 'smoke-1/smoke-3', 'smoke-2/smoke-3']);
    for (const p of report.pairs) {
      expect(p).toMatchObject({ path: 'p2p', ok: true, sent: 40, received: 40, lost: 0, duplicated: 0, reordered: 0 });
      expect(p.setupMs).toBeGreaterThanOrEqual(0);
      expect(p.rttMs).toBeGreaterThan(0);
    }
    expect(report.durationMs).toBeGreaterThan(0);
    expectNoWorkersLeft(report, 3);
  });

  it('--relay-only: pairs go over the hub relay; the table goes to stdout without --json', async () => {
    const run = await smoke(['--relay-only', '--messages', '5']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^PAIR\s+PATH\s+SETUP ms\s+RTT ms\s+MESSAGES\s+RESULT$/m);
    expect(run.stdout).toMatch(/^smoke-1 <-> smoke-2\s+relay\s+[\d.]+\s+[\d.]+\s+10\/10\s+ok$/m);
    expect(run.stdout).toMatch(/^PASS in \d+ ms$/m);
    const json = parse(await smoke(['--relay-only', '--messages', '5', '--json']));
    expect(json.ok).toBe(true);
    expect(json.expectedPath).toBe('relay');
    expect(json.native).toMatchObject({ available: false });
    expect(json.pairs[0]).toMatchObject({ path: 'relay', lost: 0, received: 10 });
    expectNoWorkersLeft(json, 2);
  });

  it('--junit writes JUnit XML with a hub testcase and one per pair', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'smoke-junit-')), 'smoke.xml');
    const run = await smoke(['--peers', '3', '--junit', file, '--json', '--room', 'ci-room']);
    expect(run.code, run.stderr).toBe(0);
    const xml = readFileSync(file, 'utf8');
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n')).toBe(true);
    expect(xml).toMatch(/<testsuite name="rtc-agent smoke" tests="4" failures="0" errors="0" skipped="0"/);
    expect(xml).toContain('<testcase classname="rtc-agent.smoke" name="hub connect (3 peers)"');
    for (const pair of ['smoke-1 &lt;-&gt; smoke-2', 'smoke-1 &lt;-&gt; smoke-3', 'smoke-2 &lt;-&gt; smoke-3']) expect(xml).toContain(`name="${pair}"`);
    expect(xml).toContain('<property name="room" value="ci-room"/>');
    expect(xml).not.toContain('<failure');
    // Well-formed enough for CI parsers: every open testcase/testsuite is closed, no raw '<' in attributes.
    expect(xml.match(/<testcase /g)).toHaveLength(4);
    expect(xml.trimEnd().endsWith('</testsuite>\n</testsuites>')).toBe(true);
    expect(parse(run).room).toBe('ci-room');
  });

  it('exits 3 with a reason when the hub is unreachable, and writes the failure to JUnit', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'smoke-junit-')), 'smoke.xml');
    const hub = `http://127.0.0.1:${await freePort()}/hub`;
    const run = await smoke(['--hub', hub, '--json', '--junit', file]);
    expect(run.code).toBe(3);
    const report = parse(run);
    expect(report).toMatchObject({ ok: false, exitCode: 3, embeddedHub: false, hub });
    expect(report.reason).toContain('RTC_ERR_HUB_UNREACHABLE');
    const xml = readFileSync(file, 'utf8');
    expect(xml).toMatch(/failures="1"/);
    expect(xml).toContain('type="connect"');
    expect(xml).toContain('<skipped message="not reached:');
    expectNoWorkersLeft(report, 2);
  });

  it('exits 4 when the hub refuses the token, and passes with a good one', async () => {
    const hub = await useHub({ auth: { jwtSecret: SECRET } });
    const bad = await smoke(['--hub', hub.url, '--token', 'not.a.valid-token', '--json']);
    expect(bad.code).toBe(4);
    const report = parse(bad);
    expect(report.exitCode).toBe(4);
    expect(report.reason).toContain('RTC_ERR_UNAUTHORIZED');
    // The token travels to workers over stdin, never in argv or the report.
    expect(bad.stdout).not.toContain('not.a.valid-token');
    expectNoWorkersLeft(report, 2);

    const token = await new SignJWT({ sub: 'smoke' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(new TextEncoder().encode(SECRET));
    const good = await smoke(['--hub', hub.url, '--token', token, '--json', '--messages', '5']);
    expect(good.code, parse(good).reason).toBe(0);
    expect(parse(good).embeddedHub).toBe(false);
  });

  it('exits 6 (P2P failed) when the native binding cannot load and P2P is required', async () => {
    const run = await smoke(['--json'], ['--import', './test/fixtures/block-native.mjs']);
    expect(run.code).toBe(6);
    const report = parse(run);
    expect(report.reason).toContain('cannot do P2P');
    expect(report.reason).toContain('blocked by test/fixtures/block-native.mjs');
    expectNoWorkersLeft(report, 2);
  });

  it('rejects bad flags with exit 2 before starting anything', async () => {
    const one = await smoke(['--peers', '1']);
    expect(one.code).toBe(2);
    expect(one.stderr).toContain('must be an integer from 2 to 16');
    const timeout = await smoke(['--timeout', 'soon']);
    expect(timeout.code).toBe(2);
    const setting = await smoke(['--hub', 'ftp://nope']);
    expect(setting.code).toBe(2);
    expect(setting.stderr).toContain('RTC_ERR_CONFIG');
  });
});

describe('smoke report (pure parts)', () => {
  function fakeWorker(name: string, peerId: string, received: Record<string, number[]>, peers: Record<string, string>) {
    return {
      name,
      peerId,
      joinAt: 100,
      peers: new Map(Object.entries(peers).map(([id, path]) => [id, { name: id, path, expectedAt: path === 'p2p' ? 150 : undefined }])),
      received: new Map(Object.entries(received)),
      rtt: new Map([[name === 'a' ? 'B' : 'A', { samples: [1, 3, 2] }]]),
    };
  }

  it('counts lost, duplicated and reordered messages per pair, both directions', () => {
    const a = fakeWorker('a', 'A', { B: [1, 2, 3, 4] }, { B: 'p2p' });
    const b = fakeWorker('b', 'B', { A: [1, 3, 2, 2] }, { A: 'p2p' }); // 4 lost, 2 duplicated, one reorder
    const [pair] = pairResults({ workers: [a, b] } as unknown as Fleet, 'p2p', 4, true);
    expect(pair).toMatchObject({ a: 'a', b: 'b', path: 'p2p', ok: false, sent: 8, received: 8, lost: 1, duplicated: 1, reordered: 2, setupMs: 50, rttMs: 2 });
    expect(pair!.error).toContain('1 lost, 1 duplicated, 2 reordered of 8');
  });

  it('a pair where one side relays is relay, and fails when p2p was expected', () => {
    const a = fakeWorker('a', 'A', { B: [1] }, { B: 'p2p' });
    const b = fakeWorker('b', 'B', { A: [1] }, { A: 'relay' });
    const [pair] = pairResults({ workers: [a, b] } as unknown as Fleet, 'p2p', 1, true);
    expect(pair).toMatchObject({ path: 'relay', ok: false, setupMs: null, lost: 0 });
    expect(pair!.error).toBe('path is relay, expected p2p');
  });

  it('escapes XML specials and drops characters XML cannot carry', () => {
    expect(escapeXml(`<a href="x">'&'</a>\u0001`)).toBe('&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;\ufffd');
  });
});
