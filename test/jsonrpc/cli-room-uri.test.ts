/**
 * Room URIs on the real CLI (dist/): `rtc-agent chat webrtc://127.0.0.1:PORT/lobby` in two tmux
 * terminals chats (the first hosts the hub the URI names); pipe, send-file, daemon and smoke --hub
 * take a URI too, its query sets their settings under the flags, and a bad URI exits 2 naming
 * the wrong part before anything connects.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inbox, useAgent } from '../helpers/agents.js';
import { useHub } from '../helpers/hub.js';
import { waitUntil } from '../helpers/wait.js';
import { BIN, NO_TMUX, Terminal, cleanEnv, cli, freePort, hasTmux, run } from '../cli/helpers.js';

if (!hasTmux) console.warn(NO_TMUX);

describe.skipIf(!hasTmux)('rtc-agent chat webrtc://HOST:PORT/ROOM in two terminals', () => {
  it('the first hosts the hub the URI names, the second joins, and they chat', async () => {
    const port = await freePort();
    const tag = `${process.pid}-${port}`;
    const alice = Terminal.open(`uri-alice-${tag}`, `node ${BIN} chat webrtc://127.0.0.1:${port}/lobby?name=alice`, cleanEnv());
    await alice.waitFor(/hosting one here/);
    await alice.waitFor(/joined 'lobby' as alice/);
    // The flag beats the URI's ?name=.
    const bob = Terminal.open(`uri-bob-${tag}`, `node ${BIN} chat 'webrtc://127.0.0.1:${port}/lobby?name=ignored' --name bob`, cleanEnv());
    await bob.waitFor(/joined 'lobby' as bob/);
    await bob.waitFor(/here: alice/);
    alice.type('hello over a room URI');
    await bob.waitFor(/alice \[(p2p|relay)\]: hello over a room URI/);
    bob.type('hi alice');
    await alice.waitFor(/bob \[(p2p|relay)\]: hi alice/);
    bob.type('/quit');
    await alice.waitFor(/bob left \(left\)/);
    await waitUntil(() => !bob.alive(), { what: "bob's chat to end after /quit", intervalMs: 100 });
  });
});

describe('room URIs on the other commands', () => {
  it('pipe takes the URI as its argument or as --hub, with the query under the flags', async () => {
    const hub = await useHub();
    const listener = await useAgent(hub.url, { name: 'listener' });
    const room = await listener.join('ops');
    const got = inbox(listener);
    const byArg = await run(['pipe', `webrtc://127.0.0.1:${hub.port}/ops?name=uri-name`, '--wait-peers', '1'], { input: 'by argument\n' });
    expect(byArg.code, byArg.stderr).toBe(0);
    const byHub = await run(['pipe', '--hub', `webrtc://127.0.0.1:${hub.port}/ops?name=uri-name`, '--name', 'flag-name', '--wait-peers', '1'], { input: 'by --hub\n' });
    expect(byHub.code, byHub.stderr).toBe(0);
    // Over JSON-RPC: the same hub's /rpc.
    const byRpc = await run(['pipe', `webrtc://127.0.0.1:${hub.port}/ops?signaling=jsonrpc&name=rpc-pipe`, '--wait-peers', '1'], { input: 'over json-rpc\n' });
    expect(byRpc.code, byRpc.stderr).toBe(0);
    const messages = await got.waitFor(3);
    expect(messages.map((m) => [m.name, m.text])).toEqual([
      ['uri-name', 'by argument'],
      ['flag-name', 'by --hub'],
      ['rpc-pipe', 'over json-rpc'],
    ]);
    expect(room.name).toBe('ops');
  });

  it('send-file FILE URI delivers a verified file', async () => {
    const hub = await useHub();
    const dir = mkdtempSync(join(tmpdir(), 'rtc-uri-file-'));
    const data = randomBytes(200_000);
    writeFileSync(join(dir, 'blob.bin'), data);
    const receiver = await useAgent(hub.url, { name: 'receiver', acceptFiles: true, downloadDir: join(dir, 'in') });
    await receiver.join('files');
    const sent = await run(['send-file', join(dir, 'blob.bin'), `webrtc://127.0.0.1:${hub.port}/files`]);
    expect(sent.code, sent.stderr).toBe(0);
    await waitUntil(() => {
      try {
        return createHash('sha256').update(readFileSync(join(dir, 'in', 'blob.bin'))).digest('hex') === createHash('sha256').update(data).digest('hex');
      } catch {
        return false;
      }
    }, { what: 'the received file to match' });
  });

  it('daemon URI joins the URI room at start', async () => {
    const hub = await useHub();
    const socket = join(mkdtempSync(join(tmpdir(), 'rtc-uri-d-')), 'd.sock');
    const watcher = await useAgent(hub.url, { name: 'watcher' });
    const room = await watcher.join('svc');
    const daemon = cli(['daemon', `webrtc://127.0.0.1:${hub.port}/svc?name=uri-daemon`, '--socket', socket, '--log-level', 'error'], { stdin: 'ignore' });
    await waitUntil(() => room.peers().find((p) => p.name === 'uri-daemon'), { what: 'the daemon in the URI room', timeoutMs: 20_000 });
    expect((await run(['stop', '--socket', socket])).code).toBe(0);
    expect(await daemon.exit).toBe(0);
  });

  it('smoke --hub URI tests that hub in that room', async () => {
    const hub = await useHub();
    const res = await run(['smoke', '--hub', `webrtc://127.0.0.1:${hub.port}/smoke-uri`, '--ice-bind-address', '127.0.0.1', '--messages', '3', '--json']);
    const report = JSON.parse(res.stdout);
    expect(res.code, res.stderr).toBe(0);
    expect(report).toMatchObject({ ok: true, embeddedHub: false, room: 'smoke-uri', hub: hub.url });
  }, 60_000);

  it('a bad URI exits 2 naming the part, before connecting', async () => {
    const badPort = await run(['pipe', 'webrtc://127.0.0.1:99999/lobby']);
    expect(badPort.code).toBe(2);
    expect(badPort.stderr).toContain("RTC_ERR_CONFIG: room URI \"webrtc://127.0.0.1:99999/lobby\": the port '99999' must be a number 1-65535");
    const noRoom = await run(['chat', 'webrtc://127.0.0.1:8080']);
    expect(noRoom.code).toBe(2);
    expect(noRoom.stderr).toMatch(/no room: add \/ROOM/);
    const twice = await run(['pipe', 'webrtc://127.0.0.1:8080/a', '--hub', 'http://127.0.0.1:8080/hub']);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toMatch(/both name a hub/);
    const rooms = await run(['pipe', 'webrtc://127.0.0.1:8080/a', '--room', 'b']);
    expect(rooms.code).toBe(2);
    expect(rooms.stderr).toMatch(/--room b and the room URI's room 'a' differ/);
    const badQuery = await run(['send-file', BIN, 'webrtc://127.0.0.1:8080/a?e2ee=perhaps']);
    expect(badQuery.code).toBe(2);
    expect(badQuery.stderr).toMatch(/\?e2ee=perhaps must be 1 or 0/);
  });
});
