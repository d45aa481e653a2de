/**
 * The engine's E2EE against test/fixtures/e2ee-vectors.json (made by the pre-engine src/crypto with
 * fixed keys; the generator was deleted with src/crypto): fingerprints, recipient hints, nonces, room
 * keys, each side's pair checks and hints, and every sealed DATA/UNRELIABLE payload byte for byte
 * — plus the other side opening each one. Run once per AEAD (crypto-vectors.test.ts with WebCrypto,
 * test/node/crypto-node.test.ts with node:crypto). Platform-neutral: no Buffer, no node: imports.
 */
import { describe, expect, it } from 'vitest';
import { toHex } from '../../src/engine/bytes.js';
import {
  PeerCipher,
  derivePairKeys,
  deriveRoomKey,
  fingerprint,
  importIdentity,
  nonceFor,
  recipientHint,
  type Aead,
  type KeyPair,
  type PairKeys,
  type ScryptFunction,
} from '../../src/engine/crypto/index.js';
import { FrameKind } from '../../src/protocol/frames.js';
import vectors from '../fixtures/e2ee-vectors.json' with { type: 'json' };
import { fromHex } from './crypto-suite.js';

export { vectors };

type Name = 'alice' | 'bob';
type PairVector = (typeof vectors.pairs)[number];
type SealVector = PairVector['sealed'][number];

async function keyPair(stored: { privateKey: string; publicKey: string }): Promise<KeyPair> {
  return importIdentity(stored.privateKey, { publicKey: stored.publicKey });
}

/** Both sides' PairKeys for one pair vector, derived by the engine with `aead`. */
export async function pairKeysOf(pair: PairVector, aead: Aead): Promise<Record<Name, PairKeys>> {
  const roomKey = 'roomKey' in pair ? { room: pair.room, key: fromHex(pair.roomKey as string) } : undefined;
  const parties = {
    alice: { peerId: pair.alice.peerId, identity: await keyPair(vectors.keys.alice.identity), session: await keyPair(vectors.keys.alice.session) },
    bob: { peerId: pair.bob.peerId, identity: await keyPair(vectors.keys.bob.identity), session: await keyPair(vectors.keys.bob.session) },
  };
  const keys = (self: Name, peer: Name): Promise<PairKeys> =>
    derivePairKeys(
      {
        room: pair.room,
        roomKey,
        self: parties[self],
        peer: { peerId: parties[peer].peerId, identityKey: parties[peer].identity.publicKey, sessionKey: parties[peer].session.publicKey },
      },
      aead,
    );
  return { alice: await keys('alice', 'bob'), bob: await keys('bob', 'alice') };
}

function other(name: Name): Name {
  return name === 'alice' ? 'bob' : 'alice';
}

/** Registers the vector tests for `aead`; `scrypt` is the platform's (room keys). */
export function vectorSuite(aead: Aead, scrypt: ScryptFunction): void {
  describe(`E2EE vectors of the pre-engine code, with ${aead.name}`, () => {
    it('fingerprints, recipient hints and nonces', async () => {
      for (const v of vectors.fingerprints) expect(await fingerprint(v.publicKey)).toBe(v.fingerprint);
      for (const v of vectors.recipientHints) expect(toHex(await recipientHint(v.peerId)), v.peerId).toBe(v.hint);
      for (const v of vectors.nonces) {
        const nonce =
          v.kind === 'data'
            ? nonceFor({ kind: FrameKind.Data, header: { flags: 8, epoch: v.epoch!, seq: v.seq!, timestamp: 0 } })
            : nonceFor({ kind: FrameKind.Unreliable, header: { flags: 8, epoch: 0, timestamp: 0 }, counter: v.counter! });
        expect(toHex(nonce), JSON.stringify(v)).toBe(v.nonce);
      }
    });

    it('stored private keys give the stored public keys', async () => {
      for (const party of Object.values(vectors.keys)) {
        for (const stored of [party.identity, party.session]) expect((await importIdentity(stored.privateKey)).publicKey).toBe(stored.publicKey);
      }
    });

    it('room keys (scrypt N=2^15, r=8, p=1 over the NFC secret and a room-bound salt)', async () => {
      for (const v of vectors.roomKeys) {
        const key = await deriveRoomKey(v.room, v.secret, scrypt);
        expect(toHex(key.key), `${v.room} / ${v.secret}`).toBe(v.key);
      }
    });

    for (const pair of vectors.pairs) {
      it(`pair "${pair.name}": the same checks and hints, and every sealed payload byte for byte`, async () => {
        const keys = await pairKeysOf(pair, aead);
        for (const name of ['alice', 'bob'] as const) {
          const k = keys[name];
          const view = pair[name].view;
          expect(
            { pairCheck: toHex(k.pairCheck), sendCheck: toHex(k.send.check), recvCheck: toHex(k.recv.check), selfHint: toHex(k.selfHint), peerHint: toHex(k.peerHint), peerFingerprint: k.peerFingerprint },
            name,
          ).toEqual({ pairCheck: view.pairCheck, sendCheck: view.sendCheck, recvCheck: view.recvCheck, selfHint: view.selfHint, peerHint: view.peerHint, peerFingerprint: view.peerFingerprint });
        }
        const ciphers = { alice: new PeerCipher(keys.alice, vectors.keys.bob.identity.publicKey), bob: new PeerCipher(keys.bob, vectors.keys.alice.identity.publicKey) };
        for (const v of pair.sealed as SealVector[]) {
          const from = ciphers[v.from as Name];
          const to = ciphers[other(v.from as Name)];
          const plaintext = fromHex(v.plaintext);
          const extraAad = 'extraAad' in v ? fromHex(v.extraAad as string) : undefined;
          const header = v.header as { flags: number; epoch: number; seq: number; timestamp: number };
          const label = `${v.from} ${v.kind} ${JSON.stringify(v.header)}`;
          const sealed = v.kind === 'data' ? await from.sealData(header, plaintext, extraAad) : await from.sealUnreliable(header, plaintext, extraAad);
          expect(toHex(sealed), label).toBe(v.payload);
          const frame = { ...header, payload: fromHex(v.payload) };
          const opened = v.kind === 'data' ? await to.openData(frame, extraAad) : await to.openUnreliable(frame, extraAad);
          expect(toHex(opened), label).toBe(v.plaintext);
        }
      });
    }
  });
}
