/** `rtc-agent doctor` as a user runs it, against a real hub and loopback STUN/TURN fakes. */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { useHub } from '../helpers/hub.js';
import { startFakeStun, startFakeTurn } from '../helpers/fake-stun.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function doctor(args: string[], nodeArgs: string[] = []): Promise<Run> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RTC_AGENT_')));
  // Checks that should pass get a generous bound (a loaded 2-core machine is slow, not broken); a
  // test about a check timing out passes its own short --check-timeout, which wins (it comes later).
  const child = spawn(process.execPath, [...nodeArgs, 'bin/rtc-agent.js', 'doctor', '--check-timeout', '10000', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

interface Report {
  ok: boolean;
  hub: string;
  checks: { check: string; status: string; detail: string }[];
}

function row(report: Report, prefix: string): { check: string; status: string; detail: string } {
  const found = report.checks.find((c) => c.check.startsWith(prefix));
  if (!found) throw new Error(`no ${prefix} row in ${JSON.stringify(report)}`);
  return found;
}

describe('rtc-agent doctor', () => {
  it('prints a table of checks and exits 0 against a good hub', async () => {
    const hub = await useHub();
    const run = await doctor(['--hub', hub.url]);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.split('\n');
    expect(lines[0]).toMatch(/^CHECK\s+STATUS\s+DETAIL$/);
    expect(run.stdout).toMatch(/^node\s+ok\s+v\d+/m);
    expect(run.stdout).toMatch(/^native binding\s+ok\s+libdatachannel .*@node-datachannel\//m);
    expect(run.stdout).toMatch(new RegExp(`^hub\\s+ok\\s+${hub.url.replace(/[./]/g, '\\$&')}: connected in [\\d.]+ ms, Join\\+Leave [\\d.]+ ms \\(room doctor-[0-9a-f]{8}`, 'm'));
    expect(run.stdout).toMatch(/^stun\s+-\s+none configured/m);
    expect(run.stdout).toMatch(/^turn\s+-\s+none configured/m);
    expect(run.stdout).toContain('no problems found');
  });

  it('--json prints one object with every check', async () => {
    const hub = await useHub();
    const run = await doctor(['--hub', hub.url, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as Report;
    expect(report.ok).toBe(true);
    expect(report.hub).toBe(hub.url);
    expect(report.checks.map((c) => c.check)).toEqual(['node', 'native binding', 'hub', 'stun', 'turn']);
    expect(row(report, 'hub').status).toBe('ok');
    expect(row(report, 'stun').status).toBe('skip');
  });

  it('fails the hub row and exits 3, as every command does, when nothing listens; says what to do', async () => {
    const port = await freePort();
    const run = await doctor(['--hub', `http://127.0.0.1:${port}/hub`, '--json']);
    expect(run.code).toBe(3);
    const report = JSON.parse(run.stdout) as Report;
    expect(report.ok).toBe(false);
    expect(row(report, 'hub')).toMatchObject({ status: 'fail' });
    expect(row(report, 'hub').detail).toContain(`RTC_ERR_HUB_UNREACHABLE: cannot reach hub http://127.0.0.1:${port}/hub: nothing is listening on 127.0.0.1:${port}: start a hub there`);

    // A port fetch() refuses (9 is on the Fetch standard's list) is named, with the fix.
    const blocked = await doctor(['--hub', 'http://127.0.0.1:9/hub', '--json']);
    expect(blocked.code).toBe(3);
    expect(row(JSON.parse(blocked.stdout) as Report, 'hub').detail).toContain('port 9 is one that fetch() (Node\'s and browsers\') refuses to connect to');
  });

  it('tells a refused token apart from an unreachable hub', async () => {
    const hub = await useHub({ auth: { jwtSecret: 'doctor-test-secret-0123456789' } });
    const run = await doctor(['--hub', hub.url, '--token', 'not.a.token', '--json']);
    expect(run.code).toBe(4);
    const detail = row(JSON.parse(run.stdout) as Report, 'hub').detail;
    expect(detail).toContain('RTC_ERR_UNAUTHORIZED');
    expect(detail).toContain('--token');
  });

  it('sends a real STUN Binding request to each configured server', async () => {
    const hub = await useHub();
    const stun = await startFakeStun();
    const run = await doctor(['--hub', hub.url, '--stun', `stun:127.0.0.1:${stun.port}`, '--json']);
    expect(run.code, run.stdout).toBe(0);
    const r = row(JSON.parse(run.stdout) as Report, 'stun');
    expect(r.check).toBe(`stun stun:127.0.0.1:${stun.port}`);
    expect(r.status).toBe('ok');
    expect(r.detail).toMatch(/^mapped address 127\.0\.0\.1:\d+ in [\d.]+ ms \(fake-stun\)$/);
    expect(stun.requests.length).toBeGreaterThanOrEqual(1);
  });

  it('fails a STUN server that does not answer', async () => {
    const hub = await useHub();
    const stun = await startFakeStun();
    await stun.close(); // the port is now closed: nothing answers
    // Every check gets the timeout, the hub's too: long enough for a loaded machine to reach the hub.
    const run = await doctor(['--hub', hub.url, '--stun', `stun:127.0.0.1:${stun.port}`, '--check-timeout', '3000', '--json']);
    expect(row(JSON.parse(run.stdout) as Report, 'hub').status, run.stdout).toBe('ok');
    expect(run.code).toBe(1);
    expect(row(JSON.parse(run.stdout) as Report, 'stun').status).toBe('fail');
  });

  it('allocates on the TURN server with good credentials and frees the allocation', async () => {
    const hub = await useHub();
    const turn = await startFakeTurn('bot', 'turn-password');
    const run = await doctor(['--hub', hub.url, '--turn-url', `turn:127.0.0.1:${turn.port}`, '--turn-username', 'bot', '--turn-password', 'turn-password', '--json']);
    expect(run.code, run.stdout).toBe(0);
    const r = row(JSON.parse(run.stdout) as Report, 'turn');
    expect(r.status).toBe('ok');
    expect(r.detail).toMatch(/^allocated relay 127\.0\.0\.1:49999 \(realm fake\.example\) in [\d.]+ ms; freed again$/);
    expect(turn.freed).toBe(1);
    expect(turn.badIntegrity).toBe(0);
  });

  it('reports refused TURN credentials and exits 1', async () => {
    const hub = await useHub();
    const turn = await startFakeTurn('bot', 'turn-password');
    const run = await doctor(['--hub', hub.url, '--turn-url', `turn:127.0.0.1:${turn.port}`, '--turn-username', 'bot', '--turn-password', 'wrong']);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^turn turn:127\.0\.0\.1:\d+\s+FAIL\s+credentials refused \(401 Unauthorized\)$/m);
    expect(turn.badIntegrity).toBe(1);
  });

  it('warns when the TURN server wants credentials and none are configured', async () => {
    const hub = await useHub();
    const turn = await startFakeTurn('bot', 'turn-password');
    const run = await doctor(['--hub', hub.url, '--turn-url', `turn:127.0.0.1:${turn.port}`, '--json']);
    expect(run.code).toBe(0);
    const r = row(JSON.parse(run.stdout) as Report, 'turn');
    expect(r.status).toBe('warn');
    expect(r.detail).toContain('asks for credentials (realm fake.example)');
  });

  it('says why the native binding does not load', async () => {
    const hub = await useHub();
    const run = await doctor(['--hub', hub.url, '--json'], ['--import', './test/fixtures/block-native.mjs']);
    expect(run.code, run.stderr).toBe(0); // a warning: agents still work over the relay
    const r = row(JSON.parse(run.stdout) as Report, 'native binding');
    expect(r.status).toBe('warn');
    expect(r.detail).toContain('cannot load node-datachannel');
    expect(r.detail).toContain('blocked by test/fixtures/block-native.mjs');
    expect(r.detail).toMatch(/@node-datachannel\/\S+/);
  });
});
