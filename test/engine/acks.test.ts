/**
 * Delivery a sender can trust: with E2EE, only authenticated ACKs count (a hub cannot claim a
 * delivery that never happened), and a receiver that refuses what it got says so end to end (NACK),
 * so the sender reports `delivery-refused` instead of resending into silence.
 */
import { describe, expect, it } from 'vitest';
import type { AgentCoreOptions } from '../../src/engine/agent-core.js';
import { concatBytes } from '../../src/engine/bytes.js';
import { E2eeSession, MemoryKnownPeers, deriveRoomKey, generateIdentity, type ScryptFunction } from '../../src/engine/crypto/index.js';
import { sha256 } from '../../src/engine/crypto/subtle.js';
import type { DeliveryRefused } from '../../src/engine/types.js';
import { ErrorCode } from '../../src/errors.js';
import { FrameKind } from '../../src/protocol/frames.js';
import { bundleOf, framesOf } from './support/frames.js';
import { ROOM, engineWorld, type TestAgent } from './support/world.js';

const tinyScrypt: ScryptFunction = async (password, salt, keyLength) => (await sha256(concatBytes([password, salt]))).slice(0, keyLength);

async function e2eeFor(secret?: string): Promise<NonNullable<AgentCoreOptions['e2ee']>> {
  const session = await E2eeSession.create(await generateIdentity());
  const roomKey = secret === undefined ? undefined : await deriveRoomKey(ROOM, secret, tinyScrypt);
  return { session, roomKey: async () => roomKey, knownPeers: new MemoryKnownPeers() };
}

function refusals(agent: TestAgent): DeliveryRefused[] {
  const got: DeliveryRefused[] = [];
  agent.core.on('delivery-refused', (r) => got.push(r));
  return got;
}

describe('acks and refusals', () => {
  it('with E2EE, acks travel sealed and a forged plain ACK from the hub counts for nothing', async () => {
    const [ea, eb] = [await e2eeFor('s3cret'), await e2eeFor('s3cret')];
    const world = engineWorld();
    const [a, b] = await world.joined({ peerId: 'a-peer', e2ee: ea, p2p: false }, { peerId: 'b-peer', e2ee: eb, p2p: false });
    await world.until(() => a.view(b)?.e2ee && b.view(a)?.e2ee, 'ciphers derived');

    // An honest round: b's ACK carries its seal and a believes it.
    await a.room.send('hello');
    await world.until(() => b.events.messages.length === 1, 'b to get it');
    await world.until(() => a.view(b)?.unackedBytes === 0, 'a to see the sealed ack', { stepMs: 10 });
    const acks = world.hub.deliveries.filter((d) => d.kind === 'relayed' && d.from === 'b-peer').flatMap(framesOf).filter((f) => f.kind === FrameKind.Ack);
    expect(acks.length).toBeGreaterThan(0);
    expect(acks.every((f) => f.kind === FrameKind.Ack && f.auth !== undefined && f.auth.length > 0)).toBe(true);

    // The hub swallows what a sends and forges b's acks for it.
    world.hub.drop = (d) => d.kind === 'relayed' && d.from === 'a-peer';
    await a.room.send('never arrives');
    const epochOfA = (framesOf(world.hub.deliveries.filter((d) => d.kind === 'relayed' && d.from === 'a-peer').at(-1)!)[0] as { epoch: number }).epoch;
    world.hub.inject({ kind: 'relayed', room: ROOM, to: 'a-peer', from: 'b-peer', payload: bundleOf({ kind: FrameKind.Ack, epoch: epochOfA, ack: 1_000 }) });
    // A forged ACK with junk for its seal does not count either.
    world.hub.inject({ kind: 'relayed', room: ROOM, to: 'a-peer', from: 'b-peer', payload: bundleOf({ kind: FrameKind.Ack, epoch: epochOfA, ack: 1_000, auth: new Uint8Array(45) }) });
    await world.advance(100);
    expect(a.view(b)!.unackedBytes).toBeGreaterThan(0);
    const flushed = a.room.flush(500);
    await world.advance(600);
    expect(await flushed).toBe(false);
    expect(b.events.texts()).toEqual(['hello']);
  });

  it('without E2EE there is nothing to authenticate: a plain ACK is believed (the hub is trusted)', async () => {
    const world = engineWorld();
    const [a, b] = await world.joined({ peerId: 'a-peer', p2p: false }, { peerId: 'b-peer', p2p: false });
    world.hub.drop = (d) => d.kind === 'relayed' && d.from === 'a-peer';
    await a.room.send('dropped by the hub');
    const epochOfA = (framesOf(world.hub.deliveries.filter((d) => d.kind === 'relayed' && d.from === 'a-peer').at(-1)!)[0] as { epoch: number }).epoch;
    world.hub.inject({ kind: 'relayed', room: ROOM, to: 'a-peer', from: 'b-peer', payload: bundleOf({ kind: FrameKind.Ack, epoch: epochOfA, ack: 1 }) });
    await world.until(() => a.view(b)?.unackedBytes === 0, 'the plain ack to count');
  });

  it('a receiver with another room secret refuses end to end: the sender gets delivery-refused once, and nothing is acked', async () => {
    const [ea, eb] = [await e2eeFor('secret A'), await e2eeFor('secret B')];
    const world = engineWorld();
    const [a, b] = await world.joined({ peerId: 'a-peer', e2ee: ea, p2p: false }, { peerId: 'b-peer', e2ee: eb, p2p: false });
    await world.until(() => a.view(b)?.e2ee && b.view(a)?.e2ee, 'ciphers derived');
    const refusedAtA = refusals(a);
    for (let i = 0; i < 5; i++) await a.room.send(`m${i}`);
    await world.until(() => refusedAtA.length > 0, 'a to hear the refusal', { stepMs: 50 });
    expect(refusedAtA[0]).toMatchObject({ room: ROOM, peerId: 'b-peer', code: ErrorCode.E2EE_ROOM_SECRET_MISMATCH });
    expect(refusedAtA[0]!.reason).toMatch(/b-peer uses a different room secret/);
    // Resends are refused again, but the news is told once.
    await world.advance(10_000);
    expect(refusedAtA).toHaveLength(1);
    expect(b.events.messages).toEqual([]);
    expect(a.view(b)!.unackedBytes).toBeGreaterThan(0);
    const nacks = world.hub.deliveries.filter((d) => d.kind === 'relayed' && d.from === 'b-peer').flatMap(framesOf).filter((f) => f.kind === FrameKind.Nack);
    expect(nacks.length).toBeGreaterThan(0);
  });
});
