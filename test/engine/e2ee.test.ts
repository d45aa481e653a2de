/**
 * End-to-end encryption through the whole engine, with the engine's real crypto (WebCrypto in
 * Node and in Chromium): payloads sealed both ways on both paths, in order under a burst; a peer
 * without E2EE gets nothing and its plaintext is dropped; a wrong room secret and tampered frames
 * are refused with their codes and deliver nothing (and do not advance the sequence); a changed
 * identity is reported.
 */
import { describe, expect, it } from 'vitest';
import type { AgentCoreOptions } from '../../src/engine/agent-core.js';
import { E2eeSession, MemoryKnownPeers, deriveRoomKey, generateIdentity, type ScryptFunction } from '../../src/engine/crypto/index.js';
import { concatBytes } from '../../src/engine/bytes.js';
import { sha256 } from '../../src/engine/crypto/subtle.js';
import { DEFAULT_RELAY_RESEND_MS } from '../../src/engine/constants.js';
import { ErrorCode } from '../../src/errors.js';
import { FrameFlag, FrameKind, type DataFrame } from '../../src/protocol/frames.js';
import { forgeDataBundle, framesOf, relayedFrames } from './support/frames.js';
import { ROOM, engineWorld, type EngineWorld, type TestAgent } from './support/world.js';

/**
 * A stand-in for scrypt (room-key.ts takes it injected): one SHA-256, so a test derives room keys
 * in microseconds. Different secrets still give different keys, which is all these tests need.
 */
const tinyScrypt: ScryptFunction = async (password, salt, keyLength) => (await sha256(concatBytes([password, salt]))).slice(0, keyLength);

async function e2eeFor(options: { secret?: string; knownPeers?: MemoryKnownPeers } = {}): Promise<NonNullable<AgentCoreOptions['e2ee']>> {
  const session = await E2eeSession.create(await generateIdentity());
  const roomKey = options.secret === undefined ? undefined : await deriveRoomKey(ROOM, options.secret, tinyScrypt);
  return { session, roomKey: async () => roomKey, knownPeers: options.knownPeers ?? new MemoryKnownPeers() };
}

const utf8 = (s: string) => new TextEncoder().encode(s);

/** Whether `needle` occurs anywhere in `hay`. */
function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

async function ready(world: EngineWorld, a: TestAgent, b: TestAgent): Promise<void> {
  await world.until(() => a.view(b)?.e2ee && b.view(a)?.e2ee, 'both pairwise ciphers derived');
}

describe('E2EE in the engine', () => {
  it('payloads are sealed both ways, on the relay and on P2P, and a burst arrives in order', async () => {
    const [ea, eb] = [await e2eeFor({ secret: 'correct horse' }), await e2eeFor({ secret: 'correct horse' })];
    const world = engineWorld();
    const [a, b] = await world.joined({ peerId: 'a-peer', e2ee: ea }, { peerId: 'b-peer', e2ee: eb });
    expect(a.core.fingerprint).toBe(ea.session.fingerprint);

    await a.room.send('relay secret');
    await world.until(() => b.events.messages.length === 1, 'b to open a’s message');
    expect(b.events.messages[0]).toMatchObject({ text: 'relay secret', encrypted: true, path: 'relay' });
    await b.room.send({ reply: 'json secret' });
    await world.until(() => a.events.messages.length === 1, 'a to open b’s reply');
    expect(a.events.messages[0]).toMatchObject({ kind: 'json', data: { reply: 'json secret' }, encrypted: true });
    expect(a.view(b)).toMatchObject({ e2ee: true, fingerprint: eb.session.fingerprint });
    expect(b.view(a)).toMatchObject({ e2ee: true, fingerprint: ea.session.fingerprint });
    // What the hub carried: sealed DATA frames, no plaintext anywhere.
    const relayed = world.hub.deliveries.filter((d) => d.kind === 'relayed');
    expect(relayed.some((d) => contains(d.payload, utf8('relay secret')) || contains(d.payload, utf8('json secret')))).toBe(false);
    const data = relayedFrames(world.hub.deliveries, 'a-peer', 'b-peer', FrameKind.Data) as DataFrame[];
    expect(data.length).toBeGreaterThan(0);
    expect(data.every((f) => (f.flags & FrameFlag.Encrypted) !== 0)).toBe(true);

    await world.until(() => world.net.pairs.size > 0 && world.net.latest('a-peer').answerer, 'the offer to reach b');
    world.net.latest('a-peer').open();
    await world.until(() => a.view(b)?.path === 'p2p' && b.view(a)?.path === 'p2p', 'both on P2P');
    // A burst without waiting: async seals and opens must keep the order.
    const burst = Array.from({ length: 20 }, (_, i) => `p2p secret ${i}`);
    for (const m of burst) void a.room.send(m);
    await a.room.send('unreliable secret', { reliable: false });
    await world.until(() => b.events.messages.length === 22, 'the burst and the unreliable one');
    const got = b.events.messages.slice(1);
    expect(got.filter((m) => m.reliable).map((m) => m.text)).toEqual(burst);
    expect(got.every((m) => m.encrypted && m.path === 'p2p')).toBe(true);
    expect(got.find((m) => !m.reliable)?.text).toBe('unreliable secret');
    const wire = world.net.latest('a-peer').side('a-peer').sent;
    expect(wire.some((s) => contains(s.data, utf8('p2p secret')) || contains(s.data, utf8('unreliable secret')))).toBe(false);
    expect(a.events.errors).toEqual([]);
    expect(b.events.errors).toEqual([]);
  });

  it('a peer without E2EE gets nothing, and its plaintext is dropped with RTC_ERR_E2EE_PLAINTEXT', async () => {
    const ea = await e2eeFor();
    const world = engineWorld();
    const [a, c] = await world.joined({ peerId: 'a-e2ee', e2ee: ea, p2p: false }, { peerId: 'c-plain', p2p: false });
    await a.room.send('only for e2ee peers');
    await a.room.send('again');
    await expect(a.room.send('direct', { to: 'c-plain' })).rejects.toMatchObject({ code: ErrorCode.E2EE_PLAINTEXT });
    // c refuses to send a an unsealed message it would drop anyway.
    await c.room.send('plain broadcast');
    await expect(c.room.send('plain direct', { to: 'a-e2ee' })).rejects.toMatchObject({ code: ErrorCode.E2EE_PLAINTEXT });
    expect(relayedFrames(world.hub.deliveries, 'c-plain', 'a-e2ee', FrameKind.Data)).toEqual([]);
    // A peer that sends plaintext anyway (hand-made frames): dropped, reported once.
    const plain = (seq: number, s: string) =>
      world.hub.inject({ kind: 'relayed', room: ROOM, to: 'a-e2ee', from: 'c-plain', payload: forgeDataBundle(7, [{ flags: FrameFlag.Text, seq, payload: utf8(s) }]) });
    plain(1, 'forged plaintext');
    plain(2, 'more forged plaintext');
    await world.until(() => a.events.errors.length === 2, 'a’s two reports');
    await world.advance(10_000);
    expect(a.events.messages).toEqual([]);
    expect(c.events.messages).toEqual([]);
    expect(a.events.errors.map((e) => e.code)).toEqual([ErrorCode.E2EE_PLAINTEXT, ErrorCode.E2EE_PLAINTEXT]);
    expect(a.events.errors[0]?.message).toMatch(/nothing is sent to it/);
    expect(a.events.errors[1]?.message).toMatch(/dropped unencrypted messages from c-plain/);
    expect(c.events.errorCodes()).toEqual([ErrorCode.E2EE_PLAINTEXT]);
    expect(relayedFrames(world.hub.deliveries, 'a-e2ee', 'c-plain', FrameKind.Data)).toEqual([]);
    expect(a.view('c-plain')?.e2ee).toBe(false);
  });

  it('a wrong room secret is refused with RTC_ERR_E2EE_ROOM_SECRET_MISMATCH and nothing is delivered', async () => {
    const [ea, eb] = [await e2eeFor({ secret: 'the right one' }), await e2eeFor({ secret: 'a wrong one' })];
    const world = engineWorld();
    const [a, b] = await world.joined({ peerId: 'a-peer', e2ee: ea, p2p: false }, { peerId: 'b-peer', e2ee: eb, p2p: false });
    await ready(world, a, b);
    await a.room.send('for the right room only');
    await b.room.send('wrong room');
    await world.until(() => a.events.errors.length > 0 && b.events.errors.length > 0, 'both sides to refuse');
    await world.advance(3 * DEFAULT_RELAY_RESEND_MS); // resends are refused too
    await world.until(() => b.events.errors.length >= 2, 'the resends refused');
    expect(a.events.messages).toEqual([]);
    expect(b.events.messages).toEqual([]);
    expect(new Set([...a.events.errorCodes(), ...b.events.errorCodes()])).toEqual(new Set([ErrorCode.E2EE_ROOM_SECRET_MISMATCH]));
    expect(b.events.errors[0]?.message).toMatch(/^from a-peer: /);
  });

  it('a tampered frame is refused with RTC_ERR_E2EE_FORGED, does not advance the sequence, and the intact resend is delivered once', async () => {
    const [ea, eb] = [await e2eeFor(), await e2eeFor()];
    const world = engineWorld();
    const [a, b] = await world.joined({ peerId: 'a-peer', e2ee: ea, p2p: false }, { peerId: 'b-peer', e2ee: eb, p2p: false });
    await ready(world, a, b);
    let tampered = 0;
    world.hub.tamper = (d) => {
      if (d.kind !== 'relayed' || d.from !== 'a-peer' || tampered > 0 || framesOf(d).at(-1)?.kind !== FrameKind.Data) return d;
      tampered++;
      const payload = d.payload.slice();
      payload[payload.length - 1] ^= 0x01; // the last byte of the GCM tag
      return { ...d, payload };
    };
    await a.room.send('integrity matters');
    await world.until(() => b.events.errors.length === 1, 'b to refuse the tampered frame');
    expect(b.events.errors[0]?.code).toBe(ErrorCode.E2EE_FORGED);
    expect(b.events.messages).toEqual([]);
    await world.until(() => b.events.messages.length === 1, 'the intact resend', { stepMs: 250, maxFakeMs: DEFAULT_RELAY_RESEND_MS + 500 });
    await world.advance(3 * DEFAULT_RELAY_RESEND_MS);
    await a.room.send('and the next');
    await world.until(() => b.events.messages.length === 2, 'the next message');
    expect(b.events.texts()).toEqual(['integrity matters', 'and the next']);
    expect(tampered).toBe(1);
  });

  it('a restarted peer (new instance, new session key) gets a fresh pairwise cipher and sealed traffic goes on', async () => {
    const identity = await generateIdentity(); // the restarted process loads the same identity
    const [ea, eb1, eb2] = [await e2eeFor(), { ...(await e2eeFor()), session: await E2eeSession.create(identity) }, { ...(await e2eeFor()), session: await E2eeSession.create(identity) }];
    const world = engineWorld();
    const [a, b1] = await world.joined({ peerId: 'a-peer', e2ee: ea, p2p: false }, { peerId: 'b-peer', e2ee: eb1, p2p: false, instance: 'one' });
    await a.room.send('to the first process');
    await world.until(() => b1.events.messages.length === 1, 'the first message');
    const b2 = world.agent({ peerId: 'b-peer', e2ee: eb2, p2p: false, instance: 'two' });
    await b2.join();
    await world.until(() => a.events.joined.some((p) => p.reason === 'restarted'), 'a to see the restart');
    await a.room.send('to the second process');
    await b2.room.send('from the second process');
    await world.until(() => b2.events.messages.length === 1 && a.events.messages.length === 1, 'sealed messages both ways');
    expect(b2.events.messages[0]).toMatchObject({ text: 'to the second process', encrypted: true });
    expect(a.events.messages[0]).toMatchObject({ text: 'from the second process', encrypted: true });
    expect(a.view('b-peer')?.fingerprint).toBe(identity.fingerprint);
    expect([...a.events.errors, ...b2.events.errors]).toEqual([]);
  });

  it('a known peer with a different identity key is reported as RTC_ERR_IDENTITY_CHANGED', async () => {
    const known = new MemoryKnownPeers();
    await known.remember('name:b-peer', (await E2eeSession.create(await generateIdentity())).fingerprint);
    const [ea, eb] = [await e2eeFor({ knownPeers: known }), await e2eeFor()];
    const world = engineWorld();
    const [a, b] = await world.joined({ peerId: 'a-peer', e2ee: ea, p2p: false }, { peerId: 'b-peer', e2ee: eb, p2p: false });
    await ready(world, a, b);
    await world.until(() => a.events.errors.length === 1, 'the identity warning');
    expect(a.events.errors[0]).toMatchObject({ code: ErrorCode.IDENTITY_CHANGED, details: { identity: 'name:b-peer', seen: eb.session.fingerprint } });
    // Reported, not blocked (names are not authenticated without auth).
    await b.room.send('still delivered');
    await world.until(() => a.events.messages.length === 1, 'the message');
  });
});
