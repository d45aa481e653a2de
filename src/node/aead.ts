/**
 * AES-256-GCM through node:crypto's synchronous createCipheriv: the AEAD the Node agent passes to
 * the engine's E2eeSession. Same bytes as the engine's webCryptoAead (test/node checks both against
 * test/fixtures/e2ee-vectors.json), several times cheaper per frame because it skips WebCrypto's
 * thread-pool round trip (numbers in src/engine/crypto/aead.ts and bench/benches/e2ee-crypto.ts).
 */
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto';
import { GCM_TAG_BYTES, type Aead, type AeadKey } from '../engine/crypto/index.js';

function keyObject(key: AeadKey): KeyObject {
  return key as unknown as KeyObject;
}

export const nodeAead: Aead = {
  name: 'node:crypto',

  importKey(raw: Uint8Array): AeadKey {
    // createSecretKey copies the bytes, so the engine may zero `raw` afterwards.
    return createSecretKey(raw) as unknown as AeadKey;
  },

  seal(key: AeadKey, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, prefix: Uint8Array): Uint8Array {
    const cipher = createCipheriv('aes-256-gcm', keyObject(key), nonce, { authTagLength: GCM_TAG_BYTES });
    cipher.setAAD(aad);
    const body = cipher.update(plaintext);
    const last = cipher.final(); // empty for GCM, kept for correctness
    const tag = cipher.getAuthTag();
    // A plain Uint8Array (not a Buffer, whose small ones share a pool and whose slice() is a view),
    // over its own uninitialised memory (allocUnsafeSlow: no pool, no zero-fill; every byte is
    // written below), so the output still costs one copy, as Buffer.concat did.
    const total = prefix.length + body.length + last.length + tag.length;
    const out = new Uint8Array(Buffer.allocUnsafeSlow(total).buffer, 0, total);
    out.set(prefix, 0);
    out.set(body, prefix.length);
    out.set(last, prefix.length + body.length);
    out.set(tag, prefix.length + body.length + last.length);
    return out;
  },

  open(key: AeadKey, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | null {
    const tagAt = sealed.length - GCM_TAG_BYTES;
    const decipher = createDecipheriv('aes-256-gcm', keyObject(key), nonce, { authTagLength: GCM_TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(sealed.subarray(tagAt));
    const out = decipher.update(sealed.subarray(0, tagAt));
    try {
      decipher.final();
    } catch {
      out.fill(0); // update() returned unauthenticated plaintext; never let it escape
      return null;
    }
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  },
};
