/** The daemon driven through raw HTTP on its unix socket, with an agent in the test process as the peer. */
import { existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useHub } from '../helpers/hub.js';
import { inbox, nextEvent, p2pTo, useAgent } from '../helpers/agents.js';
import { eventually, http, readEvents, startDaemonProc, within } from './helpers.js';

describe('rtc-agent daemon over raw HTTP', () => {
  it('listens on a private socket, streams events and messages both ways, reports peers and metrics', async () => {
    const hub = await useHub();
    const d = await startDaemonProc(hub.url, ['--room', 'r', '--heartbeat-interval', '300']);
    expect(statSync(d.socket).isSocket()).toBe(true);
    expect(statSync(d.socket).mode & 0o777).toBe(0o600);
    expect(statSync(dirname(d.socket)).mode & 0o777).toBe(0o700);

    const stream = await readEvents(d.socket);
    expect(stream.events[0]).toMatchObject({ type: 'ready', rooms: ['r'], peers: [] });
    expect(stream.res.headers['content-type']).toContain('application/x-ndjson');

    const bob = await useAgent(hub.url, { name: 'bob' });
    const bobInbox = inbox(bob);
    const room = await bob.join('r');
    const joined = await stream.next((e) => e.type === 'peer-joined');
    expect(joined).toMatchObject({ room: 'r', name: 'bob', peerId: room.selfId, native: true });
    await stream.next((e) => e.type === 'path-changed' && e.to === 'p2p');
    await p2pTo(bob, 1);
    const daemonId = room.peers()[0]!.peerId;

    // Agent → daemon: text, JSON and bytes arrive on the stream.
    await room.send('hello daemon');
    await room.send({ n: 1, s: 'x' });
    await room.send(new Uint8Array([0, 1, 254, 255]));
    const text = await stream.next((e) => e.type === 'message' && e.kind === 'text');
    expect(text).toMatchObject({ room: 'r', from: room.selfId, name: 'bob', text: 'hello daemon', path: 'p2p', reliable: true, encrypted: false });
    expect(await stream.next((e) => e.type === 'message' && e.kind === 'json')).toMatchObject({ data: { n: 1, s: 'x' }, text: '{"n":1,"s":"x"}' });
    expect(await stream.next((e) => e.type === 'message' && e.kind === 'binary')).toMatchObject({ data: Buffer.from([0, 1, 254, 255]).toString('base64') });

    // Daemon → agent: text to one peer, JSON to all, base64 to one, unreliable text.
    expect(await http(d.socket, 'POST', '/send', { to: room.selfId, text: 'hi bob' })).toMatchObject({ status: 200, body: { room: 'r', to: room.selfId, recipients: 1, bytes: 6 } });
    expect((await http(d.socket, 'POST', '/send', { room: 'r', json: { ok: true } })).body).toMatchObject({ recipients: 1, to: null });
    expect((await http(d.socket, 'POST', '/send', { to: room.selfId, base64: Buffer.from('raw bytes').toString('base64') })).status).toBe(200);
    expect((await http(d.socket, 'POST', '/send', { text: 'fast', reliable: false })).status).toBe(200);
    const got = await bobInbox.waitFor(4);
    // Reliable messages keep their order; the unreliable one travels on its own unordered
    // channel and may overtake them (a fresh-clone run saw it arrive before the bytes).
    const reliable = got.filter((m) => m.reliable);
    expect(reliable.map((m) => [m.kind, m.from, m.name, m.path])).toEqual([
      ['text', daemonId, 'daemon', 'p2p'],
      ['json', daemonId, 'daemon', 'p2p'],
      ['binary', daemonId, 'daemon', 'p2p'],
    ]);
    expect(reliable.map((m) => (m.kind === 'binary' ? Buffer.from(m.data as Uint8Array).toString() : m.data))).toEqual(['hi bob', { ok: true }, 'raw bytes']);
    expect(got.filter((m) => !m.reliable).map((m) => [m.kind, m.text, m.from, m.path])).toEqual([['text', 'fast', daemonId, 'p2p']]);

    // Peers: path, native, RTT from heartbeats.
    const peers = await eventually(
      async () => {
        const list = (await http(d.socket, 'GET', '/peers')).body.peers as any[];
        return list[0]?.rttMs != null ? list : undefined;
      },
      10_000,
      'an RTT in /peers',
    );
    expect(peers).toHaveLength(1);
    expect(peers[0]).toMatchObject({ room: 'r', peerId: room.selfId, name: 'bob', path: 'p2p', native: true, messagesReceived: 3, messagesSent: 4 });
    expect((await http(d.socket, 'GET', '/peers?room=r')).body.peers).toHaveLength(1);

    const status = await http(d.socket, 'GET', '/status');
    expect(status.body).toMatchObject({ name: 'daemon', native: true, hub: { url: hub.url, state: 'connected', reconnects: 0 }, rooms: [{ room: 'r', peers: 1 }], links: { p2p: 1, relay: 0 }, eventClients: 1, control: { socketPath: d.socket } });

    const metrics = await http(d.socket, 'GET', '/metrics');
    expect(metrics.headers['content-type']).toContain('text/plain');
    expect(metrics.text).toContain('rtc_agent_links{path="p2p"} 1');
    expect(metrics.text).toContain('rtc_agent_links{path="relay"} 0');
    expect(metrics.text).toMatch(new RegExp(`rtc_agent_peer_rtt_seconds\\{room="r",peer="${room.selfId}"\\} \\d`));
    expect(metrics.text).toContain('rtc_agent_messages_total{direction="received"} 3');
    expect(metrics.text).toContain('rtc_agent_messages_total{direction="sent"} 4');
    expect(metrics.text).toContain(`rtc_agent_bytes_total{direction="received"} ${12 + 15 + 4}`);
    expect(metrics.text).toContain('rtc_agent_hub_reconnects_total 0');
    expect(metrics.text).toMatch(/^rtc_agent_p2p_fallbacks_total \d+$/m);
    expect(metrics.text).toContain('rtc_agent_native 1');
    expect(metrics.text).toContain('rtc_agent_event_clients 1');

    // Bob leaves: the stream says so. SIGTERM: `closing`, the stream ends, exit 0, socket gone.
    await bob.close();
    expect(await stream.next((e) => e.type === 'peer-left')).toMatchObject({ room: 'r', name: 'bob', reason: 'left' });
    d.child.kill('SIGTERM');
    await within(stream.ended, 10_000, 'event stream end');
    expect(stream.events.at(-1)).toMatchObject({ type: 'closing' });
    expect(await within(d.exit, 10_000, 'daemon exit')).toBe(0);
    expect(existsSync(d.socket)).toBe(false);
    expect(d.stderr()).toContain('"msg":"daemon closed"');
  });

  it('joins and leaves a second room through the API', async () => {
    const hub = await useHub();
    const d = await startDaemonProc(hub.url, ['--room', 'r']);
    const stream = await readEvents(d.socket, '?room=r2');
    const carol = await useAgent(hub.url, { name: 'carol' });
    const carolInbox = inbox(carol);
    const r2 = await carol.join('r2');

    const join = await http(d.socket, 'POST', '/rooms', { room: 'r2' });
    expect(join.status).toBe(201);
    expect(join.body).toMatchObject({ room: 'r2', joined: true, peers: [{ name: 'carol', peerId: r2.selfId }] });
    expect((await http(d.socket, 'POST', '/rooms', { room: 'r2' })).status).toBe(200); // already in it
    expect(await stream.next((e) => e.type === 'room')).toMatchObject({ room: 'r2', state: 'joined' });
    expect(await stream.next((e) => e.type === 'peer-joined')).toMatchObject({ room: 'r2', name: 'carol' });
    expect((await http(d.socket, 'GET', '/status')).body.rooms.map((r: any) => r.room)).toEqual(['r', 'r2']);

    // room defaults to the first joined room (r, empty): an explicit room reaches carol.
    expect((await http(d.socket, 'POST', '/send', { text: 'nobody here' })).body).toMatchObject({ room: 'r', recipients: 0 });
    expect((await http(d.socket, 'POST', '/send', { room: 'r2', text: 'hi carol' })).body).toMatchObject({ room: 'r2', recipients: 1 });
    expect((await carolInbox.waitFor(1))[0]).toMatchObject({ room: 'r2', text: 'hi carol', name: 'daemon' });
    await r2.send('hi daemon');
    expect(await stream.next((e) => e.type === 'message')).toMatchObject({ room: 'r2', text: 'hi daemon' });

    const left = nextEvent<any>(carol, 'peer-left');
    expect(await http(d.socket, 'DELETE', '/rooms/r2')).toMatchObject({ status: 200, body: { room: 'r2', left: true } });
    expect(await left).toMatchObject({ room: 'r2', name: 'daemon', reason: 'left' });
    expect(await stream.next((e) => e.type === 'room' && e.state === 'left')).toMatchObject({ room: 'r2' });
    expect(await http(d.socket, 'DELETE', '/rooms/r2')).toMatchObject({ status: 404, body: { error: { code: 'RTC_ERR_NOT_IN_ROOM' } } });
    expect((await http(d.socket, 'GET', '/peers?room=r2')).status).toBe(404);
    // Leaving every room: a send without a room says so.
    expect((await http(d.socket, 'DELETE', '/rooms/r')).status).toBe(200);
    const none = await http(d.socket, 'POST', '/send', { text: 'x' });
    expect(none).toMatchObject({ status: 404, body: { error: { code: 'RTC_ERR_NOT_IN_ROOM' } } });
    expect(none.body.error.message).toContain('joined no room');
  });

  it('answers bad requests with clear errors and keeps running', async () => {
    const hub = await useHub();
    const d = await startDaemonProc(hub.url, ['--room', 'r', '--max-body-bytes', '4096']);
    const err = async (method: string, path: string, body?: unknown): Promise<[number, string, string]> => {
      const r = await http(d.socket, method, path, body);
      return [r.status, r.body?.error?.code, r.body?.error?.message];
    };
    expect(await err('POST', '/send', '{"text": "unterminated')).toEqual([400, 'RTC_ERR_BAD_REQUEST', expect.stringContaining('not valid JSON')]);
    expect(await err('POST', '/send', '[1,2]')).toEqual([400, 'RTC_ERR_BAD_REQUEST', 'request body must be a JSON object']);
    expect(await err('POST', '/send', {})).toEqual([400, 'RTC_ERR_BAD_REQUEST', "give exactly one of 'text', 'json' or 'base64'"]);
    expect(await err('POST', '/send', { text: 'a', json: 1 })).toEqual([400, 'RTC_ERR_BAD_REQUEST', expect.stringContaining('(got text, json)')]);
    expect(await err('POST', '/send', { text: 42 })).toEqual([400, 'RTC_ERR_BAD_REQUEST', "'text' must be a string"]);
    expect(await err('POST', '/send', { base64: 'not base64!' })).toEqual([400, 'RTC_ERR_BAD_REQUEST', "'base64' must be a base64 string"]);
    expect(await err('POST', '/send', { text: 'a', reliable: 'yes' })).toEqual([400, 'RTC_ERR_BAD_REQUEST', "'reliable' must be true or false"]);
    expect(await err('POST', '/send', { room: 'nowhere', text: 'a' })).toEqual([404, 'RTC_ERR_NOT_IN_ROOM', "not in room 'nowhere' (joined: r)"]);
    expect(await err('POST', '/send', { to: 'nobody', text: 'a' })).toEqual([404, 'RTC_ERR_UNKNOWN_PEER', expect.stringContaining("no peer 'nobody' in room 'r'")]);
    expect(await err('POST', '/send', { text: 'x'.repeat(5000) })).toEqual([413, 'RTC_ERR_MESSAGE_TOO_LARGE', 'request body exceeds 4096 bytes']);
    expect(await err('POST', '/rooms', {})).toEqual([400, 'RTC_ERR_BAD_REQUEST', "'room' is required: a room name"]);
    expect((await err('POST', '/rooms', { room: 'bad name!' })).slice(0, 2)).toEqual([400, 'RTC_ERR_INVALID_ROOM_NAME']);
    expect(await err('GET', '/nope')).toEqual([404, 'RTC_ERR_BAD_REQUEST', 'no such endpoint: /nope (try GET /status)']);
    const wrongMethod = await http(d.socket, 'GET', '/send');
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.allow).toBe('POST');
    expect((await http(d.socket, 'GET', '/status', undefined, { Origin: 'http://evil.example' })).status).toBe(403);
    // A body larger than the limit without Content-Length (chunked) is refused too.
    const { request } = await import('node:http');
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = request({ socketPath: d.socket, path: '/send', method: 'POST', headers: { 'Content-Type': 'application/json' }, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      for (let i = 0; i < 10; i++) req.write('x'.repeat(1000));
      req.end();
    });
    expect(chunked).toBe(413);
    // Still alive and well.
    expect((await http(d.socket, 'GET', '/status')).status).toBe(200);
    expect((await http(d.socket, 'GET', '/metrics')).text).toContain('rtc_agent_api_requests_total{route="/send",status="400"}');
    expect(d.child.exitCode).toBeNull();
  });
});
