/**
 * The hub connection drops and comes back: the room is rejoined, relayed frames still unacked go
 * again at once (not after the resend timer), and the room keeps its peers — whether the hub
 * noticed the drop (PeerLeft `disconnected`, then `resumed`) or not, and through a P2P link that
 * outlives the hub connection.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { engineWorld } from './support/world.js';

describe('hub reconnect', () => {
  it('rejoined: unacked relayed frames are resent at once and the room keeps its peers', async () => {
    const world = engineWorld();
    const [a, b] = await world.joined({ peerId: 'a-peer', p2p: false }, { peerId: 'b-peer', p2p: false });
    const hubStates: string[] = [];
    a.core.on('hub', (s) => hubStates.push(s));
    let lost = 0;
    world.hub.drop = (d) => d.kind === 'relayed' && d.from === 'a-peer' && lost++ === 0; // in flight when the connection broke
    await a.room.send('in flight');
    await world.until(() => lost === 1, 'the frame to be lost');
    const now = Date.now();
    world.hub.disconnect(a.signaling);
    world.hub.reconnect(a.signaling);
    await world.until(() => b.events.messages.length === 1, 'the resent frame');
    expect(Date.now()).toBe(now); // the rejoin resent it, not the resend timer
    expect(b.events.texts()).toEqual(['in flight']);
    expect(hubStates).toEqual(['reconnecting', 'connected']);
    expect(a.core.stats()).toMatchObject({ hubState: 'connected', hubReconnects: 1, rooms: 1, peers: { relay: 1, p2p: 0, none: 0 } });
    // Nobody left: the same peers, the same sessions, no events.
    expect([a.events.left, b.events.left]).toEqual([[], []]);
    expect(a.events.joined.length).toBe(1);
    expect(b.events.joined.length).toBe(1);
    await b.room.send('and back');
    await world.until(() => a.events.messages.length === 1, 'b’s message');
    await world.advance(10_000);
    expect(b.events.messages.length).toBe(1);
  });

  it('a drop the hub noticed: peers see `disconnected`, then `resumed`, and what was sent meanwhile arrives once, in order', async () => {
    const world = engineWorld();
    const [a, b] = await world.joined({ peerId: 'a-peer', p2p: false }, { peerId: 'b-peer', p2p: false });
    await a.room.send('before');
    await world.until(() => b.events.messages.length === 1, 'the first message');
    world.hub.disconnect(a.signaling, { hubNoticed: true });
    await world.until(() => b.events.left.length === 1, 'b to hear of the drop');
    expect(b.events.left[0]).toMatchObject({ peerId: 'a-peer', reason: 'disconnected' });
    await a.room.send('during the outage'); // accepted: a still lists b and keeps it for the resend
    await expect(b.room.send('to a', { to: 'a-peer' })).rejects.toMatchObject({ code: ErrorCode.UNKNOWN_PEER });
    await world.advance(20_000); // no timeout on a's side: silence says nothing while its hub is down
    expect(a.events.left).toEqual([]);
    world.hub.reconnect(a.signaling);
    await world.until(() => b.events.joined.some((p) => p.reason === 'resumed'), 'b to re-admit a');
    await world.until(() => b.events.messages.length === 2, 'the message sent during the outage');
    await a.room.send('after');
    await world.until(() => b.events.messages.length === 3, 'the message after');
    await world.advance(10_000);
    expect(b.events.texts()).toEqual(['before', 'during the outage', 'after']);
  });

  it('a peer that lost the hub but not its P2P link is kept, and traffic goes on over P2P', async () => {
    const world = engineWorld();
    world.net.autoOpen = true;
    const [a, b] = await world.joined({ peerId: 'a-peer' }, { peerId: 'b-peer' });
    await world.until(() => a.view(b)?.path === 'p2p' && b.view(a)?.path === 'p2p', 'both on P2P');
    world.hub.disconnect(a.signaling, { hubNoticed: true });
    await world.advance(1_000);
    expect(b.events.left).toEqual([]);
    expect(b.view(a)?.path).toBe('p2p');
    await b.room.send('over p2p while a is off the hub');
    await a.room.send('and back');
    await world.until(() => a.events.messages.length === 1 && b.events.messages.length === 1, 'both messages');
    await world.advance(30_000); // heartbeats keep flowing on the link: nobody times out
    expect([a.events.left, b.events.left]).toEqual([[], []]);
    world.hub.reconnect(a.signaling);
    await world.advance(1_000);
    expect(b.events.joined.map((p) => p.reason)).toEqual(['present']); // a PeerJoined for a known peer is an update
    expect(world.net.pairs.size).toBe(1);
  });

  it('a failed rejoin is reported as an error of the room', async () => {
    const world = engineWorld();
    const [a] = await world.joined({ peerId: 'a-peer', p2p: false });
    a.room.rejoinFailed(new Error('room is full'));
    expect(a.events.errors).toMatchObject([{ code: ErrorCode.HUB_UNREACHABLE }]);
    expect(a.events.errors[0]?.message).toMatch(/rejoining room 'lobby' failed: room is full/);
  });
});
