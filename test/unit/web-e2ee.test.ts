/**
 * The page's WebCrypto E2EE (src/web/e2ee.ts) against the agent's (src/crypto), byte for byte, in
 * Node 20 (whose WebCrypto has X25519): the same fingerprints, hints and derived checks; frames
 * sealed by one side open on the other, for DATA and UNRELIABLE, with and without a room secret;
 * the same error codes for the same failures; scrypt against RFC 7914's test vectors and the
 * agent's room key. The same code runs in Chromium in test/interop/browser.test.ts.
 */
import { scryptSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { E2eeSession as AgentSession, deriveRoomKey as agentRoomKey, fingerprint as agentFingerprint, generateIdentity, recipientHint as agentHint } from '../../src/crypto/index.js';
import { ErrorCode } from '../../src/errors.js';
import { FrameFlag } from '../../src/protocol/frames.js';
import * as web from '../../src/web/e2ee.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

async function pair(options: { room?: string; agentSecret?: string; webSecret?: string; webLow?: boolean } = {}) {
  const room = options.room ?? 'lobby';
  const agentId = 'agent-peer-id-B';
  const webId = options.webLow ? 'a-web' : 'web-peer-id-A'; // 'a-web' sorts below the agent's id
  const agent = new AgentSession(generateIdentity());
  const page = await web.E2eeSession.create();
  const agentKey = options.agentSecret === undefined ? undefined : await agentRoomKey(room, options.agentSecret);
  const webKey = options.webSecret === undefined ? undefined : await web.deriveRoomKey(room, options.webSecret);
  const agentCipher = agent.cipherFor({ room, roomKey: agentKey, selfId: agentId, peerId: webId, peerKeys: web.peerE2eeKeys(page.capabilities())! });
  const webCipher = await page.cipherFor({ room, roomKey: webKey, selfId: webId, peerId: agentId, peerKeys: web.peerE2eeKeys(agent.capabilities())! });
  return { agent, page, agentCipher, webCipher, agentId, webId };
}

describe('browser E2EE (WebCrypto) against the agent (node:crypto)', () => {
  it('computes the same fingerprints and recipient hints', async () => {
    for (let i = 0; i < 5; i++) {
      const id = generateIdentity();
      expect(await web.fingerprint(id.publicKey)).toBe(agentFingerprint(id.publicKey));
    }
    const page = await web.E2eeSession.create();
    expect(page.fingerprint).toBe(agentFingerprint(page.capabilities().e2eePublicKey));
    expect(page.fingerprint).toMatch(/^([0-9A-F]{4} ){7}[0-9A-F]{4}$/);
    for (const id of ['a', 'Zq3', 'peer-ünïcode', '']) expect(hex(await web.recipientHint(id))).toBe(hex(agentHint(id)));
  });

  it('parses public keys as strictly as the agent', () => {
    const good = generateIdentity().publicKey;
    expect(web.parsePublicKey(good)).toHaveLength(32);
    for (const bad of [good.replace(/=$/, ''), ` ${good}`, good.slice(4), 'not base64!', 42, undefined, Buffer.alloc(33).toString('base64')]) {
      expect(() => web.parsePublicKey(bad), String(bad)).toThrow(expect.objectContaining({ code: ErrorCode.E2EE_BAD_PUBLIC_KEY }));
    }
    expect(web.peerE2eeKeys({ native: true })).toBeUndefined();
    expect(() => web.peerE2eeKeys({ e2eePublicKey: good })).toThrow(expect.objectContaining({ code: ErrorCode.E2EE_BAD_PUBLIC_KEY }));
  });

  it('derives the same pairwise keys (checks, hints, fingerprints) on both sides', async () => {
    for (const order of ['web-low', 'web-high']) {
      const { agent, page, agentCipher, webCipher } = await pair({ room: order, webLow: order === 'web-low' });
      expect(agentCipher.keys.selfId < agentCipher.keys.peerId).toBe(order === 'web-high');
      const a = agentCipher.keys;
      const w = webCipher.keys;
      expect(hex(w.pairCheck)).toBe(hex(a.pairCheck));
      expect(hex(w.send.check)).toBe(hex(a.recv.check));
      expect(hex(w.recv.check)).toBe(hex(a.send.check));
      expect(hex(w.selfHint)).toBe(hex(a.peerHint));
      expect(hex(w.peerHint)).toBe(hex(a.selfHint));
      expect(w.peerFingerprint).toBe(agent.fingerprint);
      expect(a.peerFingerprint).toBe(page.fingerprint);
    }
  });

  for (const secret of [undefined, 'correct horse battery staple']) {
    it(`seals in the page and opens in the agent, and the reverse: DATA and UNRELIABLE (${secret ? 'room secret' : 'no room secret'})`, async () => {
      const { agentCipher, webCipher } = await pair({ agentSecret: secret, webSecret: secret });
      const flags = FrameFlag.Text | FrameFlag.Encrypted;
      // DATA, page -> agent, a few seqs and a multi-chunk-sized payload.
      for (const [seq, msg] of [[1, 'hello agent'], [2, ''], [3, 'x'.repeat(16 * 1024 - 29 - 23)]] as const) {
        const header = { flags, epoch: 0xdeadbeef, seq, timestamp: 1_700_000_000_123.5 };
        const sealed = await webCipher.sealData(header, text(msg));
        expect(sealed.length).toBe(text(msg).length + web.DATA_SEAL_OVERHEAD_BYTES);
        expect(Buffer.from(agentCipher.openData({ ...header, payload: sealed })).toString()).toBe(msg);
      }
      // DATA, agent -> page.
      const header = { flags, epoch: 7, seq: 1, timestamp: Date.now() };
      const fromAgent = agentCipher.sealData(header, text('hello page'));
      expect(new TextDecoder().decode(await webCipher.openData({ ...header, payload: fromAgent }))).toBe('hello page');
      // UNRELIABLE both ways, counters advancing.
      for (let i = 0; i < 3; i++) {
        const uh = { flags, epoch: 99, timestamp: Date.now() + i };
        const w = await webCipher.sealUnreliable(uh, text(`u${i}`));
        expect(w.length).toBe(2 + web.UNRELIABLE_SEAL_OVERHEAD_BYTES);
        expect(Buffer.from(agentCipher.openUnreliable({ ...uh, payload: w })).toString()).toBe(`u${i}`);
        const a = agentCipher.sealUnreliable(uh, text(`a${i}`));
        expect(new TextDecoder().decode(await webCipher.openUnreliable({ ...uh, payload: a }))).toBe(`a${i}`);
      }
      // The cleartext prefix the page writes is what the agent expects for this direction.
      const again = await webCipher.sealData({ flags, epoch: 1, seq: 1, timestamp: 5 }, text('p'));
      expect(again[0]).toBe(1);
      expect(hex(again.subarray(1, 5))).toBe(hex(agentCipher.keys.selfHint));
      expect(hex(again.subarray(5, 9))).toBe(hex(agentCipher.keys.pairCheck));
      expect(hex(again.subarray(9, 13))).toBe(hex(agentCipher.keys.recv.check));
    });
  }

  it('fails the same way as the agent: tampering, replay, wrong header, plaintext, mismatched room secret, nonce reuse', async () => {
    const { agentCipher, webCipher } = await pair();
    const flags = FrameFlag.Text | FrameFlag.Encrypted;
    const header = { flags, epoch: 1, seq: 1, timestamp: 1 };
    const sealed = agentCipher.sealData(header, text('secret'));
    const code = (c: string) => expect.objectContaining({ code: c });
    const flipped = Uint8Array.from(sealed);
    flipped[flipped.length - 1] ^= 1;
    await expect(webCipher.openData({ ...header, payload: flipped })).rejects.toThrow(code(ErrorCode.E2EE_FORGED));
    await expect(webCipher.openData({ ...header, seq: 2, payload: sealed })).rejects.toThrow(code(ErrorCode.E2EE_FORGED));
    await expect(webCipher.openData({ ...header, flags: FrameFlag.Text, payload: sealed })).rejects.toThrow(code(ErrorCode.E2EE_PLAINTEXT));
    await expect(webCipher.openData({ ...header, payload: sealed.subarray(0, 20) })).rejects.toThrow(code(ErrorCode.E2EE_FORGED));
    const hint = Uint8Array.from(sealed);
    hint[1] ^= 1;
    await expect(webCipher.openData({ ...header, payload: hint })).rejects.toThrow(code(ErrorCode.E2EE_WRONG_RECIPIENT));
    const pc = Uint8Array.from(sealed);
    pc[5] ^= 1;
    await expect(webCipher.openData({ ...header, payload: pc })).rejects.toThrow(code(ErrorCode.E2EE_KEY_MISMATCH));
    const uh = { flags, epoch: 1, timestamp: 1 };
    const u = agentCipher.sealUnreliable(uh, text('once'));
    await webCipher.openUnreliable({ ...uh, payload: u });
    await expect(webCipher.openUnreliable({ ...uh, payload: u })).rejects.toThrow(code(ErrorCode.E2EE_REPLAY));
    // Concurrent opens of one frame: exactly one wins.
    const u2 = agentCipher.sealUnreliable(uh, text('twice'));
    const results = await Promise.allSettled([webCipher.openUnreliable({ ...uh, payload: u2 }), webCipher.openUnreliable({ ...uh, payload: u2 })]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    // The page never seals one (epoch, seq) twice, even when the calls overlap.
    const first = webCipher.sealData({ flags, epoch: 5, seq: 1, timestamp: 1 }, text('a'));
    await expect(webCipher.sealData({ flags, epoch: 5, seq: 1, timestamp: 1 }, text('b'))).rejects.toThrow(code(ErrorCode.INTERNAL));
    await first;
    await expect(webCipher.sealData({ flags: FrameFlag.Text, epoch: 6, seq: 1, timestamp: 1 }, text('b'))).rejects.toThrow(code(ErrorCode.INTERNAL));

    const mismatched = await pair({ agentSecret: 'one secret', webSecret: 'another secret' });
    const s = await mismatched.webCipher.sealData(header, text('hi'));
    expect(() => mismatched.agentCipher.openData({ ...header, payload: s })).toThrow(code(ErrorCode.E2EE_ROOM_SECRET_MISMATCH));
    const half = await pair({ agentSecret: 'only the agent has one' });
    await expect(half.webCipher.openData({ ...header, payload: half.agentCipher.sealData(header, text('hi')) })).rejects.toThrow(code(ErrorCode.E2EE_ROOM_SECRET_MISMATCH));
  });

  it('rejects low-order and identical keys like the agent', async () => {
    const page = await web.E2eeSession.create();
    const zero = Buffer.alloc(32).toString('base64');
    const other = generateIdentity().publicKey;
    await expect(page.cipherFor({ room: 'r', selfId: 'a', peerId: 'b', peerKeys: { identityKey: zero, sessionKey: other } })).rejects.toThrow(
      expect.objectContaining({ code: ErrorCode.E2EE_BAD_PUBLIC_KEY }),
    );
    await expect(page.cipherFor({ room: 'r', selfId: 'a', peerId: 'b', peerKeys: { identityKey: other, sessionKey: other } })).rejects.toThrow(
      expect.objectContaining({ code: ErrorCode.E2EE_BAD_PUBLIC_KEY }),
    );
  });
});

describe('scrypt (RFC 7914) in the page', () => {
  it('matches the RFC 7914 §12 test vectors', async () => {
    const vectors = [
      { P: '', S: '', N: 16, r: 1, p: 1, dk: '77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906' },
      { P: 'password', S: 'NaCl', N: 1024, r: 8, p: 16, dk: 'fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640' },
      { P: 'pleaseletmein', S: 'SodiumChloride', N: 16384, r: 8, p: 1, dk: '7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887' },
    ];
    for (const v of vectors) {
      expect(hex(await web.scrypt(text(v.P), text(v.S), v.N, v.r, v.p, 64)), `${v.P}/${v.S}`).toBe(v.dk);
    }
  });

  it('derives the same room key as the agent (N=2^15, r=8, NFC-normalised secret, room-bound salt)', async () => {
    for (const [room, secret] of [['lobby', 's3cret'], ['ops.team-1', 'Cafe\u0301 ☕ long secret']] as const) {
      const mine = await web.deriveRoomKey(room, secret);
      const theirs = await agentRoomKey(room, secret);
      expect(hex(mine.key)).toBe(hex(theirs.key));
      expect(mine.room).toBe(room);
    }
    expect(hex(await web.scrypt(text('pw'), text('salt'), 64, 2, 3, 40))).toBe(scryptSync('pw', 'salt', 40, { N: 64, r: 2, p: 3 }).toString('hex'));
    await expect(web.deriveRoomKey('lobby', '')).rejects.toThrow(expect.objectContaining({ code: ErrorCode.CONFIG }));
  });
});
