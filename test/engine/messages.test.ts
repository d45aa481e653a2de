/**
 * What a message is: text, JSON and binary kinds in and out; unreliable messages (the unreliable
 * channel on P2P, not resent, not chunked); bad input refused with a clear error, and a peer's
 * invalid JSON or garbage frames reported without breaking anything.
 */
import { describe, expect, it } from 'vitest';
import { MAX_UNRELIABLE_PAYLOAD_BYTES } from '../../src/engine/constants.js';
import { ErrorCode } from '../../src/errors.js';
import { FrameFlag, FrameKind } from '../../src/protocol/frames.js';
import { bundleOf, forgeDataBundle, relayedFrames } from './support/frames.js';
import { ROOM, engineWorld, type EngineWorld, type TestAgent } from './support/world.js';

async function onP2P(world: EngineWorld, a: TestAgent, b: TestAgent): Promise<void> {
  await world.until(() => world.net.pairs.size > 0 && world.net.latest(a.peerId).answerer, 'the offer to reach the answerer');
  world.net.latest(a.peerId).open();
  await world.until(() => a.view(b)?.path === 'p2p' && b.view(a)?.path === 'p2p', 'both on P2P');
}

describe('message kinds', () => {
  it('text, JSON, Uint8Array and ArrayBuffer arrive as text, json and binary', async () => {
    const world = engineWorld();
    const [a, b] = await world.joined({ peerId: 'a-peer' }, { peerId: 'b-peer' });
    const value = { n: 1, list: ['x', null, true], nested: { é: 'ü' } };
    await a.room.send('plain text ✓');
    await a.room.send(value);
    await a.room.send(new Uint8Array([0, 1, 254, 255]));
    await a.room.send(new Uint8Array([9, 8, 7]).buffer);
    await a.room.send(42);
    await world.until(() => b.events.messages.length === 5, 'five messages');
    const [t, j, u8, ab, n] = b.events.messages;
    expect(t).toMatchObject({ kind: 'text', data: 'plain text ✓', text: 'plain text ✓', reliable: true, encrypted: false, from: 'a-peer', room: ROOM });
    expect(j).toMatchObject({ kind: 'json', data: value, text: JSON.stringify(value) });
    expect(u8?.kind).toBe('binary');
    expect([...(u8?.data as Uint8Array)]).toEqual([0, 1, 254, 255]);
    expect(u8?.text).toBeUndefined();
    expect([...(ab?.data as Uint8Array)]).toEqual([9, 8, 7]);
    expect(n).toMatchObject({ kind: 'json', data: 42 });
    // Ids are unique per sender and stable in form.
    expect(new Set(b.events.messages.map((m) => m.id)).size).toBe(5);
  });

  it('what cannot be sent is refused with RTC_ERR_BAD_REQUEST, and nothing goes out', async () => {
    const world = engineWorld();
    const [a, b] = await world.joined({ peerId: 'a-peer' }, { peerId: 'b-peer' });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const bad of [undefined, () => 1, Symbol('s'), 10n, cyclic]) {
      await expect(a.room.send(bad)).rejects.toMatchObject({ code: ErrorCode.BAD_REQUEST });
    }
    await expect(a.room.send('x', { to: 'nobody' })).rejects.toMatchObject({ code: ErrorCode.UNKNOWN_PEER });
    await a.room.send('only this');
    await world.until(() => b.events.messages.length === 1, 'the marker');
    expect(b.events.texts()).toEqual(['only this']);
  });

  it('invalid JSON from a peer is reported as RTC_ERR_PROTOCOL, not delivered, and the next message is', async () => {
    const world = engineWorld();
    const [, b] = await world.joined({ peerId: 'a-peer', p2p: false }, { peerId: 'b-peer', p2p: false });
    const enc = new TextEncoder();
    world.hub.inject({
      kind: 'relayed',
      room: ROOM,
      to: 'b-peer',
      from: 'a-peer',
      payload: forgeDataBundle(77, [
        { flags: FrameFlag.Json, seq: 1, payload: enc.encode('{"not": json') },
        { flags: FrameFlag.Json, seq: 2, payload: enc.encode('{"ok":true}') },
      ]),
    });
    await world.until(() => b.events.messages.length === 1, 'the valid message');
    expect(b.events.messages[0]).toMatchObject({ kind: 'json', data: { ok: true } });
    expect(b.events.errors.map((e) => [e.code, e.message])).toEqual([[ErrorCode.PROTOCOL, 'peer a-peer sent invalid JSON']]);
  });

  it('garbage frames and bundles are reported as RTC_ERR_PROTOCOL and change nothing', async () => {
    const world = engineWorld();
    const [a, b] = await world.joined({ peerId: 'a-peer', p2p: false }, { peerId: 'b-peer', p2p: false });
    const relay = (payload: Uint8Array) => world.hub.inject({ kind: 'relayed', room: ROOM, to: 'b-peer', from: 'a-peer', payload });
    relay(new Uint8Array([0, 0, 0, 9, 1])); // bundle entry overruns the bundle
    relay(new Uint8Array([0, 0, 0, 2, 0x99, 0])); // frame version 9
    relay(new Uint8Array([0, 0, 0, 3, 0x11, 0, 0])); // DATA shorter than its header
    relay(bundleOf({ kind: FrameKind.Ack, epoch: 1, ack: 99 })); // an ack for a sequence b never used
    await a.room.send('still fine');
    await world.until(() => b.events.messages.length === 1, 'the real message');
    expect(b.events.texts()).toEqual(['still fine']);
    expect(b.events.errorCodes()).toEqual([ErrorCode.PROTOCOL, ErrorCode.PROTOCOL, ErrorCode.PROTOCOL]);
    expect(b.events.errors[0]?.message).toMatch(/overruns the bundle/);
    expect(b.events.errors[1]?.message).toMatch(/version 9/);
  });
});

describe('unreliable messages', () => {
  it('go once, unchunked: relayed on the relay, on the unreliable channel on P2P, never resent', async () => {
    const world = engineWorld();
    const [a, b] = await world.joined({ peerId: 'a-peer' }, { peerId: 'b-peer' });
    await a.room.send({ pos: [1, 2] }, { reliable: false });
    await world.until(() => b.events.messages.length === 1, 'the relayed unreliable message');
    expect(b.events.messages[0]).toMatchObject({ kind: 'json', data: { pos: [1, 2] }, reliable: false, path: 'relay' });
    expect(b.events.messages[0]?.id).toMatch(/^u-/);

    await onP2P(world, a, b);
    const link = world.net.latest('a-peer').side('a-peer');
    await a.room.send('telemetry', { reliable: false });
    await world.until(() => b.events.messages.length === 2, 'the P2P unreliable message');
    expect(b.events.messages[1]).toMatchObject({ text: 'telemetry', reliable: false, path: 'p2p' });
    const unreliableFrames = link.sent.filter((s) => s.channel === 'unreliable' && s.data[0] === 0x12);
    expect(unreliableFrames.length).toBe(1);

    // Lost on the way: nothing sends it again, not the resend timer, not a path switch.
    world.net.latest('a-peer').dropFrom.add('a-peer');
    await a.room.send('lost', { reliable: false });
    await world.advance(10_000);
    world.net.latest('a-peer').fail('ice failed');
    await world.until(() => a.view(b)?.path === 'relay', 'a back on the relay');
    await a.room.send('after', { reliable: false });
    await world.until(() => b.events.messages.length === 3, 'the next unreliable message');
    expect(b.events.texts()).toEqual(['{"pos":[1,2]}', 'telemetry', 'after']);
    expect(relayedFrames(world.hub.deliveries, 'a-peer', 'b-peer', FrameKind.Unreliable).length).toBe(2);
  });

  it('the reliable setting is the default; a payload over the unreliable limit is refused', async () => {
    const world = engineWorld();
    const [a, b] = await world.joined({ peerId: 'a-peer', settings: { reliable: false } }, { peerId: 'b-peer' });
    await a.room.send('by default unreliable');
    await world.until(() => b.events.messages.length === 1, 'the message');
    expect(b.events.messages[0]?.reliable).toBe(false);
    await expect(a.room.send(new Uint8Array(MAX_UNRELIABLE_PAYLOAD_BYTES + 1))).rejects.toMatchObject({ code: ErrorCode.MESSAGE_TOO_LARGE });
    await a.room.send(new Uint8Array(MAX_UNRELIABLE_PAYLOAD_BYTES));
    await a.room.send('reliable on request', { reliable: true });
    await world.until(() => b.events.messages.length === 3, 'the largest unreliable one and the reliable one');
    expect(b.events.messages[1]?.reliable).toBe(false);
    expect(b.events.messages[2]).toMatchObject({ text: 'reliable on request', reliable: true });
  });
});
