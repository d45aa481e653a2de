/**
 * P2P retry and backoff on the fake clock: 1 s, 2 s, 4 s … capped at 60 s, reset by a link that
 * opened; the ICE timeout closing a link that does not open; `restart` from the answerer (at once,
 * but not while the offerer's link is still connecting); restartP2P() from either side.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_P2P_RETRY_BASE_MS, DEFAULT_P2P_RETRY_MAX_MS } from '../../src/engine/constants.js';
import { ErrorCode } from '../../src/errors.js';
import { ROOM, engineWorld, type EngineWorld, type TestAgent } from './support/world.js';

/** Waits for the offerer's next link to reach the answerer and returns its pair. */
async function nextNegotiation(world: EngineWorld, offerer: TestAgent, count: number) {
  await world.until(() => world.net.offeredBy(offerer.peerId).length === count && world.net.latest(offerer.peerId).answerer, `negotiation #${count} to reach the answerer`);
  return world.net.latest(offerer.peerId);
}

describe('retry and backoff', () => {
  it('failed attempts are retried after 1 s, 2 s, 4 s … capped at 60 s, and a link that opened resets the backoff', async () => {
    expect([DEFAULT_P2P_RETRY_BASE_MS, DEFAULT_P2P_RETRY_MAX_MS]).toEqual([1_000, 60_000]);
    const world = engineWorld();
    // Only the offerer's own backoff is under test: an answerer's `restart` would cut it short.
    world.hub.drop = (d) => d.kind === 'signal' && d.signal.type === 'restart';
    const [a, b] = await world.joined({ peerId: 'a-offerer' }, { peerId: 'b-answerer' });
    const expected = [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000];
    let attempts = 1;
    for (const delay of expected) {
      const pair = await nextNegotiation(world, a, attempts);
      pair.fail('ice failed');
      await world.until(() => a.view(b)?.p2p === 'waiting-retry', 'a to wait for its retry');
      await world.advance(delay - 1);
      expect(world.net.offeredBy(a.peerId).length, `no attempt before ${delay} ms`).toBe(attempts);
      await world.advance(1);
      expect(world.net.offeredBy(a.peerId).length, `an attempt at ${delay} ms`).toBe(attempts + 1);
      attempts++;
    }
    expect(a.view(b)?.p2pFailures).toBe(expected.length);
    // This attempt opens; when it fails later, the wait starts again at 1 s.
    (await nextNegotiation(world, a, attempts)).open();
    await world.until(() => a.view(b)?.path === 'p2p', 'a on P2P');
    world.net.latest(a.peerId).fail('dtls closed');
    await world.until(() => a.view(b)?.p2p === 'waiting-retry', 'a to wait for its retry');
    await world.advance(999);
    expect(world.net.offeredBy(a.peerId).length).toBe(attempts);
    await world.advance(1);
    expect(world.net.offeredBy(a.peerId).length).toBe(attempts + 1);
  });

  it('a platform that cannot make a peer connection right now is retried with the same backoff', async () => {
    const world = engineWorld();
    const a = world.agent({ peerId: 'a-offerer' });
    a.links!.failNextCreates = 2;
    await a.join();
    const [b] = await world.joined({ peerId: 'b-answerer' });
    await world.until(() => a.view(b)?.p2p === 'waiting-retry', 'a to wait after the first failure');
    expect(world.net.pairs.size).toBe(0);
    await world.advance(1_000); // second create fails too: 2 s next
    expect(world.net.pairs.size).toBe(0);
    await world.advance(1_999);
    expect(world.net.pairs.size).toBe(0);
    await world.advance(1);
    expect(world.net.pairs.size).toBe(1);
    expect(a.view(b)?.path).toBe('relay');
  });

  it('the ICE timeout closes a link that does not open and falls back to relay', async () => {
    const world = engineWorld();
    const [a, b] = await world.joined(
      { peerId: 'a-offerer', settings: { iceConnectionTimeoutMs: 15_000 } },
      { peerId: 'b-answerer', settings: { iceConnectionTimeoutMs: 15_000 } },
    );
    const pair = await nextNegotiation(world, a, 1);
    await world.advance(14_999);
    expect(pair.side('a-offerer').state).toBe('connecting');
    expect(a.view(b)?.p2p).toBe('connecting');
    await world.advance(1);
    expect(pair.side('a-offerer').state).toBe('closed');
    expect(pair.side('a-offerer').closeReason).toBe('not open within 15000 ms');
    await world.until(() => a.view(b)?.p2p === 'waiting-retry', 'a to wait for its retry');
    expect(a.view(b)).toMatchObject({ path: 'relay', p2pFailures: 1 });
    // A link that never opened changed no path: nobody was told of a switch.
    expect(a.events.paths).toEqual([]);
    await a.room.send('still reachable');
    await world.until(() => b.events.messages.length === 1, 'the relayed message');
    expect(b.events.messages[0]?.path).toBe('relay');
  });

  it('`restart` from the answerer makes the offerer renegotiate at once', async () => {
    const world = engineWorld();
    const [a, b] = await world.joined({ peerId: 'a-offerer' }, { peerId: 'b-answerer' });
    (await nextNegotiation(world, a, 1)).open();
    await world.until(() => a.view(b)?.path === 'p2p' && b.view(a)?.path === 'p2p', 'both on P2P');
    const now = Date.now();
    b.room.restartP2P('a-offerer');
    expect(b.view(a)?.path).toBe('relay'); // the answerer dropped its link at once
    expect(b.events.paths.at(-1)).toMatchObject({ from: 'p2p', to: 'relay', reason: 'p2p restart requested' });
    const second = await nextNegotiation(world, a, 2);
    expect(Date.now()).toBe(now); // no timer was involved
    expect(world.hub.deliveries.some((d) => d.kind === 'signal' && d.from === 'b-answerer' && d.signal.type === 'restart')).toBe(true);
    second.open();
    await world.until(() => a.view(b)?.path === 'p2p' && b.view(a)?.path === 'p2p', 'both on the new link');
    expect(world.net.offeredBy('a-offerer')[0]?.isClosed).toBe(true);
  });

  it('`restart` is ignored while the offerer’s link is still connecting', async () => {
    const world = engineWorld();
    const [a, b] = await world.joined({ peerId: 'a-offerer' }, { peerId: 'b-answerer' });
    const first = await nextNegotiation(world, a, 1);
    world.hub.inject({ kind: 'signal', room: ROOM, to: 'a-offerer', from: 'b-answerer', signal: { type: 'restart' } });
    await b.room.send('marker after the restart');
    await world.until(() => a.events.messages.length === 1, 'the marker');
    expect(world.net.offeredBy('a-offerer')).toEqual([first]);
    expect(first.side('a-offerer').state).toBe('connecting');
    first.open();
    await world.until(() => a.view(b)?.path === 'p2p', 'the first link to open after all');
  });

  it('restartP2P() on the offerer drops the link (relay at once) and offers anew; unknown peers are refused', async () => {
    const world = engineWorld();
    const [a, b] = await world.joined({ peerId: 'a-offerer' }, { peerId: 'b-answerer' });
    (await nextNegotiation(world, a, 1)).open();
    await world.until(() => a.view(b)?.path === 'p2p', 'a on P2P');
    a.room.restartP2P('b-answerer');
    expect(a.view(b)?.path).toBe('relay');
    expect(a.events.paths.at(-1)).toMatchObject({ from: 'p2p', to: 'relay', reason: 'p2p restart requested' });
    await a.room.send('during the restart');
    await world.until(() => b.events.messages.length === 1, 'the message during the restart');
    expect(b.events.messages[0]?.path).toBe('relay');
    (await nextNegotiation(world, a, 2)).open();
    await world.until(() => a.view(b)?.path === 'p2p' && b.view(a)?.path === 'p2p', 'both on the new link');
    expect(() => a.room.restartP2P('nobody')).toThrow(expect.objectContaining({ code: ErrorCode.UNKNOWN_PEER }));
  });
});
