/**
 * The engine's E2EE (src/engine/crypto) with WebCrypto's AEAD, as browsers run it: the behaviour
 * suite (crypto-suite.ts: round trips, every rejection code, MITM, nonces, replay), plus identities
 * (generation, export/import for the platform's storage, opaque private keys) and in-memory trust on
 * first use. Platform-neutral: no Buffer, no node: imports (it will also run inside Chromium).
 */
import { describe, expect, it } from 'vitest';
import { browserScrypt } from '../../src/browser/scrypt.js';
import { toBase64 } from '../../src/engine/bytes.js';
import {
  E2eeSession,
  MemoryKnownPeers,
  exportIdentity,
  generateIdentity,
  identityChangedError,
  importIdentity,
  peerE2eeKeys,
  webCryptoAead,
} from '../../src/engine/crypto/index.js';
import { ErrorCode } from '../../src/errors.js';
import { FrameFlag } from '../../src/protocol/frames.js';
import { codeOf, e2eeSuite, trustTests } from './crypto-suite.js';

e2eeSuite(webCryptoAead, browserScrypt);

describe('identities', () => {
  it('are non-extractable unless asked, and never print their private key', async () => {
    const id = await generateIdentity();
    expect(id.privateKey.extractable).toBe(false);
    await expect(exportIdentity(id)).rejects.toMatchObject({ code: ErrorCode.INTERNAL, message: expect.stringContaining('extractable') });
    const persistable = await generateIdentity({ extractable: true });
    const stored = await exportIdentity(persistable);
    expect(stored.publicKey).toBe(persistable.publicKey);
    expect(stored.privateKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    for (const shown of [JSON.stringify(persistable), String(persistable.privateKey), JSON.stringify(await E2eeSession.create(persistable))]) {
      expect(shown).not.toContain(stored.privateKey);
      expect(shown).not.toContain(stored.privateKey.replace(/\+/g, '-').replace(/\//g, '_').replace(/=$/, ''));
    }
  });

  it('round-trip through export and import: same public key, same fingerprint, same shared keys', async () => {
    const original = await generateIdentity({ extractable: true });
    const stored = await exportIdentity(original);
    const restored = await importIdentity(stored.privateKey, { publicKey: stored.publicKey });
    expect(restored.publicKey).toBe(original.publicKey);
    expect(restored.fingerprint).toBe(original.fingerprint);
    expect(restored.privateKey.extractable).toBe(false);
    expect((await importIdentity(stored.privateKey, { extractable: true })).privateKey.extractable).toBe(true);
    // The restored private key is the same key: a peer's cipher with the original opens what the restored one seals.
    const me = await E2eeSession.create(restored);
    const peer = await E2eeSession.create(await generateIdentity());
    const mine = await me.cipherFor({ room: 'r', selfId: 'me', peerId: 'peer', peerKeys: peerE2eeKeys(peer.capabilities())! });
    const caps = { ...me.capabilities(), e2eePublicKey: original.publicKey };
    const theirs = await peer.cipherFor({ room: 'r', selfId: 'peer', peerId: 'me', peerKeys: peerE2eeKeys(caps)! });
    const h = { flags: FrameFlag.Encrypted, epoch: 1, seq: 1, timestamp: 0 };
    expect(new TextDecoder().decode(await theirs.openData({ ...h, payload: await mine.sealData(h, new TextEncoder().encode('same key')) }))).toBe('same key');
  });

  it('refuses a stored key that is not 32 bytes of base64, or whose public key does not match', async () => {
    const stored = await exportIdentity(await generateIdentity({ extractable: true }));
    const other = await generateIdentity();
    expect(await codeOf(() => importIdentity(stored.privateKey, { publicKey: other.publicKey }))).toBe(ErrorCode.KEY_FILE);
    await expect(importIdentity(stored.privateKey, { publicKey: other.publicKey })).rejects.toThrow(/does not belong/);
    for (const bad of ['AAAA', '', 'not base64!', toBase64(new Uint8Array(33))]) expect(await codeOf(() => importIdentity(bad)), bad).toBe(ErrorCode.KEY_FILE);
  });
});

describe('known peers (trust on first use)', () => {
  trustTests('in memory', async () => new MemoryKnownPeers());

  it('identityChangedError is loud and carries both fingerprints', () => {
    const err = identityChangedError('alice', 'AAAA BBBB', 'CCCC DDDD');
    expect(err.code).toBe(ErrorCode.IDENTITY_CHANGED);
    expect(err.message).toMatch(/CHANGED.*AAAA BBBB.*CCCC DDDD.*out of band/);
    expect(err.details).toEqual({ identity: 'alice', known: 'AAAA BBBB', seen: 'CCCC DDDD' });
  });
});
