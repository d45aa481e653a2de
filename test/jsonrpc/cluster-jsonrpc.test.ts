/**
 * JSON-RPC members are cluster members: two hubs on one real redis-server, raw JSON-RPC clients
 * (plain `ws`) on each and an official SignalR client on the second, all in one room. Participants,
 * peer_joined/peer_left, signals and relay (directed and broadcast) cross hubs and protocols.
 */
import { expect, it } from 'vitest';
import { connectClient, nextCall } from '../helpers/hub.js';
import { RawRpc } from '../helpers/raw-jsonrpc.js';
import { describeWithRedis, useCluster } from '../cluster/support.js';

const rpcOf = (hub: { port: number }): string => `ws://127.0.0.1:${hub.port}/rpc`;

describeWithRedis('JSON-RPC members across a hub cluster', (redis) => {
  it('see each other, signal and relay across hubs and protocols', async () => {
    const [h1, h2] = await useCluster(redis().url, 2);
    const a = await RawRpc.open(rpcOf(h1!));
    const b = await RawRpc.open(rpcOf(h2!));
    const s = await connectClient(h2!.url);

    const joinedA = await a.call('announce', { room: 'lobby', name: 'rpc-on-1' });
    const joinedB = await b.call('announce', { room: 'lobby', name: 'rpc-on-2' });
    // b on hub 2 is told about a on hub 1, and a hears of b.
    expect(joinedB.participants).toEqual([expect.objectContaining({ peerId: joinedA.peerId, name: 'rpc-on-1' })]);
    expect(await a.notification('peer_joined', (p) => p.peerId === joinedB.peerId)).toMatchObject({ room: 'lobby', name: 'rpc-on-2' });
    const sJoined = await s.invoke('Join', 'lobby', { name: 'signalr-on-2', capabilities: { native: true } });
    expect(new Set(sJoined.participants.map((p: { peerId: string }) => p.peerId))).toEqual(new Set([joinedA.peerId, joinedB.peerId]));
    expect(await a.notification('peer_joined', (p) => p.peerId === sJoined.self.peerId)).toMatchObject({ name: 'signalr-on-2' });

    // Signals cross hubs, stamped with the sender by the hub that took them.
    await a.call('offer', { room: 'lobby', to: joinedB.peerId, sdp: 'v=0 across hubs', from: 'forged' });
    expect(await b.notification('offer', (p) => p.sdp === 'v=0 across hubs')).toMatchObject({ from: joinedA.peerId, type: 'offer' });
    const atS = nextCall(s, 'Signal');
    await a.call('ice_candidate', { room: 'lobby', to: sJoined.self.peerId, candidate: 'candidate:1 1 UDP 1 127.0.0.1 9 typ host', sdpMid: '0' });
    const [, from, signal] = await atS;
    expect(from).toBe(joinedA.peerId);
    expect(signal).toMatchObject({ type: 'candidate', candidate: 'candidate:1 1 UDP 1 127.0.0.1 9 typ host', mid: '0' });
    const atA = a.notification('answer', (p) => p.sdp === 'v=0 from signalr');
    await s.invoke('Signal', 'lobby', joinedA.peerId, { type: 'description', sdpType: 'answer', sdp: 'v=0 from signalr', sessionId: 'x1' });
    expect(await atA).toMatchObject({ from: sJoined.self.peerId, sessionId: 'x1' });

    // Relay (our extension): directed to a SignalR member on the other hub, broadcast to everyone.
    const relayedS = nextCall(s, 'Relayed');
    await a.call('rtcagent.relay', { room: 'lobby', to: sJoined.self.peerId, payload: 'aGk=' });
    expect(await relayedS).toEqual(['lobby', joinedA.peerId, 'aGk=']);
    const broadcastS = nextCall(s, 'Relayed', 5_000, (_r: string, f: string, p: string) => p === 'YWxs');
    await a.call('rtcagent.relay', { room: 'lobby', to: null, payload: 'YWxs' });
    expect(await b.notification('rtcagent.relayed', (p) => p.payload === 'YWxs')).toEqual({ room: 'lobby', from: joinedA.peerId, payload: 'YWxs' });
    expect((await broadcastS)[1]).toBe(joinedA.peerId);
    await s.invoke('Relay', 'lobby', joinedB.peerId, 'YmFjaw==');
    expect(await b.notification('rtcagent.relayed', (p) => p.payload === 'YmFjaw==')).toMatchObject({ from: sJoined.self.peerId });

    // Members lists the whole cluster's room; leaving is announced on the other hub.
    const members = await b.call('rtcagent.members', { room: 'lobby' });
    expect(members.room).toBe('lobby');
    // The others, on both hubs (the caller is not listed).
    expect(new Set(members.participants.map((p: { peerId: string }) => p.peerId))).toEqual(new Set([joinedA.peerId, sJoined.self.peerId]));
    const left = nextCall(s, 'PeerLeft');
    await a.call('disconnect', { room: 'lobby' });
    expect(await b.notification('peer_left', (p) => p.peerId === joinedA.peerId)).toMatchObject({ room: 'lobby', reason: 'left' });
    expect((await left)[1]).toBe(joinedA.peerId);
  });
});
