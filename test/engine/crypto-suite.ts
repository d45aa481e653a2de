/**
 * The engine's E2EE behaviour (src/engine/crypto), as one suite run once per AEAD: with
 * webCryptoAead by test/engine/crypto.test.ts (asynchronous: seals and opens return promises) and
 * with Node's nodeAead by test/node/crypto-node.test.ts (synchronous: they return bytes). Everything
 * the pre-engine test/unit/crypto.test.ts and web-e2ee.test.ts checked: round trips through real
 * frames, every rejection with its own error code (tampering, wrong room secret, key-swapping hub,
 * replay, wrong recipient, plaintext downgrade), nonce uniqueness, pairwise-key properties.
 *
 * Platform-neutral on purpose (no Buffer, no node: imports): it will also run inside Chromium.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { bytesEqual, toBase64, toHex } from '../../src/engine/bytes.js';
import {
  DATA_SEAL_OVERHEAD_BYTES,
  E2eeSession,
  ReplayWindow,
  UNRELIABLE_SEAL_OVERHEAD_BYTES,
  derivePairKeys,
  deriveRoomKey,
  fingerprint,
  fingerprintsEqual,
  generateIdentity,
  generateKeyPair,
  nonceFor,
  parsePublicKey,
  peerE2eeKeys,
  type Aead,
  type KnownPeers,
  type MaybePromise,
  type PeerCipher,
  type RoomKey,
  type ScryptFunction,
} from '../../src/engine/crypto/index.js';
import { sha256 } from '../../src/engine/crypto/subtle.js';
import { ErrorCode, RtcAgentError } from '../../src/errors.js';
import { DATA_HEADER_BYTES, FrameFlag, FrameKind, decodeFrame, encodeFrame, writeDataHeader, type DataFrame, type UnreliableFrame } from '../../src/protocol/frames.js';

const ROOM = 'lobby';
const enc = new TextEncoder();
const dec = new TextDecoder();

/** Low-order (or equivalent, e.g. p, p ± 1, with the ignored top bit set) X25519 points, little-endian. */
export const LOW_ORDER_POINTS_HEX = [
  '00'.repeat(32),
  `01${'00'.repeat(31)}`,
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  `ec${'ff'.repeat(30)}7f`,
  `ed${'ff'.repeat(30)}7f`,
  `ee${'ff'.repeat(30)}7f`,
  `${'00'.repeat(31)}80`,
  `01${'00'.repeat(30)}80`,
];

export function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** The error code of whatever `fn` does: a sync throw or a rejection; `returned …` when it succeeds. */
export async function codeOf(fn: () => MaybePromise<unknown>): Promise<string> {
  try {
    const out = await fn();
    return `returned ${out instanceof Uint8Array ? `${out.length} bytes` : JSON.stringify(out)}`;
  } catch (err) {
    if (err instanceof RtcAgentError) return err.code;
    throw err;
  }
}

interface Agent {
  id: string;
  e2ee: E2eeSession;
}

/** The behaviour suite for one AEAD; `scrypt` is the platform's, for room keys. */
export function e2eeSuite(aead: Aead, scrypt: ScryptFunction): void {
  async function agent(id: string): Promise<Agent> {
    return { id, e2ee: await E2eeSession.create(await generateIdentity(), { aead }) };
  }

  /** The cipher `self` uses for `peer`, as if `peer`'s capabilities came through the hub. */
  function cipher(self: Agent, peer: Agent, roomKey?: RoomKey, caps: unknown = peer.e2ee.capabilities()): Promise<PeerCipher> {
    return self.e2ee.cipherFor({ room: ROOM, roomKey, selfId: self.id, peerId: peer.id, peerKeys: peerE2eeKeys(caps)! });
  }

  let epochCounter = 1000;
  /** A sealed DATA frame on the wire, as the reliable layer would send it. */
  async function dataFrame(from: PeerCipher, text: string, seq = 1, epoch = ++epochCounter): Promise<Uint8Array> {
    const header = { flags: FrameFlag.Text | FrameFlag.Encrypted, epoch, seq, timestamp: 1_700_000_000_000 };
    const payload = await from.sealData(header, enc.encode(text));
    return encodeFrame({ kind: FrameKind.Data, ack: 0, ...header, payload });
  }
  async function unreliableFrame(from: PeerCipher, text: string, epoch = 7): Promise<Uint8Array> {
    const header = { flags: FrameFlag.Encrypted, epoch, timestamp: 1_700_000_000_000 };
    return encodeFrame({ kind: FrameKind.Unreliable, ...header, payload: await from.sealUnreliable(header, enc.encode(text)) });
  }
  async function openData(to: PeerCipher, wire: Uint8Array): Promise<string> {
    return dec.decode(await to.openData(decodeFrame(wire) as DataFrame));
  }
  async function openUnreliable(to: PeerCipher, wire: Uint8Array): Promise<string> {
    return dec.decode(await to.openUnreliable(decodeFrame(wire) as UnreliableFrame));
  }

  let secretKey: RoomKey;
  let otherSecretKey: RoomKey;
  beforeAll(async () => {
    [secretKey, otherSecretKey] = await Promise.all([deriveRoomKey(ROOM, 'correct horse battery staple', scrypt), deriveRoomKey(ROOM, 'another secret', scrypt)]);
  });

  describe(`E2EE with ${aead.name}: round trip`, () => {
    it('seals and opens DATA and UNRELIABLE frames both ways, with and without a room secret', async () => {
      for (const rk of [undefined, secretKey]) {
        const a = await agent('peer-a');
        const b = await agent('peer-b');
        const ab = await cipher(a, b, rk);
        const ba = await cipher(b, a, rk);
        expect(await openData(ba, await dataFrame(ab, 'hello b'))).toBe('hello b');
        expect(await openData(ab, await dataFrame(ba, 'hello a'))).toBe('hello a');
        expect(await openUnreliable(ba, await unreliableFrame(ab, 'pos 1'))).toBe('pos 1');
        expect(await openUnreliable(ab, await unreliableFrame(ba, 'pos 2'))).toBe('pos 2');
        // empty and large payloads
        const big = new Uint8Array(64 * 1024).map((_, i) => i & 0xff);
        const h = { flags: FrameFlag.Encrypted, epoch: 9, seq: 1, timestamp: 0 };
        expect(bytesEqual(await ba.openData({ ...h, payload: await ab.sealData(h, big) }), big)).toBe(true);
        const h2 = { ...h, seq: 2 };
        expect((await ba.openData({ ...h2, payload: await ab.sealData(h2, new Uint8Array(0)) })).length).toBe(0);
      }
    });

    it('sealDataFrame seals into a whole DATA frame: room for the header, then a payload openData opens', async () => {
      const a = await agent('peer-a');
      const b = await agent('peer-b');
      const [ab, ba] = [await cipher(a, b), await cipher(b, a)];
      const h = { flags: FrameFlag.Encrypted | FrameFlag.Text, epoch: 77, seq: 5, timestamp: 1_733_000_000_123 };
      const plain = new TextEncoder().encode('straight into the frame');
      const frame = await ab.sealDataFrame(h, plain);
      expect(Array.from(frame.subarray(0, DATA_HEADER_BYTES))).toEqual(new Array(DATA_HEADER_BYTES).fill(0));
      expect(frame.length).toBe(DATA_HEADER_BYTES + plain.length + DATA_SEAL_OVERHEAD_BYTES);
      writeDataHeader(frame, { ...h, ack: 3 });
      const decoded = decodeFrame(frame) as DataFrame;
      expect(decoded).toMatchObject({ kind: FrameKind.Data, ...h, ack: 3 });
      expect(new TextDecoder().decode(await ba.openData(decoded))).toBe('straight into the frame');
      // One nonce space for both calls: the seq it used cannot be sealed again.
      expect(() => ab.sealData(h, plain)).toThrow(expect.objectContaining({ code: ErrorCode.INTERNAL }));
    });

    it('adds exactly the documented overhead', async () => {
      const ab = await cipher(await agent('a'), await agent('b'));
      expect((await ab.sealData({ flags: FrameFlag.Encrypted, epoch: 1, seq: 1, timestamp: 0 }, new Uint8Array(100))).length).toBe(100 + DATA_SEAL_OVERHEAD_BYTES);
      expect((await ab.sealUnreliable({ flags: FrameFlag.Encrypted, epoch: 1, timestamp: 0 }, new Uint8Array(100))).length).toBe(100 + UNRELIABLE_SEAL_OVERHEAD_BYTES);
      expect(DATA_SEAL_OVERHEAD_BYTES).toBe(29);
      expect(UNRELIABLE_SEAL_OVERHEAD_BYTES).toBe(37);
    });

    it('returns the same cipher for the same peer keys (even while deriving), a new one after the peer restarts', async () => {
      const a = await agent('a');
      const b = await agent('b');
      const [first, concurrent] = await Promise.all([cipher(a, b), cipher(a, b)]);
      expect(concurrent).toBe(first);
      expect(await cipher(a, b)).toBe(first);
      // Another derivation of the same room secret is the same key: the same cipher, the same guards.
      const again = await deriveRoomKey(ROOM, 'correct horse battery staple', scrypt);
      expect(again).not.toBe(secretKey);
      expect(await cipher(a, b, again)).toBe(await cipher(a, b, secretKey));
      const bRestarted: Agent = { id: 'b', e2ee: await E2eeSession.create(b.e2ee.identity, { aead }) };
      const fresh = await cipher(a, bRestarted);
      expect(fresh).not.toBe(first);
      // Same identity, so the same fingerprint across restarts ...
      expect(fresh.peerFingerprint).toBe(first.peerFingerprint);
      // ... but fresh keys: a frame of the old session does not open in the new one (no cross-session replay).
      const old = await dataFrame(await cipher(b, a), 'from the old session');
      expect(await openData(first, old)).toBe('from the old session');
      expect(await codeOf(() => openData(fresh, old))).toBe(ErrorCode.E2EE_KEY_MISMATCH);
      const oldToB = await dataFrame(first, 'to the old b');
      expect(await codeOf(async () => openData(await cipher(bRestarted, a), oldToB))).toBe(ErrorCode.E2EE_KEY_MISMATCH);
    });
  });

  describe(`E2EE with ${aead.name}: rejections`, () => {
    it('any changed byte of a sealed payload is rejected with the code of its region', async () => {
      const a = await agent('peer-a');
      const b = await agent('peer-b');
      const ab = await cipher(a, b);
      const ba = await cipher(b, a);
      for (const kind of [FrameKind.Data, FrameKind.Unreliable] as const) {
        const wire = kind === FrameKind.Data ? await dataFrame(ab, 'attack at dawn') : await unreliableFrame(ab, 'attack at dawn', 1);
        const frame = decodeFrame(wire) as DataFrame | UnreliableFrame;
        const open = (f: typeof frame): MaybePromise<Uint8Array> => (kind === FrameKind.Data ? ba.openData(f as DataFrame) : ba.openUnreliable(f as UnreliableFrame));
        for (let i = 0; i < frame.payload.length; i++) {
          for (const bit of [0x01, 0x80]) {
            const payload = Uint8Array.from(frame.payload);
            payload[i] = (payload[i] as number) ^ bit;
            const expected =
              i === 0
                ? ErrorCode.E2EE_FORGED // format version
                : i < 5
                  ? ErrorCode.E2EE_WRONG_RECIPIENT
                  : i < 9
                    ? ErrorCode.E2EE_KEY_MISMATCH
                    : i < 13
                      ? ErrorCode.E2EE_ROOM_SECRET_MISMATCH
                      : ErrorCode.E2EE_FORGED; // counter, ciphertext, tag
            expect(await codeOf(() => open({ ...frame, payload })), `kind ${kind} byte ${i}`).toBe(expected);
          }
        }
        // truncated
        expect(await codeOf(() => open({ ...frame, payload: frame.payload.subarray(0, frame.payload.length - 1) }))).toBe(ErrorCode.E2EE_FORGED);
        expect(await codeOf(() => open({ ...frame, payload: frame.payload.subarray(0, 20) }))).toBe(ErrorCode.E2EE_FORGED);
        // the untouched frame still opens (nothing above advanced the replay window)
        expect(dec.decode(await open(frame))).toBe('attack at dawn');
      }
    });

    it('a changed header field (flags, epoch, seq, timestamp) or extra AAD is rejected as forged', async () => {
      const a = await agent('peer-a');
      const b = await agent('peer-b');
      const xy = await cipher(a, b);
      const yx = await cipher(b, a);
      const frame = decodeFrame(await dataFrame(xy, 'x', 5, 77)) as DataFrame;
      const changes: Partial<DataFrame>[] = [
        { flags: frame.flags | FrameFlag.More },
        { flags: (frame.flags & ~FrameFlag.Text) | FrameFlag.Json },
        { epoch: 78 },
        { seq: 6 },
        { timestamp: frame.timestamp + 1 },
      ];
      for (const change of changes) expect(await codeOf(() => yx.openData({ ...frame, ...change })), JSON.stringify(change)).toBe(ErrorCode.E2EE_FORGED);
      // ack is not bound (documented): it is reverse-direction feedback
      const withOtherAck: DataFrame = { ...frame, ack: 99 };
      expect(dec.decode(await yx.openData(withOtherAck))).toBe('x');
      const h = { flags: FrameFlag.Encrypted, epoch: 1, seq: 1, timestamp: 0 };
      const sealed = await xy.sealData(h, enc.encode('y'), enc.encode('chunk 1/2'));
      expect(await codeOf(() => yx.openData({ ...h, payload: sealed }, enc.encode('chunk 2/2')))).toBe(ErrorCode.E2EE_FORGED);
      expect(await codeOf(() => yx.openData({ ...h, payload: sealed }))).toBe(ErrorCode.E2EE_FORGED);
      expect(dec.decode(await yx.openData({ ...h, payload: sealed }, enc.encode('chunk 1/2')))).toBe('y');
      // A DATA payload presented as UNRELIABLE (and vice versa) does not open.
      const u = decodeFrame(await unreliableFrame(xy, 'u', 3)) as UnreliableFrame;
      expect(await codeOf(() => yx.openData({ ...u, seq: 0 }))).toBe(ErrorCode.E2EE_FORGED);
      expect(await codeOf(() => yx.openUnreliable(frame))).not.toMatch(/^returned/);
    });

    it('a frame without the Encrypted flag is refused as a plaintext downgrade; sealing one is a bug', async () => {
      const a = await agent('peer-a');
      const b = await agent('peer-b');
      const ab = await cipher(a, b);
      const ba = await cipher(b, a);
      const frame = decodeFrame(await dataFrame(ab, 'x')) as DataFrame;
      expect(await codeOf(() => ba.openData({ ...frame, flags: frame.flags & ~FrameFlag.Encrypted }))).toBe(ErrorCode.E2EE_PLAINTEXT);
      const u = decodeFrame(await unreliableFrame(ab, 'x')) as UnreliableFrame;
      expect(await codeOf(() => ba.openUnreliable({ ...u, flags: 0 }))).toBe(ErrorCode.E2EE_PLAINTEXT);
      expect(await codeOf(() => ab.sealData({ flags: 0, epoch: 1, seq: 1, timestamp: 0 }, new Uint8Array(1)))).toBe(ErrorCode.INTERNAL);
      expect(await codeOf(() => ab.sealUnreliable({ flags: FrameFlag.Text, epoch: 1, timestamp: 0 }, new Uint8Array(1)))).toBe(ErrorCode.INTERNAL);
      // The refused seal burned nothing: seq 1 of epoch 1 is still free.
      expect(await codeOf(() => ab.sealData({ flags: FrameFlag.Encrypted, epoch: 1, seq: 1, timestamp: 0 }, new Uint8Array(1)))).toMatch(/^returned/);
    });

    it('a different room secret (or none on one side) is rejected as ROOM_SECRET_MISMATCH', async () => {
      const pairs: [RoomKey | undefined, RoomKey | undefined][] = [
        [secretKey, otherSecretKey],
        [secretKey, undefined],
        [undefined, secretKey],
      ];
      for (const [ka, kb] of pairs) {
        const x = await agent('x');
        const y = await agent('y');
        const xy = await cipher(x, y, ka);
        const yx = await cipher(y, x, kb);
        expect(await codeOf(async () => openData(yx, await dataFrame(xy, 'secret')))).toBe(ErrorCode.E2EE_ROOM_SECRET_MISMATCH);
        expect(await codeOf(async () => openUnreliable(yx, await unreliableFrame(xy, 'secret')))).toBe(ErrorCode.E2EE_ROOM_SECRET_MISMATCH);
      }
    });

    it('a frame sealed for B and handed to C (or reflected back to A) is rejected as WRONG_RECIPIENT', async () => {
      const a = await agent('peer-a');
      const b = await agent('peer-b');
      const c = await agent('peer-c');
      const forB = await dataFrame(await cipher(a, b), 'for b only');
      const ca = await cipher(c, a);
      expect(await codeOf(() => openData(ca, forB))).toBe(ErrorCode.E2EE_WRONG_RECIPIENT);
      expect(await codeOf(async () => openData(await cipher(a, b), forB))).toBe(ErrorCode.E2EE_WRONG_RECIPIENT);
      expect(await openData(await cipher(b, a), forB)).toBe('for b only');
      // Even if C is in the middle and recomputes B's public hint: the keys differ, so the check fails.
      const f = decodeFrame(forB) as DataFrame;
      const payload = Uint8Array.from(f.payload);
      payload.set(ca.keys.selfHint, 1);
      expect(await codeOf(() => ca.openData({ ...f, payload }))).toBe(ErrorCode.E2EE_KEY_MISMATCH);
    });

    it('a replayed UNRELIABLE frame is rejected by the window; reordering within it is fine', async () => {
      const x = await agent('x1');
      const y = await agent('y1');
      const xy = await cipher(x, y);
      const yx = await cipher(y, x);
      const frames: Uint8Array[] = [];
      for (let i = 0; i < 5; i++) frames.push(await unreliableFrame(xy, `m${i}`));
      expect(await openUnreliable(yx, frames[2]!)).toBe('m2');
      expect(await openUnreliable(yx, frames[0]!)).toBe('m0'); // late but new
      expect(await codeOf(() => openUnreliable(yx, frames[2]!))).toBe(ErrorCode.E2EE_REPLAY);
      expect(await codeOf(() => openUnreliable(yx, frames[0]!))).toBe(ErrorCode.E2EE_REPLAY);
      expect(await openUnreliable(yx, frames[4]!)).toBe('m4');
      expect(await openUnreliable(yx, frames[1]!)).toBe('m1');
    });

    it('overlapping opens of one UNRELIABLE frame: exactly one wins, and a forged copy moves nothing', async () => {
      const x = await agent('x2');
      const y = await agent('y2');
      const xy = await cipher(x, y);
      const yx = await cipher(y, x);
      const frame = decodeFrame(await unreliableFrame(xy, 'twice')) as UnreliableFrame;
      const forged = { ...frame, payload: Uint8Array.from(frame.payload) };
      forged.payload[forged.payload.length - 1] = (forged.payload[forged.payload.length - 1] as number) ^ 1;
      const attempt = (f: UnreliableFrame): Promise<Uint8Array> => {
        try {
          return Promise.resolve(yx.openUnreliable(f));
        } catch (err) {
          return Promise.reject(err);
        }
      };
      const results = await Promise.allSettled([attempt(forged), attempt(frame), attempt(frame)]);
      const [ofForged, ...ofCopies] = results.map((r) => (r.status === 'fulfilled' ? dec.decode(r.value) : (r.reason as RtcAgentError).code));
      expect(ofForged).toBe(ErrorCode.E2EE_FORGED);
      // Whichever open finishes first wins (an async AEAD may finish them in either order).
      expect(ofCopies.sort()).toEqual([ErrorCode.E2EE_REPLAY, 'twice'].sort());
    });

    it('refuses to seal a DATA nonce twice (same epoch, seq not increasing), at call time', async () => {
      const ab = await cipher(await agent('n1'), await agent('n2'));
      const h = { flags: FrameFlag.Encrypted, epoch: 5, seq: 10, timestamp: 0 };
      const first = ab.sealData(h, new Uint8Array(1)); // not awaited: the guard must already know
      expect(() => ab.sealData(h, new Uint8Array(1))).toThrow(expect.objectContaining({ code: ErrorCode.INTERNAL }));
      expect(() => ab.sealData({ ...h, seq: 9 }, new Uint8Array(1))).toThrow(expect.objectContaining({ code: ErrorCode.INTERNAL }));
      await first;
      expect(await codeOf(() => ab.sealData({ ...h, seq: 11 }, new Uint8Array(1)))).toMatch(/^returned/);
      expect(await codeOf(() => ab.sealData({ ...h, epoch: 6, seq: 1 }, new Uint8Array(1)))).toMatch(/^returned/);
      expect(() => ab.sealData({ ...h, epoch: 6, seq: 1 }, new Uint8Array(1))).toThrow(expect.objectContaining({ code: ErrorCode.INTERNAL }));
    });

    it('rejects malformed, low-order and identical public keys', async () => {
      const good = (await generateKeyPair()).publicKey;
      for (const bad of [good.slice(0, -2), `${good}AA==`, good.replace(/=$/, ''), ` ${good}`, good.slice(4), 'not base64!', 42, undefined, toBase64(new Uint8Array(33))]) {
        expect(await codeOf(() => parsePublicKey(bad)), String(bad)).toBe(ErrorCode.E2EE_BAD_PUBLIC_KEY);
      }
      expect(parsePublicKey(good)).toHaveLength(32);
      const a2 = await agent('a2');
      for (const point of LOW_ORDER_POINTS_HEX) {
        const low = toBase64(fromHex(point));
        const z = await agent(`z-${point.slice(0, 6)}`);
        expect(await codeOf(() => cipher(a2, z, undefined, { e2eePublicKey: low, e2eeSessionKey: good })), `identity ${point}`).toBe(ErrorCode.E2EE_BAD_PUBLIC_KEY);
        expect(await codeOf(() => cipher(a2, z, undefined, { e2eePublicKey: good, e2eeSessionKey: low })), `session ${point}`).toBe(ErrorCode.E2EE_BAD_PUBLIC_KEY);
      }
      const z = await agent('z');
      expect(await codeOf(() => cipher(a2, z, undefined, { e2eePublicKey: good, e2eeSessionKey: good }))).toBe(ErrorCode.E2EE_BAD_PUBLIC_KEY);
      expect(await codeOf(() => peerE2eeKeys({ e2eePublicKey: good }))).toBe(ErrorCode.E2EE_BAD_PUBLIC_KEY);
      expect(await codeOf(() => peerE2eeKeys({ e2eePublicKey: good, e2eeSessionKey: 'nope' }))).toBe(ErrorCode.E2EE_BAD_PUBLIC_KEY);
      expect(peerE2eeKeys({ native: true })).toBeUndefined();
      expect(peerE2eeKeys(null)).toBeUndefined();
      expect(await codeOf(() => cipher(a2, { id: 'a2', e2ee: a2.e2ee }))).toBe(ErrorCode.BAD_REQUEST); // oneself
    });
  });

  describe(`E2EE with ${aead.name}: a hub that swaps public keys (MITM)`, () => {
    /**
     * The hub H tells A that B's keys are H's, and B that A's keys are H's; it then forwards,
     * decrypts or injects frames.
     */
    async function setup(roomKeyA?: RoomKey, roomKeyB?: RoomKey, roomKeyH?: RoomKey) {
      const a = await agent('peer-a');
      const b = await agent('peer-b');
      const h = await E2eeSession.create(await generateIdentity(), { aead });
      const hub = { asB: { id: 'peer-b', e2ee: h }, asA: { id: 'peer-a', e2ee: h } };
      return {
        a,
        b,
        aToB: await cipher(a, b, roomKeyA, h.capabilities()), // A believes these are B's keys
        bToA: await cipher(b, a, roomKeyB, h.capabilities()), // B believes these are A's keys
        hubAsB: await cipher(hub.asB, a, roomKeyH), // the hub's side of the A link
        hubAsA: await cipher(hub.asA, b, roomKeyH), // the hub's side of the B link
        hubFingerprint: h.fingerprint,
      };
    }

    it('with a room secret: neither the hub nor the endpoints can open what the other side sealed', async () => {
      const s = await setup(secretKey, secretKey, otherSecretKey /* the hub's best guess */);
      const fromA = await dataFrame(s.aToB, 'from a');
      const fromB = await dataFrame(s.bToA, 'from b');
      // forwarded untouched: the keys differ end to end
      expect(await codeOf(() => openData(s.bToA, fromA))).toBe(ErrorCode.E2EE_KEY_MISMATCH);
      expect(await codeOf(() => openData(s.aToB, fromB))).toBe(ErrorCode.E2EE_KEY_MISMATCH);
      // read by the hub
      expect(await codeOf(() => openData(s.hubAsB, fromA))).toBe(ErrorCode.E2EE_ROOM_SECRET_MISMATCH);
      expect(await codeOf(() => openData(s.hubAsA, fromB))).toBe(ErrorCode.E2EE_ROOM_SECRET_MISMATCH);
      // injected by the hub
      expect(await codeOf(async () => openData(s.bToA, await dataFrame(s.hubAsA, 'injected')))).toBe(ErrorCode.E2EE_ROOM_SECRET_MISMATCH);
      expect(await codeOf(async () => openData(s.aToB, await dataFrame(s.hubAsB, 'injected')))).toBe(ErrorCode.E2EE_ROOM_SECRET_MISMATCH);
      // ... and with the check bytes patched to pass, the tag still fails
      const inj = decodeFrame(await dataFrame(s.hubAsA, 'injected')) as DataFrame;
      const payload = Uint8Array.from(inj.payload);
      payload.set(s.bToA.keys.recv.check, 9);
      expect(await codeOf(() => s.bToA.openData({ ...inj, payload }))).toBe(ErrorCode.E2EE_FORGED);
    });

    it("without a room secret the hub CAN read and re-seal — but the fingerprints the endpoints see are the hub's", async () => {
      const s = await setup();
      const fromA = await dataFrame(s.aToB, 'from a', 1, 1);
      const stolen = await openData(s.hubAsB, fromA);
      expect(stolen).toBe('from a'); // the attack works ...
      expect(await openData(s.bToA, await dataFrame(s.hubAsA, `${stolen} (tampered)`, 1, 1))).toBe('from a (tampered)');
      // ... and is exactly what fingerprint comparison (/verify) and known peers catch:
      expect(s.aToB.peerFingerprint).toBe(s.hubFingerprint);
      expect(fingerprintsEqual(s.aToB.peerFingerprint, s.b.e2ee.fingerprint)).toBe(false);
      expect(fingerprintsEqual(s.bToA.peerFingerprint, s.a.e2ee.fingerprint)).toBe(false);
    });

    it('swapping only the session keys just breaks the link (the identity-key term stays secret)', async () => {
      const a = await agent('peer-a');
      const b = await agent('peer-b');
      const evil = (await generateKeyPair()).publicKey;
      const aToB = await cipher(a, b, undefined, { e2eePublicKey: b.e2ee.identity.publicKey, e2eeSessionKey: evil });
      const bToA = await cipher(b, a);
      expect(aToB.peerFingerprint).toBe(b.e2ee.fingerprint); // looks right ...
      expect(await codeOf(async () => openData(bToA, await dataFrame(aToB, 'x')))).toBe(ErrorCode.E2EE_KEY_MISMATCH); // ... but nothing opens
    });
  });

  describe(`E2EE with ${aead.name}: keys and nonces`, () => {
    it('directional keys: A.send = B.recv, A.send != A.recv; different per room, room secret and pair', async () => {
      const a = await agent('a');
      const b = await agent('b');
      const c = await agent('c');
      const ab = await cipher(a, b);
      const ba = await cipher(b, a);
      const check = (k: { check: Uint8Array }): string => toHex(k.check);
      expect(check(ab.keys.send)).toBe(check(ba.keys.recv));
      expect(check(ab.keys.recv)).toBe(check(ba.keys.send));
      expect(check(ab.keys.send)).not.toBe(check(ab.keys.recv));
      expect(toHex(ab.keys.pairCheck)).toBe(toHex(ba.keys.pairCheck));
      // A's send key opens at B (the frames above), and is not A's receive key: a frame A sealed,
      // handed back to A with the prefix it expects, fails the tag.
      const own = decodeFrame(await dataFrame(ab, 'mirror')) as DataFrame;
      const mirrored = Uint8Array.from(own.payload);
      mirrored.set(ab.keys.selfHint, 1);
      mirrored.set(ab.keys.recv.check, 9);
      expect(await codeOf(() => ab.openData({ ...own, payload: mirrored }))).toBe(ErrorCode.E2EE_FORGED);
      const others = [
        await cipher(a, b, secretKey),
        await a.e2ee.cipherFor({ room: 'other-room', selfId: 'a', peerId: 'b', peerKeys: peerE2eeKeys(b.e2ee.capabilities())! }),
        await cipher(a, c),
      ];
      for (const o of others) expect(check(o.keys.send)).not.toBe(check(ab.keys.send));
      expect(
        await codeOf(() => a.e2ee.cipherFor({ room: 'other-room', roomKey: secretKey, selfId: 'a', peerId: 'b', peerKeys: peerE2eeKeys(b.e2ee.capabilities())! })),
      ).toBe(ErrorCode.INTERNAL);
    });

    it('derivePairKeys is deterministic and symmetric for the low-level API', async () => {
      const ia = await generateIdentity();
      const sa = await generateKeyPair();
      const ib = await generateIdentity();
      const sb = await generateKeyPair();
      const input = (self: 'a' | 'b') =>
        self === 'a'
          ? { room: ROOM, self: { peerId: 'a', identity: ia, session: sa }, peer: { peerId: 'b', identityKey: ib.publicKey, sessionKey: sb.publicKey } }
          : { room: ROOM, self: { peerId: 'b', identity: ib, session: sb }, peer: { peerId: 'a', identityKey: ia.publicKey, sessionKey: sa.publicKey } };
      const ka = await derivePairKeys(input('a'), aead);
      const kb = await derivePairKeys(input('b'), aead);
      const ka2 = await derivePairKeys(input('a'), aead);
      expect(toHex(ka.send.check)).toBe(toHex(kb.recv.check));
      expect(toHex(ka2.send.check)).toBe(toHex(ka.send.check));
      expect(toHex(ka.pairCheck)).toBe(toHex(kb.pairCheck));
      expect(toHex(ka.peerHint)).toBe(toHex(kb.selfHint));
      expect(ka.peerFingerprint).toBe(ib.fingerprint);
      expect(ka.aead).toBe(aead);
    });

    it('nonces are distinct for distinct (epoch, seq) and unreliable counters (property)', () => {
      const data = fc.record({ epoch: fc.nat({ max: 0xffff_ffff }), seq: fc.nat({ max: 0xffff_ffff }) });
      fc.assert(
        fc.property(
          fc.uniqueArray(data, { minLength: 2, maxLength: 400, selector: (d) => `${d.epoch}:${d.seq}` }),
          fc.uniqueArray(fc.maxSafeNat(), { maxLength: 200 }),
          (pairs, counters) => {
            const seen = new Set<string>();
            for (const { epoch, seq } of pairs) seen.add(toHex(nonceFor({ kind: FrameKind.Data, header: { flags: 8, epoch, seq, timestamp: 0 } })));
            for (const counter of counters) seen.add(toHex(nonceFor({ kind: FrameKind.Unreliable, header: { flags: 8, epoch: 0, timestamp: 0 }, counter })));
            expect(seen.size).toBe(pairs.length + counters.length);
            for (const n of seen) expect(n.length).toBe(24);
          },
        ),
        { numRuns: 200 },
      );
    });

    it("a sender's unreliable counter never repeats, and seals started back to back get counters in call order", async () => {
      const [c1, c2] = [await agent('c1'), await agent('c2')];
      const ab = await cipher(c1, c2);
      const counterOf = (sealed: Uint8Array): number => new DataView(sealed.buffer, sealed.byteOffset).getUint32(13 + 4);
      // 2000 seals started without waiting for any (the async AEAD has them all in flight at once).
      const pending: MaybePromise<Uint8Array>[] = [];
      for (let i = 0; i < 2000; i++) pending.push(ab.sealUnreliable({ flags: FrameFlag.Encrypted, epoch: 1, timestamp: i }, new Uint8Array([i & 0xff])));
      const sealed = await Promise.all(pending);
      expect(sealed.map(counterOf)).toEqual(Array.from({ length: 2000 }, (_, i) => i));
      // Each opens under its own header: every one was sealed with its own AAD and nonce, although
      // the AAD of each is built in one shared buffer (the AEAD reads it before seal() returns).
      const ba = await cipher(c2, c1);
      const opened = await Promise.all(sealed.map((payload, i) => ba.openUnreliable({ flags: FrameFlag.Encrypted, epoch: 1, timestamp: i, payload })));
      expect(opened.map((p) => p[0])).toEqual(Array.from({ length: 2000 }, (_, i) => i & 0xff));
    });

    it('returns bytes from a synchronous AEAD and promises from an asynchronous one; pre-AEAD failures throw at call time', async () => {
      const a = await agent('s1');
      const b = await agent('s2');
      const ab = await cipher(a, b);
      const ba = await cipher(b, a);
      const h = { flags: FrameFlag.Encrypted, epoch: 1, seq: 1, timestamp: 0 };
      const sealed = ab.sealData(h, enc.encode('z'));
      const throwaway = await aead.importKey(new Uint8Array(32));
      const probe = aead.seal(throwaway, new Uint8Array(12), new Uint8Array(0), new Uint8Array(0), new Uint8Array(0));
      const async = probe instanceof Promise;
      await probe;
      expect(sealed instanceof Promise).toBe(async);
      const opened = ba.openData({ ...h, payload: await sealed });
      expect(opened instanceof Promise).toBe(async);
      expect(dec.decode(await opened)).toBe('z');
      // Checks that need no AEAD throw synchronously whichever the AEAD.
      expect(() => ba.openData({ ...h, flags: 0, payload: new Uint8Array(40) })).toThrow(expect.objectContaining({ code: ErrorCode.E2EE_PLAINTEXT }));
      expect(() => ba.openData({ ...h, payload: new Uint8Array(3) })).toThrow(expect.objectContaining({ code: ErrorCode.E2EE_FORGED }));
      // The tag's verdict comes back the AEAD's way.
      const bad = Uint8Array.from(await sealed);
      bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 1;
      if (async) {
        const result = ba.openData({ ...h, payload: bad });
        expect(result).toBeInstanceOf(Promise);
        await expect(result).rejects.toMatchObject({ code: ErrorCode.E2EE_FORGED });
      } else {
        expect(() => ba.openData({ ...h, payload: bad })).toThrow(expect.objectContaining({ code: ErrorCode.E2EE_FORGED }));
      }
    });

    it('ReplayWindow: accepts each counter once, tolerates reordering, rejects what fell out of the window', () => {
      const w = new ReplayWindow(64);
      expect(w.commit(0)).toBe(true);
      expect(w.commit(0)).toBe(false);
      expect(w.commit(100)).toBe(true);
      expect(w.check(37)).toBe('ok'); // 100 - 37 = 63 < 64
      expect(w.check(36)).toBe('too-old');
      expect(w.commit(37)).toBe(true);
      expect(w.check(37)).toBe('replay');
      expect(w.commit(1000)).toBe(true);
      expect(w.check(100)).toBe('too-old');
      expect(w.check(999)).toBe('ok');
      expect(w.check(-1)).toBe('too-old');
      expect(() => new ReplayWindow(33)).toThrow(RangeError);
      // property: against a Set model, within-window accepts match exactly
      fc.assert(
        fc.property(fc.array(fc.nat({ max: 500 }), { maxLength: 300 }), (ns) => {
          const win = new ReplayWindow(128);
          const model = new Set<number>();
          let hi = -1;
          for (const n of ns) {
            const expectOk = !model.has(n) && (n > hi || hi - n < 128);
            expect(win.commit(n)).toBe(expectOk);
            if (expectOk) {
              model.add(n);
              hi = Math.max(hi, n);
            }
          }
        }),
      );
    });

    it('fingerprints: 8 groups of 4 hex, the first 16 bytes of SHA-256 of the raw key; comparison ignores case and spacing', async () => {
      const id = await generateIdentity();
      expect(id.fingerprint).toMatch(/^([0-9A-F]{4} ){7}[0-9A-F]{4}$/);
      const expected = toHex((await sha256(parsePublicKey(id.publicKey))).subarray(0, 16));
      expect(id.fingerprint.replace(/ /g, '').toLowerCase()).toBe(expected);
      expect(await fingerprint(id.publicKey)).toBe(id.fingerprint);
      expect(fingerprintsEqual(id.fingerprint, expected)).toBe(true);
      expect(fingerprintsEqual(id.fingerprint, expected.replace(/(.{2})/g, '$1:'))).toBe(true);
      expect(fingerprintsEqual(id.fingerprint, (await generateIdentity()).fingerprint)).toBe(false);
      expect(fingerprintsEqual(id.fingerprint, id.fingerprint.slice(0, -1))).toBe(false);
      expect(fingerprintsEqual('', '')).toBe(false);
      await expect(fingerprint('not a key')).rejects.toMatchObject({ code: ErrorCode.E2EE_BAD_PUBLIC_KEY });
    });

    it('room keys: an empty secret is a configuration error; derivation is deterministic per room and NFC-normalised', async () => {
      await expect(deriveRoomKey(ROOM, '', scrypt)).rejects.toMatchObject({ code: ErrorCode.CONFIG });
      const again = await deriveRoomKey(ROOM, 'correct horse battery staple', scrypt);
      expect(toHex(again.key)).toBe(toHex(secretKey.key));
      expect(again.room).toBe(ROOM);
      expect(toHex(secretKey.key)).not.toBe(toHex(otherSecretKey.key));
      const [decomposed, composed, otherRoom] = await Promise.all([
        deriveRoomKey(ROOM, 'Cafe\u0301', scrypt),
        deriveRoomKey(ROOM, 'Caf\u00e9', scrypt),
        deriveRoomKey('other-room', 'Caf\u00e9', scrypt),
      ]);
      expect(toHex(decomposed.key)).toBe(toHex(composed.key));
      expect(toHex(otherRoom.key)).not.toBe(toHex(composed.key));
    });
  });
}

/** Trust-on-first-use behaviour every KnownPeers store must have (memory here, the file in test/node). */
export function trustTests(name: string, make: () => Promise<KnownPeers>): void {
  it(`${name}: new -> known; a different key is 'changed'; remembering accepts it`, async () => {
    const store = await make();
    const alice = await generateIdentity();
    const mallory = await generateIdentity();
    expect(store.check('alice', alice.fingerprint)).toBe('new');
    await store.remember('alice', alice.fingerprint);
    expect(store.check('alice', alice.fingerprint)).toBe('known');
    expect(store.check('alice', alice.fingerprint.toLowerCase().replace(/ /g, ''))).toBe('known');
    expect(store.check('alice', mallory.fingerprint)).toBe('changed');
    expect(store.check('bob', mallory.fingerprint)).toBe('new'); // keyed by identity, not by key
    await store.remember('alice', mallory.fingerprint); // the user verified the new key
    expect(store.check('alice', mallory.fingerprint)).toBe('known');
    expect(store.check('alice', alice.fingerprint)).toBe('changed');
    expect(store.get('alice')).toMatchObject({ fingerprint: mallory.fingerprint, since: expect.stringMatching(/^\d{4}-/) });
    expect(await store.forget('alice')).toBe(true);
    expect(store.check('alice', alice.fingerprint)).toBe('new');
    expect(await store.forget('alice')).toBe(false);
    await expect(store.remember('alice', ' ')).rejects.toMatchObject({ code: ErrorCode.INTERNAL });
  });
}
