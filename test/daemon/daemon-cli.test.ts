/** The daemon driven through its CLI clients: send, peers, status, events, stop. */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { useHub } from '../helpers/hub.js';
import { inbox, p2pTo, useAgent } from '../helpers/agents.js';
import { childEnv, runCli, spawnCli, startDaemonProc, useTmpDir, within } from './helpers.js';

describe('rtc-agent send | peers | status | events | stop', () => {
  it('talk to a running daemon', async () => {
    const hub = await useHub();
    const d = await startDaemonProc(hub.url, ['--room', 'r']);
    const sock = ['--socket', d.socket];
    const events = spawnCli(['events', ...sock]);
    const eventsJson = spawnCli(['events', '--json', '--type', 'message', ...sock]);
    const status0 = await runCli(['status', ...sock]);
    expect(status0.code).toBe(0);
    expect(status0.stdout).toMatch(/^daemon +pid \d+/m);
    expect(status0.stdout).toMatch(/^rooms +r \(0 peers\)$/m);
    expect((await runCli(['peers', ...sock])).stdout).toBe('no peers\n');

    const bob = await useAgent(hub.url, { name: 'bob' });
    const bobInbox = inbox(bob);
    const room = await bob.join('r');
    await p2pTo(bob, 1);
    await events.line((l) => l === `r * bob (${room.selfId}) joined`);

    // Text from arguments, stdin, JSON, base64, to one peer.
    expect((await runCli(['send', ...sock, 'hello', 'bob'])).code).toBe(0);
    expect((await runCli(['send', ...sock, '--room', 'r'], { input: 'from stdin\n' })).code).toBe(0);
    expect((await runCli(['send', ...sock, '--json', '{"a":[1,2]}'])).code).toBe(0);
    expect((await runCli(['send', ...sock, '--base64', '--to', room.selfId, Buffer.from([9, 8, 7]).toString('base64')])).code).toBe(0);
    const got = await bobInbox.waitFor(4);
    expect(got.map((m) => (m.kind === 'binary' ? [...(m.data as Uint8Array)] : m.data))).toEqual(['hello bob', 'from stdin', { a: [1, 2] }, [9, 8, 7]]);
    expect(got.every((m) => m.name === 'daemon' && m.path === 'p2p')).toBe(true);

    // Bob talks back: the plain and JSON event clients print it.
    await room.send('hi daemon');
    await events.line((l) => l === 'r bob: hi daemon');
    const line = await eventsJson.line((l) => l.includes('"type":"message"'));
    expect(JSON.parse(line)).toMatchObject({ type: 'message', room: 'r', from: room.selfId, name: 'bob', kind: 'text', text: 'hi daemon' });

    const peers = await runCli(['peers', ...sock]);
    expect(peers.code).toBe(0);
    const [header, row] = peers.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^ROOM +PEER +NAME +PATH +RTT +NATIVE$/);
    expect(row).toMatch(new RegExp(`^r +${room.selfId} +bob +p2p +(-|[\\d.]+ ms) +yes$`));
    const peersJson = JSON.parse((await runCli(['peers', '--json', '--room', 'r', ...sock])).stdout);
    expect(peersJson).toMatchObject([{ room: 'r', peerId: room.selfId, name: 'bob', path: 'p2p', native: true }]);
    expect((await runCli(['status', ...sock])).stdout).toMatch(/^links +1 p2p, 0 relay$/m);

    // Errors from the daemon: the code and message, exit 1; bad client flags: exit 2.
    const unknownRoom = await runCli(['send', ...sock, '--room', 'nowhere', 'x']);
    expect(unknownRoom.code).toBe(1);
    expect(unknownRoom.stderr).toContain("rtc-agent: RTC_ERR_NOT_IN_ROOM: not in room 'nowhere' (joined: r)");
    const badJson = await runCli(['send', ...sock, '--json', '{nope']);
    expect(badJson.code).toBe(2);
    expect(badJson.stderr).toContain('--json: the text is not valid JSON');

    // stop: waits until the daemon is gone; the event clients see the end and exit 0.
    const stop = await runCli(['stop', ...sock]);
    expect(stop.code).toBe(0);
    expect(stop.stderr).toContain(`daemon at ${d.socket} stopped`);
    expect(existsSync(d.socket)).toBe(false);
    expect(await within(d.exit, 10_000, 'daemon exit')).toBe(0);
    expect(await within(events.exit, 10_000, 'events exit')).toBe(0);
    expect(events.stdout()).toContain('* daemon stopping');
    expect(await within(eventsJson.exit, 10_000, 'events --json exit')).toBe(0);
    // Filtered to messages; the stream's own ready/closing lines always come.
    expect(eventsJson.stdout().trimEnd().split('\n').map((l) => JSON.parse(l).type)).toEqual(['ready', 'message', 'closing']);
  });

  it('say clearly that no daemon is running (exit 8)', async () => {
    const missing = `${useTmpDir()}/none.sock`;
    for (const args of [['status'], ['peers'], ['send', 'x'], ['events'], ['stop']]) {
      const r = await runCli([...args, '--socket', missing]);
      expect(r.code, args[0]).toBe(8);
      expect(r.stderr).toBe(`rtc-agent: no daemon is running at ${missing} (start one with: rtc-agent daemon --room ROOM)\n`);
    }
    // Same through the default path and over TCP (nothing listening on the port).
    const env = childEnv({ XDG_RUNTIME_DIR: useTmpDir() });
    expect((await runCli(['status'], { env })).code).toBe(8);
    expect((await runCli(['status', '--url', 'http://127.0.0.1:1', '--token', 'x'])).code).toBe(8);
  });
});
