/**
 * Setup that never stalls: a handshake that fails after ICE connected (libdatachannel fails about 1
 * DTLS handshake in 100-300 under load) is retried at once on a fresh connection, not after the
 * 1 s backoff; one that ICE connected but that does not open within DEFAULT_P2P_SETUP_STALL_MS is
 * given up and retried at once; an answerer that alone saw the failure names the negotiation, so
 * the offerer drops it even while it still looks like it is connecting.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_P2P_SETUP_STALL_MS, P2P_FAST_RETRIES } from '../../src/engine/constants.js';
import { engineWorld, type EngineWorld, type TestAgent } from './support/world.js';

async function negotiation(world: EngineWorld, offerer: TestAgent, count: number) {
  await world.until(() => world.net.offeredBy(offerer.peerId).length === count && world.net.latest(offerer.peerId).answerer, `negotiation #${count} to reach the answerer`);
  return world.net.latest(offerer.peerId);
}

describe('setup that never stalls', () => {
  it('a handshake that fails after ICE connected is retried at once, a few times, then with the backoff', async () => {
    const world = engineWorld();
    const [a, b] = await world.joined({ peerId: 'a-offerer' }, { peerId: 'b-answerer' });
    for (let attempt = 1; attempt <= P2P_FAST_RETRIES; attempt++) {
      const pair = await negotiation(world, a, attempt);
      pair.iceUp();
      pair.fail('ICE/DTLS failed');
      // No time passes: the next negotiation is already on its way.
      await negotiation(world, a, attempt + 1);
    }
    const again = await negotiation(world, a, P2P_FAST_RETRIES + 1);
    again.iceUp();
    again.fail('ICE/DTLS failed');
    await world.until(() => a.view(b)?.p2p === 'waiting-retry', 'the backoff after the fast retries');
    // The next one opens, and that resets the fast retries for later failures.
    await world.advance(1_000);
    const fresh = await negotiation(world, a, P2P_FAST_RETRIES + 2);
    fresh.open();
    await world.until(() => a.view(b)?.path === 'p2p' && b.view(a)?.path === 'p2p', 'both on P2P');
    expect(a.view(b)?.p2pFailures).toBe(P2P_FAST_RETRIES + 1);
  });

  it('ICE that fails (the peer is unreachable) keeps the backoff: no fast retry', async () => {
    const world = engineWorld();
    const [a, b] = await world.joined({ peerId: 'a-offerer' }, { peerId: 'b-answerer' });
    (await negotiation(world, a, 1)).fail('ice failed');
    await world.until(() => a.view(b)?.p2p === 'waiting-retry', 'a to wait for its retry');
    await world.advance(999);
    expect(world.net.offeredBy(a.peerId)).toHaveLength(1);
  });

  it('a handshake stuck after ICE connected is given up after the stall bound and retried at once', async () => {
    const world = engineWorld();
    const [a, b] = await world.joined({ peerId: 'a-offerer' }, { peerId: 'b-answerer' });
    const stuck = await negotiation(world, a, 1);
    stuck.iceUp();
    await world.advance(DEFAULT_P2P_SETUP_STALL_MS - 1);
    expect(stuck.offerer!.state).toBe('connecting');
    await world.advance(1);
    await world.until(() => stuck.offerer!.state === 'closed', 'the stuck link to be given up');
    expect(stuck.offerer!.closeReason).toMatch(/DTLS\/SCTP not done/);
    const next = await negotiation(world, a, 2);
    next.open();
    await world.until(() => a.view(b)?.path === 'p2p', 'a on P2P');
  });

  it('when only the answerer saw the handshake fail, it names the negotiation and the offerer retries at once', async () => {
    const world = engineWorld();
    const [a, b] = await world.joined({ peerId: 'a-offerer' }, { peerId: 'b-answerer' });
    const pair = await negotiation(world, a, 1);
    pair.iceUp();
    pair.failOne('answerer');
    // The offerer's side still looks like it is connecting; the answerer's restart names it.
    const next = await negotiation(world, a, 2);
    expect(next.sessionId).not.toBe(pair.sessionId);
    next.open();
    await world.until(() => a.view(b)?.path === 'p2p' && b.view(a)?.path === 'p2p', 'both on P2P');
  });
});
