/**
 * Who offers: the lower peer id, so a pair negotiates exactly once — also when both join at the
 * same moment — and an offer that reaches the offerer while it negotiates is ignored.
 */
import { describe, expect, it } from 'vitest';
import { ROOM, engineWorld } from './support/world.js';

describe('the offerer role', () => {
  it('the lower peer id offers and the other answers, whichever joined first', async () => {
    const world = engineWorld();
    // 'b-…' joins first and 'a-…' second: the order of joining does not decide, the ids do.
    const [b, a] = await world.joined({ peerId: 'b-second' }, { peerId: 'a-first' });
    await world.until(() => world.net.pairs.size === 1 && [...world.net.pairs.values()][0]?.answerer, 'the offer to reach the answerer');
    const pair = world.net.latest('a-first');
    expect(pair.offerer?.owner).toBe('a-first');
    expect(pair.answerer?.owner).toBe('b-second');
    expect(a.links?.created.map((l) => l.role)).toEqual(['offerer']);
    expect(b.links?.created.map((l) => l.role)).toEqual(['answerer']);
    // The descriptions and candidates went through the hub, stamped with their senders.
    const signals = world.hub.deliveries.filter((d) => d.kind === 'signal');
    expect(signals.map((d) => [d.from, d.signal.type, 'sdpType' in d.signal ? d.signal.sdpType : undefined])).toEqual([
      ['a-first', 'description', 'offer'],
      ['a-first', 'candidate', undefined],
      ['b-second', 'description', 'answer'],
      ['b-second', 'candidate', undefined],
    ]);
    expect(pair.answerReached).toBe(true);
    expect(pair.candidatesSeen).toBe(2);
    pair.open();
    await world.until(() => a.view(b)?.path === 'p2p' && b.view(a)?.path === 'p2p', 'both sides on P2P');
  });

  it('a pair that joins at the same moment negotiates exactly once', async () => {
    const world = engineWorld();
    world.net.autoOpen = true;
    const a = world.agent({ peerId: 'a-peer' });
    const b = world.agent({ peerId: 'b-peer' });
    // Both Joins in flight together: each sees the other either in its result or as PeerJoined.
    await Promise.all([a.join(), b.join()]);
    await world.until(() => a.view(b)?.path === 'p2p' && b.view(a)?.path === 'p2p', 'both sides on P2P');
    expect(world.net.pairs.size).toBe(1);
    expect(a.links?.created.map((l) => l.role)).toEqual(['offerer']);
    expect(b.links?.created.map((l) => l.role)).toEqual(['answerer']);
    const offers = world.hub.deliveries.filter((d) => d.kind === 'signal' && d.signal.type === 'description' && d.signal.sdpType === 'offer');
    expect(offers.map((d) => d.from)).toEqual(['a-peer']);
    await world.advance(30_000); // and nothing renegotiates later
    expect(world.net.pairs.size).toBe(1);
    expect(a.view(b)?.path).toBe('p2p');
  });

  it('three agents make one link per pair, each offered by the lower id', async () => {
    const world = engineWorld();
    world.net.autoOpen = true;
    const [a, b, c] = await world.joined({ peerId: 'peer-1' }, { peerId: 'peer-3' }, { peerId: 'peer-2' });
    await world.until(() => world.agents.every((x) => x.room.peers().every((p) => p.path === 'p2p')), 'every pair on P2P');
    const pairs = [...world.net.pairs.values()].map((p) => `${p.offerer?.owner}>${p.answerer?.owner}`).sort();
    expect(pairs).toEqual(['peer-1>peer-2', 'peer-1>peer-3', 'peer-2>peer-3']);
    expect([a, b, c].map((x) => x.room.peers().length)).toEqual([2, 2, 2]);
  });

  it('a stray offer to the offerer is ignored: no second link, the current one stays', async () => {
    const world = engineWorld();
    const [a, b] = await world.joined({ peerId: 'a-offers' }, { peerId: 'b-answers' });
    await world.until(() => world.net.pairs.size === 1 && world.net.latest('a-offers').answerer, 'the negotiation to reach the answerer');
    // While a's link is still connecting, and again once it is open.
    for (const phase of ['connecting', 'open'] as const) {
      if (phase === 'open') {
        world.net.latest('a-offers').open();
        await world.until(() => a.view(b)?.path === 'p2p', 'a on P2P');
      }
      world.hub.inject({ kind: 'signal', room: ROOM, to: 'a-offers', from: 'b-answers', signal: { type: 'description', sdpType: 'offer', sdp: 'stray', sessionId: `stray-${phase}` } });
      // A marker after the stray offer: once it is handled, the offer was too.
      const relayedBefore = a.events.messages.length;
      await b.room.send(`after the ${phase} stray offer`);
      await world.until(() => a.events.messages.length > relayedBefore, 'the marker message');
      expect(a.links?.created.map((l) => l.role)).toEqual(['offerer']);
      expect(a.view(b)?.p2p).toBe(phase);
      expect(world.net.pairs.has(`stray-${phase}`)).toBe(false);
    }
    expect(a.links?.created[0]?.state).toBe('open');
  });
});
