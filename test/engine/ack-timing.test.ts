/**
 * When a receiver sends ACK frames (engine/peer-inbound.ts): a request/response exchange needs
 * none (the reply's piggybacked ack says it), a delayed ACK waits its full delay from the oldest
 * frame it answers even when an older timer is still running, and a duplicate — the sign that an
 * ack was lost — is acked again. Over the relay on the fake hub, so every frame is on record.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_ACK_DELAY_MS } from '../../src/engine/constants.js';
import { FrameKind, type DataFrame } from '../../src/protocol/frames.js';
import { bundleOf, relayedFrames } from './support/frames.js';
import { ROOM, engineWorld } from './support/world.js';

describe('ack timing', () => {
  it('a request/response exchange costs the responder no ACK frame', async () => {
    const world = engineWorld();
    const [a, b] = await world.joined({ peerId: 'a-peer', p2p: false }, { peerId: 'b-peer', p2p: false });
    b.core.on('message', (m) => void b.room.send(`re: ${m.text}`, { to: m.from }));
    for (let i = 0; i < 5; i++) {
      await a.room.send(`q${i}`, { to: 'b-peer' });
      await world.until(() => a.events.messages.length === i + 1, `answer ${i}`);
    }
    await world.advance(5 * DEFAULT_ACK_DELAY_MS);
    expect(a.events.texts()).toEqual(['re: q0', 're: q1', 're: q2', 're: q3', 're: q4']);
    // Every question was acked by its answer; a, which got the last word, acks that once.
    expect(relayedFrames(world.hub.deliveries, 'b-peer', 'a-peer', FrameKind.Ack)).toHaveLength(0);
    expect(relayedFrames(world.hub.deliveries, 'a-peer', 'b-peer', FrameKind.Ack)).toHaveLength(1);
  });

  it('a frame that arrives while an older ack timer runs still gets the full delay', async () => {
    const world = engineWorld();
    const [a, b] = await world.joined({ peerId: 'a-peer', p2p: false }, { peerId: 'b-peer', p2p: false });
    const acksFromB = (): number => relayedFrames(world.hub.deliveries, 'b-peer', 'a-peer', FrameKind.Ack).length;
    // b's timer starts with the first question; its answer settles that debt.
    await a.room.send('first', { to: 'b-peer' });
    await world.until(() => b.events.messages.length === 1, 'first question');
    await b.room.send('answer', { to: 'a-peer' });
    await world.advance(DEFAULT_ACK_DELAY_MS - 5);
    // A new debt, 5 ms before the old timer fires: its ACK is due a full delay from now.
    await a.room.send('second', { to: 'b-peer' });
    await world.until(() => b.events.messages.length === 2, 'second question');
    await world.advance(DEFAULT_ACK_DELAY_MS - 2);
    expect(acksFromB()).toBe(0);
    await world.advance(3);
    expect(acksFromB()).toBe(1);
    const ack = relayedFrames(world.hub.deliveries, 'b-peer', 'a-peer', FrameKind.Ack)[0];
    expect(ack).toMatchObject({ kind: FrameKind.Ack, ack: 2 });
  });

  it('a duplicate after a piggybacked ack is acked again (the sender lost that ack)', async () => {
    const world = engineWorld();
    const [a, b] = await world.joined({ peerId: 'a-peer', p2p: false }, { peerId: 'b-peer', p2p: false });
    await a.room.send('once', { to: 'b-peer' });
    await world.until(() => b.events.messages.length === 1, 'the message');
    await b.room.send('reply', { to: 'a-peer' }); // acks it by piggyback
    await world.advance(2 * DEFAULT_ACK_DELAY_MS);
    expect(relayedFrames(world.hub.deliveries, 'b-peer', 'a-peer', FrameKind.Ack)).toHaveLength(0);
    const original = relayedFrames(world.hub.deliveries, 'a-peer', 'b-peer', FrameKind.Data)[0] as DataFrame;
    world.hub.inject({ kind: 'relayed', room: ROOM, to: 'b-peer', from: 'a-peer', payload: bundleOf(original) });
    await world.until(() => relayedFrames(world.hub.deliveries, 'b-peer', 'a-peer', FrameKind.Ack).length === 1, 'b to ack the duplicate', { stepMs: 5 });
    expect(relayedFrames(world.hub.deliveries, 'b-peer', 'a-peer', FrameKind.Ack)[0]).toMatchObject({ epoch: original.epoch, ack: original.seq });
    expect(b.events.texts()).toEqual(['once']);
  });
});
