/**
 * The data path follows the P2P state machine: relay first, P2P when the link opens, relay again
 * when it fails, P2P again after the retry; `none` (and waiting sends) when the relay is not allowed.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { engineWorld, track } from './support/world.js';

describe('path switches', () => {
  it('relay first, p2p when the link opens, relay when it fails, p2p again after the retry', async () => {
    const world = engineWorld();
    const [a, b] = await world.joined({ peerId: 'a-peer' }, { peerId: 'b-peer' });
    // Starting on the relay is how every peer begins: no path-changed for it.
    expect(a.view(b)?.path).toBe('relay');
    expect(a.events.joined[0]?.path).toBe('relay');
    expect(a.events.paths).toEqual([]);

    await a.room.send('over the relay');
    await world.until(() => b.events.messages.length === 1, 'the relayed message');
    expect(b.events.messages[0]).toMatchObject({ text: 'over the relay', path: 'relay', from: 'a-peer' });

    await world.until(() => world.net.pairs.size === 1 && world.net.latest('a-peer').answerer, 'the offer to reach b');
    world.net.latest('a-peer').open();
    await world.until(() => a.events.paths.length === 1 && b.events.paths.length === 1, 'path-changed on both sides');
    expect(a.events.paths[0]).toMatchObject({ peerId: 'b-peer', from: 'relay', to: 'p2p', reason: 'p2p link opened' });
    expect(b.events.paths[0]).toMatchObject({ peerId: 'a-peer', from: 'relay', to: 'p2p', reason: 'p2p link opened' });
    expect(a.view(b)).toMatchObject({ path: 'p2p', p2p: 'open', candidates: { local: 'host', remote: 'host' } });

    await a.room.send('over p2p');
    await world.until(() => b.events.messages.length === 2, 'the P2P message');
    expect(b.events.messages[1]).toMatchObject({ text: 'over p2p', path: 'p2p' });
    expect(world.net.latest('a-peer').side('a-peer').sent.some((s) => s.channel === 'reliable')).toBe(true);

    world.net.latest('a-peer').fail('ice failed');
    await world.until(() => a.events.paths.length === 2 && b.events.paths.length === 2, 'the fall back to relay on both sides');
    expect(a.events.paths[1]).toMatchObject({ from: 'p2p', to: 'relay', reason: 'p2p link failed: ice failed' });
    expect(b.events.paths[1]).toMatchObject({ from: 'p2p', to: 'relay', reason: 'p2p link failed: ice failed' });
    expect(a.view(b)?.p2pFailures).toBe(1);

    await a.room.send('relay again');
    await world.until(() => b.events.messages.length === 3, 'the message after the failure');
    expect(b.events.messages[2]).toMatchObject({ text: 'relay again', path: 'relay' });

    // The answerer saw an open link fail and asked for a new one: the offerer offers again.
    await world.until(() => world.net.pairs.size === 2 && world.net.latest('a-peer').answerer, 'a second negotiation', { stepMs: 250, maxFakeMs: 5_000 });
    world.net.latest('a-peer').open();
    await world.until(() => a.view(b)?.path === 'p2p' && b.view(a)?.path === 'p2p', 'both on P2P again');
    expect(a.events.paths[2]).toMatchObject({ from: 'relay', to: 'p2p', reason: 'p2p link opened' });
    await a.room.send('p2p again');
    await world.until(() => b.events.messages.length === 4, 'the message on the new link');
    expect(b.events.texts()).toEqual(['over the relay', 'over p2p', 'relay again', 'p2p again']);
    expect(b.events.messages[3]?.path).toBe('p2p');
  });

  it('a peer that cannot do P2P stays on the relay, and nothing is negotiated', async () => {
    const world = engineWorld();
    const [a, b] = await world.joined({ peerId: 'a-native' }, { peerId: 'b-relay-only', p2p: false });
    await world.advance(20_000);
    expect(world.net.pairs.size).toBe(0);
    expect(a.view(b)).toMatchObject({ path: 'relay', p2p: 'none', native: false });
    expect(b.view(a)).toMatchObject({ path: 'relay', native: true });
    await b.room.send('hello');
    await world.until(() => a.events.messages.length === 1, 'the relayed message');
    expect(a.events.messages[0]?.path).toBe('relay');
  });

  it('allowRelay false: path none, a send waits for the link and goes on P2P when it opens', async () => {
    const world = engineWorld();
    const [a, b] = await world.joined({ peerId: 'a-strict', settings: { allowRelay: false } }, { peerId: 'b-peer' });
    expect(a.view(b)?.path).toBe('none');
    const sent = track(a.room.send('waited for p2p'));
    await world.advance(5_000);
    expect(sent.state).toBe('pending');
    expect(world.hub.deliveries.filter((d) => d.kind === 'relayed' && d.from === 'a-strict')).toEqual([]);
    await world.until(() => world.net.latest('a-strict').answerer, 'the offer to reach b');
    world.net.latest('a-strict').open();
    await world.until(() => sent.state !== 'pending', 'the send to be accepted');
    expect(sent.state).toBe('resolved');
    await world.until(() => b.events.messages.length === 1, 'the message over P2P');
    expect(b.events.messages[0]).toMatchObject({ text: 'waited for p2p', path: 'p2p' });
    expect(a.events.paths[0]).toMatchObject({ from: 'none', to: 'p2p' });
    // Still nothing of a's data on the hub.
    expect(world.hub.deliveries.filter((d) => d.kind === 'relayed' && d.from === 'a-strict')).toEqual([]);
  });

  it('allowRelay false and no P2P: a send fails with RTC_ERR_SEND_TIMEOUT after sendTimeoutMs', async () => {
    const world = engineWorld();
    const [a, b] = await world.joined({ peerId: 'a-strict', settings: { allowRelay: false, sendTimeoutMs: 8_000 } }, { peerId: 'b-no-p2p', p2p: false });
    expect(a.view(b)?.path).toBe('none');
    const sent = track(a.room.send('nowhere to go'));
    await world.advance(7_999);
    expect(sent.state).toBe('pending');
    await world.advance(1);
    expect(sent.state).toBe('rejected');
    expect(sent.error).toMatchObject({ code: ErrorCode.SEND_TIMEOUT });
    expect(sent.error?.message).toMatch(/relay is disabled/);
    expect(b.events.messages).toEqual([]);
  });
});
