/**
 * close(): idempotent, waits (bounded) for acks, tells peers, rejects what waits, refuses new
 * work, and leaves no timer running — with links connecting, open, failed and waiting to retry,
 * acks pending and a send waiting on a full P2P buffer.
 */
import { describe, expect, it, vi } from 'vitest';
import { DEFAULT_CLOSE_FLUSH_MS } from '../../src/engine/agent-core.js';
import { DEFAULT_P2P_BUFFERED_HIGH_BYTES } from '../../src/engine/constants.js';
import { ErrorCode } from '../../src/errors.js';
import { engineWorld, track } from './support/world.js';

describe('close()', () => {
  it('is idempotent, tells the peers, rejects waiting sends, refuses new work and leaves no timer running', async () => {
    const world = engineWorld();
    const [a, b, c, d] = await world.joined({ peerId: 'peer-a' }, { peerId: 'peer-b' }, { peerId: 'peer-c' }, { peerId: 'peer-d' });
    await world.until(() => world.net.offeredBy('peer-a').length === 3 && world.net.offeredBy('peer-a').every((p) => p.answerer), 'a’s three offers to arrive');
    const [ab, ac] = world.net.offeredBy('peer-a');
    ab!.open(); // a–b open; a–c fails and waits to retry; a–d stays connecting (ICE timer)
    ac!.fail('ice failed');
    await world.until(() => a.view(b)?.path === 'p2p' && a.view(c)?.p2p === 'waiting-retry' && a.view(d)?.p2p === 'connecting', 'links in every state');
    await b.room.send('an ack is due'); // a's ack timer runs
    await world.until(() => a.events.messages.length === 1, 'the message');
    ab!.side('peer-a').setBufferedAmount('reliable', DEFAULT_P2P_BUFFERED_HIGH_BYTES + 1);
    const waiting = track(a.room.send('stuck behind the buffer', { to: 'peer-b' }));
    await world.advance(100);
    expect(waiting.state).toBe('pending');
    expect(vi.getTimerCount()).toBeGreaterThan(0);

    const first = a.core.close();
    const second = a.core.close();
    expect(second).toBe(first);
    await world.until(() => waiting.state !== 'pending' && a.events.closes === 1, 'a to close');
    await first;
    expect(waiting.error).toMatchObject({ code: ErrorCode.CLOSED });
    await a.core.close();
    expect(a.events.closes).toBe(1);
    await expect(a.room.send('late')).rejects.toMatchObject({ code: ErrorCode.CLOSED });
    await expect(a.core.join('another')).rejects.toMatchObject({ code: ErrorCode.CLOSED });
    await a.room.leave(); // idempotent too
    expect(a.core.stats()).toMatchObject({ rooms: 0, hubState: 'closed' });
    expect(a.links?.live).toEqual([]);
    // Its peers heard a goodbye, not a timeout.
    await world.until(() => [b, c, d].every((x) => x.events.left.length === 1), 'the peers to see a leave');
    expect([b, c, d].map((x) => x.events.left[0]?.reason)).toEqual(['left', 'left', 'left']);
    expect(world.hub.isMember('lobby', 'peer-a')).toBe(false);

    await Promise.all([b, c, d].map((x) => x.core.close()));
    expect(vi.getTimerCount()).toBe(0);
    expect([...world.net.pairs.values()].every((p) => p.isClosed)).toBe(true);
  });

  it('waits for unacked data up to flushMs: resolves when the acks come, or when the time is up', async () => {
    expect(DEFAULT_CLOSE_FLUSH_MS).toBe(2_000);
    const world = engineWorld();
    const [a, b, c] = await world.joined({ peerId: 'a-peer', p2p: false }, { peerId: 'b-peer', p2p: false }, { peerId: 'c-peer', p2p: false });
    const acks = world.hub.hold((x) => x.to === 'a-peer');
    await a.room.send('must arrive');
    const closing = track(a.core.close());
    await world.advance(DEFAULT_CLOSE_FLUSH_MS - 500);
    expect(closing.state).toBe('pending');
    acks.release();
    await world.until(() => closing.state === 'resolved', 'close to finish once acked', { stepMs: 20, maxFakeMs: 400 });
    expect(b.events.texts()).toEqual(['must arrive']);

    // Acks that never come hold close() for flushMs, no longer.
    world.hub.drop = (x) => x.to === 'b-peer' && x.kind === 'relayed';
    await b.room.send('never acked');
    const bounded = track(b.core.close());
    await world.advance(DEFAULT_CLOSE_FLUSH_MS - 1);
    expect(bounded.state).toBe('pending');
    await world.advance(1);
    await world.until(() => bounded.state === 'resolved', 'close to give up waiting');
    await c.core.close();
    expect(vi.getTimerCount()).toBe(0);
  });
});
