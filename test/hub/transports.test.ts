/**
 * The official @microsoft/signalr client over each transport: two clients join a room, see each
 * other arrive and leave, and exchange Signal and Relay messages whose sender the hub stamps.
 */
import { describe, expect, it } from 'vitest';
import { AGENT_KEY_A, AGENT_KEY_B, TRANSPORTS, connectClient, nextCall, useHub, type TransportKey } from '../helpers/hub.js';
import { derivePeerId } from '../../src/index.js';

describe.each(Object.keys(TRANSPORTS) as TransportKey[])('room contract over %s', (transport) => {
  it('joins, signals, relays and leaves with hub-stamped senders', async () => {
    const hub = await useHub();
    const a = await connectClient(hub.url, { transport });
    const b = await connectClient(hub.url, { transport });

    const joinA = await a.invoke('Join', 'lobby', { agentKey: AGENT_KEY_A, name: 'alice', capabilities: { native: true } });
    expect(joinA.self).toMatchObject({ peerId: derivePeerId(null, AGENT_KEY_A), name: 'alice', userId: null, capabilities: { native: true } });
    expect(joinA.participants).toEqual([]);
    expect(joinA.limits.maxMessageBytes).toBe(64 * 1024);

    const peerJoined = nextCall(a, 'PeerJoined');
    const joinB = await b.invoke('Join', 'lobby', { agentKey: AGENT_KEY_B, name: 'bob' });
    expect(joinB.participants.map((p: { name: string }) => p.name)).toEqual(['alice']);
    const [room, participant] = await peerJoined;
    expect(room).toBe('lobby');
    expect(participant).toMatchObject({ peerId: joinB.self.peerId, name: 'bob' });

    const signal = { type: 'description', sdpType: 'offer', sdp: 'v=0\r\n' };
    const gotSignal = nextCall(b, 'Signal');
    await a.invoke('Signal', 'lobby', joinB.self.peerId, signal);
    expect(await gotSignal).toEqual(['lobby', joinA.self.peerId, signal]);

    // Directed relay, and broadcast (to = null) in the other direction.
    const gotRelay = nextCall(b, 'Relayed');
    await a.invoke('Relay', 'lobby', joinB.self.peerId, Buffer.from('hello bob').toString('base64'));
    expect(await gotRelay).toEqual(['lobby', joinA.self.peerId, Buffer.from('hello bob').toString('base64')]);
    const gotBroadcast = nextCall(a, 'Relayed');
    await b.send('Relay', 'lobby', null, 'aGk=');
    expect(await gotBroadcast).toEqual(['lobby', joinB.self.peerId, 'aGk=']);

    const peerLeft = nextCall(a, 'PeerLeft');
    await b.invoke('Leave', 'lobby');
    expect(await peerLeft).toEqual(['lobby', joinB.self.peerId, 'left']);

    // A client that goes away without Leave is reported too.
    await b.invoke('Join', 'lobby', { agentKey: AGENT_KEY_B });
    const disconnected = nextCall(a, 'PeerLeft');
    await b.stop();
    expect(await disconnected).toEqual(['lobby', joinB.self.peerId, 'disconnected']);
  });

  it('answers every invocation exactly once, including unknown methods, with case-insensitive names', async () => {
    const hub = await useHub();
    const a = await connectClient(hub.url, { transport });
    await expect(a.invoke('NoSuchMethod', 1)).rejects.toThrow("RTC_ERR_UNKNOWN_METHOD: Unknown hub method 'NoSuchMethod'");
    const result = await a.invoke('jOiN', 'lobby', {});
    expect(result.room).toBe('lobby');
    // Many concurrent invocations each get their own completion.
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => a.invoke('Relay', 'lobby', null, `m${i}`)));
    expect(results).toEqual(Array(20).fill(undefined));
  });
});

describe('connection setup variants', () => {
  it('accepts skipNegotiation over WebSockets', async () => {
    const hub = await useHub();
    const a = await connectClient(hub.url, { transport: 'WebSockets', skipNegotiation: true });
    const b = await connectClient(hub.url, { transport: 'WebSockets', skipNegotiation: true });
    expect(a.connectionId).toBeNull();
    await a.invoke('Join', 'r', { agentKey: AGENT_KEY_A });
    const { self } = await b.invoke('Join', 'r', { agentKey: AGENT_KEY_B });
    const got = nextCall(b, 'Relayed');
    await a.invoke('Relay', 'r', self.peerId, 'eA==');
    expect((await got)[2]).toBe('eA==');
  });

  it('negotiates version 1 with a connectionToken and version 0 without one', async () => {
    const hub = await useHub();
    const v1 = (await (await fetch(`${hub.url}/negotiate?negotiateVersion=1`, { method: "POST" })).json()) as any;
    expect(v1.negotiateVersion).toBe(1);
    expect(v1.connectionToken).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(v1.connectionToken).not.toBe(v1.connectionId);
    expect(v1.availableTransports.map((t: { transport: string }) => t.transport)).toEqual(['WebSockets', 'ServerSentEvents', 'LongPolling']);
    expect(v1).not.toHaveProperty('useStatefulReconnect');

    const v0 = (await (await fetch(`${hub.url}/negotiate`, { method: "POST" })).json()) as any;
    expect(v0.negotiateVersion).toBe(0);
    expect(v0).not.toHaveProperty('connectionToken');
    // Version 0 clients connect with the connectionId: the first long poll answers 200 at once.
    const poll = await fetch(`${hub.url}?id=${v0.connectionId}`);
    expect(poll.status).toBe(200);

    const stateful = (await (await fetch(`${hub.url}/negotiate?negotiateVersion=1&useStatefulReconnect=true`, { method: "POST" })).json()) as any;
    expect(stateful.useStatefulReconnect).toBe(true);
  });

  it('offers only the configured transports', async () => {
    const hub = await useHub({ transports: ['LongPolling'] });
    const v1 = (await (await fetch(`${hub.url}/negotiate?negotiateVersion=1`, { method: "POST" })).json()) as any;
    expect(v1.availableTransports.map((t: { transport: string }) => t.transport)).toEqual(['LongPolling']);
    await expect(connectClient(hub.url, { transport: 'WebSockets' })).rejects.toThrow();
    const c = await connectClient(hub.url, { transport: 'LongPolling' });
    expect((await c.invoke('Join', 'r', {})).room).toBe('r');
  });

  it('handles a handshake with version 2 without stateful reconnect', async () => {
    const hub = await useHub();
    const { default: WebSocket } = await import('ws');
    const ws = new WebSocket(hub.url.replace('http', 'ws'));
    const first = new Promise<string>((resolve) => ws.once('message', (d) => resolve(d.toString())));
    await new Promise((r) => ws.once('open', r));
    ws.send('{"protocol":"json","version":2}\u001e');
    expect(await first).toBe('{}\u001e');
    ws.close();
  });
});
