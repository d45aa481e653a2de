/**
 * Exit codes that mean delivered: pipe, send (through the daemon) and send-file exit 0 only when
 * the peers they sent to acknowledged everything and refused nothing; otherwise 9 (refused) or 7
 * (not acknowledged, nobody there), with one plain line on stderr saying who refused what and why.
 * Real hub, real agents, the CLI as child processes.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ReceivedMessage } from '../../src/index.js';
import { useAgent } from '../helpers/agents.js';
import { useHub } from '../helpers/hub.js';
import { startDaemonProc } from '../daemon/helpers.js';
import { waitUntil } from '../helpers/wait.js';
import { cleanEnv, run } from './helpers.js';

function tmp(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** An E2EE agent in `room` with its own identity, collecting what it receives. */
async function e2eeReceiver(hubUrl: string, room: string, roomSecret?: string): Promise<{ got: ReceivedMessage[]; selfId: string }> {
  const dir = tmp('rtc-deliv-');
  const agent = await useAgent(hubUrl, { name: 'rx', enableE2ee: true, identityFile: join(dir, 'id.json'), ...(roomSecret !== undefined ? { roomSecret } : {}) });
  const got: ReceivedMessage[] = [];
  agent.on('message', (m) => got.push(m));
  const r = await agent.join(room);
  return { got, selfId: r.selfId };
}

/** stderr without the trailing newline; the verdict is one line. */
function oneLine(stderr: string): string {
  const lines = stderr.trimEnd().split('\n');
  expect(lines, stderr).toHaveLength(1);
  return lines[0]!;
}

describe('pipe exits 0 only when delivered', () => {
  it('exits 9 with one line when its only peer uses another room secret, and nothing is delivered', async () => {
    const hub = await useHub();
    const rx = await e2eeReceiver(hub.url, 'sec', 'secret-A');
    const env = cleanEnv({ XDG_CONFIG_HOME: tmp('rtc-deliv-cfg-') });
    const r = await run(['pipe', '--room', 'sec', '--hub', hub.url, '--e2ee', '--room-secret', 'secret-B', '--wait-peers', '1'], { env, input: 'x\n' });
    expect(r.code, r.stderr).toBe(9);
    const line = oneLine(r.stderr);
    expect(line).toMatch(/^rtc-agent: 1 line\(s\) not delivered: rx.*\(RTC_ERR_E2EE_ROOM_SECRET_MISMATCH\)$/);
    expect(rx.got).toEqual([]);
  });

  it('exits 9 when it has no E2EE and its only peer requires it (nothing is sent in plaintext)', async () => {
    const hub = await useHub();
    const rx = await e2eeReceiver(hub.url, 'plain');
    const r = await run(['pipe', '--room', 'plain', '--hub', hub.url, '--wait-peers', '1'], { input: 'in the clear\n' });
    expect(r.code, r.stderr).toBe(9);
    expect(oneLine(r.stderr)).toMatch(/^rtc-agent: 1 line\(s\) not delivered: rx \(\S+\) requires end-to-end encryption \(turn on --e2ee\) \(RTC_ERR_E2EE_PLAINTEXT\)$/);
    expect(rx.got).toEqual([]);
  });

  it('exits 0 when the same secret is used, and the peer got the line', async () => {
    const hub = await useHub();
    const rx = await e2eeReceiver(hub.url, 'same', 'secret-A');
    const env = cleanEnv({ XDG_CONFIG_HOME: tmp('rtc-deliv-cfg-') });
    const r = await run(['pipe', '--room', 'same', '--hub', hub.url, '--e2ee', '--room-secret', 'secret-A', '--wait-peers', '1'], { env, input: 'sealed\n' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(rx.got.map((m) => [m.text, m.encrypted])).toEqual([['sealed', true]]);
  });

  it('exits 7 when nobody was in the room to receive what it sent', async () => {
    const hub = await useHub();
    const r = await run(['pipe', '--room', 'empty', '--hub', hub.url], { input: 'anyone?\n' });
    expect(r.code, r.stderr).toBe(7);
    expect(oneLine(r.stderr)).toBe("rtc-agent: 1 line(s) not delivered: nobody was in 'empty' to receive it (--wait-peers N waits for receivers)");
  });
});

describe('send (through the daemon) exits 0 only when delivered', () => {
  it('exits 9 when the peer refuses it, 0 when it was acknowledged', async () => {
    const hub = await useHub();
    const rx = await e2eeReceiver(hub.url, 'dsec', 'secret-A');
    const d = await startDaemonProc(hub.url, ['--room', 'dsec', '--e2ee', '--room-secret', 'secret-B'], cleanEnv({ XDG_CONFIG_HOME: tmp('rtc-deliv-cfg-') }));
    await waitUntil(async () => (await run(['peers', '--socket', d.socket, '--json'])).stdout.includes(rx.selfId), { what: 'the daemon to list the receiver' });
    const refused = await run(['send', '--socket', d.socket, 'hello?']);
    expect(refused.code, refused.stderr).toBe(9);
    expect(oneLine(refused.stderr)).toMatch(/^rtc-agent: not delivered: rx.*\(RTC_ERR_E2EE_ROOM_SECRET_MISMATCH\)$/);
    expect(rx.got).toEqual([]);

    const plainHub = await useHub();
    const friend = await useAgent(plainHub.url, { name: 'friend' });
    const got: ReceivedMessage[] = [];
    friend.on('message', (m) => got.push(m));
    await friend.join('ok');
    const d2 = await startDaemonProc(plainHub.url, ['--room', 'ok']);
    await waitUntil(async () => (await run(['peers', '--socket', d2.socket, '--json'])).stdout.includes('friend'), { what: 'the daemon to list friend' });
    const ok = await run(['send', '--socket', d2.socket, 'hello friend']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(got.map((m) => m.text)).toEqual(['hello friend']);
  });
});

describe('send-file exits 0 only when every peer confirmed a verified copy', () => {
  it('exits 9 naming the peer when it refuses files; a daemon refuses them unless told to accept', async () => {
    const hub = await useHub();
    const dir = tmp('rtc-deliv-file-');
    const file = join(dir, 'report.bin');
    writeFileSync(file, 'x'.repeat(10_000));
    const picky = await useAgent(hub.url, { name: 'picky', acceptFiles: false });
    await picky.join('files');
    const r = await run(['send-file', file, '--room', 'files', '--hub', hub.url]);
    expect(r.code, r.stderr).toBe(9);
    expect(oneLine(r.stderr)).toBe(`rtc-agent: report.bin not delivered to every peer: picky refused the file: this agent does not accept files (refused)`);

    // A daemon is a bot: files only with --accept-files or --download-dir.
    const hub2 = await useHub();
    const d = await startDaemonProc(hub2.url, ['--room', 'files']);
    const r2 = await run(['send-file', file, '--room', 'files', '--hub', hub2.url]);
    expect(r2.code, r2.stderr).toBe(9);
    expect(oneLine(r2.stderr)).toContain('daemon refused the file: this agent does not accept files (refused)');
    const d2 = await startDaemonProc(hub2.url, ['--room', 'files2', '--download-dir', join(dir, 'in')]);
    const r3 = await run(['send-file', file, '--room', 'files2', '--hub', hub2.url]);
    expect(r3.code, r3.stderr).toBe(0);
    expect(r3.stdout).toMatch(/^sent report\.bin \(9\.8 KiB\) to daemon; sha256 [0-9a-f]{64}\n$/);
    void d;
    void d2;
  });
});
