/**
 * Membership and liveness (docs/room-contract.md, "Membership and liveness") on the fake clock:
 * silence for three heartbeat intervals reports a peer gone (`timeout`); it is probed while the hub
 * lists it and re-admitted (`resumed`) the moment it speaks, with P2P renegotiated and what send()
 * accepted while it was listed delivered once and in order; probing stops on PEER_NOT_IN_ROOM or
 * PeerLeft; a new instance under the same peer id starts afresh (`restarted`); Members
 * reconciliation; the heartbeat as probe signals when no data path exists.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_MEMBERS_RECONCILE_MS } from '../../src/engine/membership.js';
import { HEARTBEAT_MISSES, ROOM_TICK_MS } from '../../src/engine/constants.js';
import { ErrorCode } from '../../src/errors.js';
import type { Delivery } from './fakes/fake-hub.js';
import { engineWorld, type EngineWorld, type TestAgent } from './support/world.js';

const HEARTBEAT_MS = 5_000;

/** Everything between two agents stops on the hub (and on their P2P links), as in a network stall. */
function stall(world: EngineWorld, a: TestAgent, b: TestAgent) {
  const between = (d: Delivery) => (d.kind === 'signal' || d.kind === 'relayed') && [a.peerId, b.peerId].includes(d.from) && [a.peerId, b.peerId].includes(d.to);
  const held = world.hub.hold(between);
  world.net.hold(a.peerId, true);
  world.net.hold(b.peerId, true);
  return {
    held,
    end() {
      world.net.hold(a.peerId, false);
      world.net.hold(b.peerId, false);
      held.release();
    },
  };
}

function probesFrom(world: EngineWorld, from: string, to: string) {
  return world.hub.calls.filter((c) => c.method === 'Signal' && c.from === from && c.to === to && c.signal?.type === 'probe');
}

describe('heartbeat timeout and healing', () => {
  it('a silent peer is reported left after three intervals, probed, and resumed when it speaks: delivery continues once, in order', async () => {
    const world = engineWorld();
    const settings = { heartbeatIntervalMs: HEARTBEAT_MS };
    const [a, b] = await world.joined({ peerId: 'a-peer', p2p: false, settings }, { peerId: 'b-peer', p2p: false, settings });
    await a.room.send('m1');
    await world.until(() => b.events.messages.length === 1, 'm1');
    await world.advance(HEARTBEAT_MS); // a heartbeat each way, so both have heard each other just now
    const cut = stall(world, a, b);
    const since = Date.now();
    await a.room.send('m2'); // accepted while b is listed
    await a.room.send('m3');
    await world.advance((HEARTBEAT_MISSES - 1) * HEARTBEAT_MS);
    expect(a.events.left).toEqual([]);
    await world.until(() => a.events.left.length === 1, 'a to give up on b', { stepMs: ROOM_TICK_MS, maxFakeMs: HEARTBEAT_MS + 2 * ROOM_TICK_MS });
    expect(Date.now() - since).toBeGreaterThan((HEARTBEAT_MISSES - 1) * HEARTBEAT_MS);
    expect(a.events.left[0]).toMatchObject({ peerId: 'b-peer', reason: 'timeout' });
    expect(a.view(b)).toBeUndefined();

    // Not listed now: nothing sent meanwhile is for it.
    await expect(a.room.send('m-direct', { to: 'b-peer' })).rejects.toMatchObject({ code: ErrorCode.UNKNOWN_PEER });
    await a.room.send('m-broadcast'); // to nobody

    // Probed once per interval while the hub lists it.
    const probesAtTimeout = probesFrom(world, 'a-peer', 'b-peer').length;
    await world.advance(2 * HEARTBEAT_MS);
    expect(probesFrom(world, 'a-peer', 'b-peer').length - probesAtTimeout).toBe(2);

    cut.end(); // b speaks again (its pings, acks, probes arrive)
    await world.until(() => a.events.joined.some((p) => p.reason === 'resumed') && b.events.joined.some((p) => p.reason === 'resumed'), 'both sides to re-admit the other');
    expect(a.events.joined.filter((p) => p.reason === 'resumed').map((p) => p.peerId)).toEqual(['b-peer']);
    await world.until(() => b.events.messages.length === 3, 'm2 and m3', { stepMs: ROOM_TICK_MS, maxFakeMs: 5_000 });
    await a.room.send('m4');
    await world.until(() => b.events.messages.length === 4, 'm4');
    await world.advance(3 * HEARTBEAT_MS);
    expect(b.events.texts()).toEqual(['m1', 'm2', 'm3', 'm4']);
    expect(a.view(b)?.path).toBe('relay');
  });

  it('after a stall that cut the P2P link too, the pair heals onto a new P2P link', async () => {
    const world = engineWorld();
    world.net.autoOpen = true;
    const settings = { heartbeatIntervalMs: HEARTBEAT_MS };
    const [a, b] = await world.joined({ peerId: 'a-peer', settings }, { peerId: 'b-peer', settings });
    await world.until(() => a.view(b)?.path === 'p2p' && b.view(a)?.path === 'p2p', 'both on P2P');
    await b.room.send('before');
    await world.until(() => a.events.messages.length === 1, 'the first message');
    const cut = stall(world, a, b);
    await b.room.send('during 1');
    await b.room.send('during 2');
    await world.until(() => a.events.left.length === 1 && b.events.left.length === 1, 'both to give up', { stepMs: ROOM_TICK_MS, maxFakeMs: 20_000 });
    expect(world.net.latest('a-peer').isClosed).toBe(true); // the dead peer's link was closed
    const pairsBefore = world.net.pairs.size;
    cut.end();
    await world.until(() => a.view(b)?.path === 'p2p' && b.view(a)?.path === 'p2p', 'both on P2P again', { stepMs: ROOM_TICK_MS, maxFakeMs: 10_000 });
    expect(world.net.pairs.size).toBeGreaterThan(pairsBefore);
    expect(a.events.joined.at(-1)?.reason).toBe('resumed');
    expect(b.events.joined.at(-1)?.reason).toBe('resumed');
    await world.until(() => a.events.messages.length === 3, 'what b sent during the stall', { stepMs: ROOM_TICK_MS, maxFakeMs: 10_000 });
    await b.room.send('after');
    await world.until(() => a.events.messages.length === 4, 'the message after healing');
    expect(a.events.texts()).toEqual(['before', 'during 1', 'during 2', 'after']);
    expect(a.events.messages.at(-1)?.path).toBe('p2p');
  });

  for (const quick of ['offerer', 'answerer'] as const) {
    it(`when only the ${quick} gives up during a stall, the pair still heals onto P2P and loses nothing`, async () => {
      const world = engineWorld();
      world.net.autoOpen = true;
      // Only one side's heartbeat notices a 6 s stall.
      const short = { heartbeatIntervalMs: 1_000 };
      const long = { heartbeatIntervalMs: 60_000 };
      const [a, b] = await world.joined(
        { peerId: 'a-offerer', settings: quick === 'offerer' ? short : long },
        { peerId: 'b-answerer', settings: quick === 'answerer' ? short : long },
      );
      await world.until(() => a.view(b)?.path === 'p2p' && b.view(a)?.path === 'p2p', 'both on P2P');
      const [gaveUp, keptOn] = quick === 'offerer' ? [a, b] : [b, a];
      const cut = stall(world, a, b);
      await keptOn.room.send('during the stall');
      await world.advance(6_000);
      expect(gaveUp.events.left).toMatchObject([{ reason: 'timeout' }]);
      expect(keptOn.events.left).toEqual([]);
      cut.end();
      await world.until(() => gaveUp.events.joined.some((p) => p.reason === 'resumed'), 'the side that gave up to re-admit the other');
      await world.until(() => a.view(b)?.path === 'p2p' && b.view(a)?.path === 'p2p', 'both on P2P again', { stepMs: ROOM_TICK_MS, maxFakeMs: 10_000 });
      await keptOn.room.send('after');
      await gaveUp.room.send('back');
      await world.until(() => gaveUp.events.messages.length === 2 && keptOn.events.messages.length === 1, 'messages both ways', { stepMs: ROOM_TICK_MS, maxFakeMs: 10_000 });
      await world.advance(10_000);
      expect(gaveUp.events.texts()).toEqual(['during the stall', 'after']);
      expect(keptOn.events.texts()).toEqual(['back']);
      expect(a.view(b)?.path).toBe('p2p');
      expect(keptOn.events.left).toEqual([]);
    });
  }

  it('probing stops when the hub answers PEER_NOT_IN_ROOM', async () => {
    // No member list: the probe's answer is the only thing that can tell a that b is gone.
    const world = engineWorld({ members: false });
    const settings = { heartbeatIntervalMs: HEARTBEAT_MS };
    const [a, b] = await world.joined({ peerId: 'a-peer', p2p: false, settings }, { peerId: 'b-peer', p2p: false, settings });
    stall(world, a, b);
    await world.until(() => a.events.left.length === 1, 'a to give up on b', { stepMs: ROOM_TICK_MS, maxFakeMs: 20_000 });
    await world.advance(HEARTBEAT_MS);
    expect(probesFrom(world, 'a-peer', 'b-peer').every((c) => !c.refused)).toBe(true);
    world.hub.remove(world.agents[0]!.room.name, 'b-peer'); // its PeerLeft got lost
    await world.advance(HEARTBEAT_MS);
    const probes = probesFrom(world, 'a-peer', 'b-peer');
    expect(probes.at(-1)?.refused).toBe(ErrorCode.PEER_NOT_IN_ROOM);
    await world.advance(5 * HEARTBEAT_MS);
    expect(probesFrom(world, 'a-peer', 'b-peer').length).toBe(probes.length);
  });

  it('probing stops on PeerLeft', async () => {
    const world = engineWorld();
    const settings = { heartbeatIntervalMs: HEARTBEAT_MS };
    const [a, b] = await world.joined({ peerId: 'a-peer', p2p: false, settings }, { peerId: 'b-peer', p2p: false, settings });
    stall(world, a, b);
    await world.until(() => a.events.left.length === 1, 'a to give up on b', { stepMs: ROOM_TICK_MS, maxFakeMs: 20_000 });
    await world.advance(2 * HEARTBEAT_MS);
    const probing = probesFrom(world, 'a-peer', 'b-peer').length;
    expect(probing).toBeGreaterThanOrEqual(2);
    world.hub.remove(a.room.name, 'b-peer', { notify: 'disconnected' });
    await world.advance(5 * HEARTBEAT_MS);
    expect(probesFrom(world, 'a-peer', 'b-peer').length).toBe(probing);
    expect(a.events.left.length).toBe(1); // a peer already reported gone is not reported again
  });

  it('a restarted peer (same peer id, new instance) starts with fresh numbering: peer-left and peer-joined `restarted`', async () => {
    const world = engineWorld();
    const [a, b1] = await world.joined({ peerId: 'a-peer', p2p: false }, { peerId: 'b-peer', p2p: false, instance: 'first' });
    for (const m of ['to b1 #1', 'to b1 #2', 'to b1 #3']) await a.room.send(m);
    await world.until(() => b1.events.messages.length === 3, 'b1’s messages');
    const b2 = world.agent({ peerId: 'b-peer', p2p: false, instance: 'second' });
    await b2.join();
    await world.until(() => a.events.joined.some((p) => p.reason === 'restarted'), 'a to see the restart');
    expect(a.events.left).toMatchObject([{ peerId: 'b-peer', reason: 'restarted' }]);
    expect(a.events.joined.at(-1)).toMatchObject({ peerId: 'b-peer', reason: 'restarted' });
    // Were a's numbering kept, b2 would hold seq 4 forever, waiting for 1–3.
    await a.room.send('to b2');
    await world.until(() => b2.events.messages.length === 1, 'b2’s first message');
    expect(b2.events.texts()).toEqual(['to b2']);
    await b2.room.send('from b2');
    await world.until(() => a.events.messages.length === 1, 'b2’s reply');
    expect(a.events.messages[0]).toMatchObject({ text: 'from b2', from: 'b-peer' });
    expect(b1.events.messages.length).toBe(3); // the replaced connection gets nothing more
  });

  it('a peer given up on that comes back as a new instance is `restarted`, not resumed', async () => {
    const world = engineWorld();
    const settings = { heartbeatIntervalMs: HEARTBEAT_MS };
    const [a, b1] = await world.joined({ peerId: 'a-peer', p2p: false, settings }, { peerId: 'b-peer', p2p: false, settings, instance: 'first' });
    await a.room.send('old');
    await world.until(() => b1.events.messages.length === 1, 'the first message');
    const cut = stall(world, a, b1);
    await a.room.send('unacked for the old instance');
    await world.until(() => a.events.left.length === 1, 'a to give up on b1', { stepMs: ROOM_TICK_MS, maxFakeMs: 20_000 });
    const b2 = world.agent({ peerId: 'b-peer', p2p: false, settings, instance: 'second' });
    await b2.join();
    await world.until(() => a.events.joined.some((p) => p.reason === 'restarted'), 'a to list b2');
    expect(a.events.joined.some((p) => p.reason === 'resumed')).toBe(false);
    cut.end(); // what was on its way to and from the old instance arrives late
    await a.room.send('new');
    await world.until(() => b2.events.messages.length === 1, 'the message to b2');
    await world.advance(3 * HEARTBEAT_MS);
    expect(b2.events.texts()).toEqual(['new']);
    expect(a.events.joined.some((p) => p.reason === 'resumed')).toBe(false);
  });
});

describe('Members reconciliation', () => {
  it('an unknown peer that speaks makes the room ask Members: it is added (`joined`) and its message delivered', async () => {
    const world = engineWorld();
    world.hub.drop = (d) => d.kind === 'peerJoined' && d.to === 'a-peer' && d.participant.peerId === 'c-peer';
    const [a] = await world.joined({ peerId: 'a-peer', p2p: false });
    const c = world.agent({ peerId: 'c-peer', p2p: false });
    await c.join();
    expect(a.room.peer('c-peer')).toBeUndefined();
    await c.room.send('hello from a stranger');
    await world.until(() => a.events.messages.length === 1, 'the stranger’s message');
    expect(a.events.messages[0]).toMatchObject({ from: 'c-peer', text: 'hello from a stranger' });
    expect(a.events.joined).toMatchObject([{ peerId: 'c-peer', reason: 'joined' }]);
    expect(world.hub.calls.filter((x) => x.method === 'Members' && x.from === 'a-peer').length).toBe(1);
  });

  it('without the `members` feature, what an unknown peer sends is dropped and Members is never called', async () => {
    const world = engineWorld({ members: false });
    world.hub.drop = (d) => d.kind === 'peerJoined' && d.to === 'a-peer' && d.participant.peerId === 'c-peer';
    const [a, b] = await world.joined({ peerId: 'a-peer', p2p: false }, { peerId: 'b-peer', p2p: false });
    const c = world.agent({ peerId: 'c-peer', p2p: false });
    await c.join();
    await c.room.send('from a stranger');
    await b.room.send('marker from a known peer'); // routed after c's message
    await world.until(() => a.events.messages.length === 1, 'the marker');
    await world.advance(DEFAULT_MEMBERS_RECONCILE_MS + ROOM_TICK_MS);
    expect(a.events.texts()).toEqual(['marker from a known peer']);
    expect(a.room.peer('c-peer')).toBeUndefined();
    expect(world.hub.calls.filter((x) => x.method === 'Members')).toEqual([]);
  });

  it('a PeerLeft that overtakes the Members answer wins over it', async () => {
    const world = engineWorld();
    world.hub.drop = (d) => d.kind === 'peerJoined' && d.to === 'a-peer' && d.participant.peerId === 'c-peer';
    const [a, b] = await world.joined({ peerId: 'a-peer', p2p: false }, { peerId: 'b-peer', p2p: false });
    const c = world.agent({ peerId: 'c-peer', p2p: false });
    await c.join();
    const release = world.hub.gateMembers();
    await c.room.send('from a stranger');
    await world.until(() => world.hub.calls.some((x) => x.method === 'Members' && x.from === 'a-peer'), 'a to ask Members');
    await c.room.leave(); // PeerLeft reaches a before the answer that still lists c
    await b.room.send('marker');
    await world.until(() => a.events.messages.length === 1, 'the marker after the PeerLeft');
    release();
    await b.room.send('marker after the answer');
    await world.until(() => a.events.messages.length === 2, 'the second marker');
    expect(a.room.peer('c-peer')).toBeUndefined();
    expect(a.events.joined.map((p) => p.peerId)).not.toContain('c-peer');
    expect(a.events.texts()).toEqual(['marker', 'marker after the answer']);
  });

  it('a listed peer the hub no longer lists is dropped (`disconnected`) unless its P2P link is open', async () => {
    const world = engineWorld();
    world.net.autoOpen = true;
    const settings = { heartbeatIntervalMs: 60_000 }; // the heartbeat must not decide first
    const [a, b, c] = await world.joined({ peerId: 'a-peer', settings }, { peerId: 'b-peer', p2p: false, settings }, { peerId: 'c-peer', settings });
    await world.until(() => a.view(c)?.path === 'p2p', 'a and c on P2P');
    // Both PeerLefts get lost.
    world.hub.remove(a.room.name, 'b-peer');
    world.hub.remove(a.room.name, 'c-peer');
    await world.until(() => a.events.left.length === 1, 'the periodic reconciliation', { stepMs: ROOM_TICK_MS, maxFakeMs: DEFAULT_MEMBERS_RECONCILE_MS + 2 * ROOM_TICK_MS });
    expect(a.events.left).toMatchObject([{ peerId: 'b-peer', reason: 'disconnected' }]);
    expect(a.view(b)).toBeUndefined();
    expect(a.view(c)?.path).toBe('p2p');
    await c.room.send('c is only off the hub');
    await world.until(() => a.events.messages.length === 1, 'c’s message over P2P');
  });
});

describe('the heartbeat without a data path', () => {
  it('travels as probe signals, so a peer that answers them is not reported gone', async () => {
    const world = engineWorld();
    const settings = { heartbeatIntervalMs: HEARTBEAT_MS, allowRelay: false };
    const [a, b] = await world.joined({ peerId: 'a-peer', p2p: false, settings }, { peerId: 'b-peer', p2p: false, settings });
    expect(a.view(b)?.path).toBe('none');
    await world.advance(12 * HEARTBEAT_MS);
    expect(a.events.left).toEqual([]);
    expect(b.events.left).toEqual([]);
    expect(probesFrom(world, 'a-peer', 'b-peer').length).toBeGreaterThanOrEqual(11);
    expect(world.hub.calls.filter((c) => c.from === 'b-peer' && c.signal?.type === 'probe-ack').length).toBeGreaterThanOrEqual(11);
    expect(world.hub.deliveries.filter((d) => d.kind === 'relayed')).toEqual([]);
    // Without the probes there is nothing else: the peers time each other out.
    world.hub.drop = (d) => d.kind === 'signal' && (d.signal.type === 'probe' || d.signal.type === 'probe-ack');
    await world.until(() => a.events.left.length === 1 && b.events.left.length === 1, 'both timeouts', { stepMs: ROOM_TICK_MS, maxFakeMs: 20_000 });
    expect(a.events.left[0]?.reason).toBe('timeout');
  });
});
