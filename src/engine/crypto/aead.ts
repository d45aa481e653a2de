/**
 * The one primitive the platform may swap: AES-256-GCM seal/open of (key, nonce, aad, plaintext).
 * Everything else — X25519, HKDF, SHA-256, the seal format, nonces, checks, the replay window — is
 * the engine's one copy and always runs on WebCrypto.
 *
 * Why this seam: WebCrypto is asynchronous and costs a thread-pool round trip per call, and the
 * agent seals and opens every DATA/UNRELIABLE frame, so on Node that cost is the E2EE RTT and
 * throughput. Measured with bench/benches/e2ee-crypto.ts (`npm run bench -- --only e2ee-crypto`)
 * on the 2-core dev machine, Node 20.20, seal + open of one DATA frame at a time, median of 12
 * rounds (other processes used about one core meanwhile, so absolute numbers are high):
 *
 *                                          64 B      32 KiB
 *   engine + nodeAead (node:crypto)       43 µs      150 µs
 *   engine + webCryptoAead                207 µs      567 µs
 *   pre-engine src/crypto (node:crypto)    51 µs      204 µs
 *
 * (On a quiet machine one seal alone was ~60 µs / ~105 µs through crypto.subtle against ~14 µs /
 * ~27 µs through createCipheriv.) So the Node platform passes `nodeAead` (src/node/aead.ts,
 * synchronous) and keeps today's cost; browsers, which have nothing else, and the tests that prove
 * equivalence use {@link webCryptoAead}. Both produce the same bytes (test/fixtures/e2ee-vectors.json
 * checks each).
 *
 * A synchronous AEAD makes PeerCipher's seal/open return plain Uint8Arrays; an asynchronous one
 * makes them return Promises (see peer-cipher.ts).
 */
import { subtle, type WebCryptoKey } from './subtle.js';

/** An AEAD key in whatever form its AEAD wants (a CryptoKey, a node:crypto KeyObject). Opaque. */
export interface AeadKey {
  readonly __aeadKey?: never;
}

/** Bytes of the GCM tag appended to every ciphertext. */
export const GCM_TAG_BYTES = 16;

export interface Aead {
  /** For logs and benches, e.g. 'webcrypto', 'node:crypto'. */
  readonly name: string;
  /** Makes a key from 32 raw bytes; the caller zeroes `raw` afterwards, so copy it if kept. */
  importKey(raw: Uint8Array): AeadKey | Promise<AeadKey>;
  /**
   * Returns `prefix | ciphertext | tag` (tag GCM_TAG_BYTES). `prefix` is cleartext the caller wants
   * in front (written by the AEAD so the output is assembled in one copy). `plaintext`, `nonce` and
   * `aad` may be reused by the caller as soon as this returns (seal.ts builds every AAD in one buffer).
   */
  seal(key: AeadKey, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, prefix: Uint8Array): Uint8Array | Promise<Uint8Array>;
  /**
   * Opens `ciphertext | tag`. Returns null when the tag does not verify; never returns (or leaks)
   * unauthenticated plaintext. Like seal(), it has read `nonce` and `aad` by the time it returns.
   */
  open(key: AeadKey, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | null | Promise<Uint8Array | null>;
}

function webKey(key: AeadKey): WebCryptoKey {
  return key as unknown as WebCryptoKey;
}

/** AES-256-GCM on WebCrypto (browsers; Node too, but slower than src/node's nodeAead). Asynchronous. */
export const webCryptoAead: Aead = {
  name: 'webcrypto',

  async importKey(raw: Uint8Array): Promise<AeadKey> {
    const key = await subtle().importKey('raw', raw, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
    return key as unknown as AeadKey;
  },

  async seal(key: AeadKey, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, prefix: Uint8Array): Promise<Uint8Array> {
    // encrypt() takes a copy of its inputs before it returns the promise (the Web Cryptography
    // API's encrypt method, its first steps), so the caller may reuse `plaintext` at once.
    const body = await subtle().encrypt({ name: 'AES-GCM', iv: nonce, additionalData: aad, tagLength: GCM_TAG_BYTES * 8 }, webKey(key), plaintext);
    const out = new Uint8Array(prefix.length + body.byteLength);
    out.set(prefix, 0);
    out.set(new Uint8Array(body), prefix.length);
    return out;
  },

  async open(key: AeadKey, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Promise<Uint8Array | null> {
    try {
      // WebCrypto verifies the tag before it returns anything: no unauthenticated plaintext escapes.
      const plain = await subtle().decrypt({ name: 'AES-GCM', iv: nonce, additionalData: aad, tagLength: GCM_TAG_BYTES * 8 }, webKey(key), sealed);
      return new Uint8Array(plain);
    } catch (err) {
      // OperationError is "the tag did not verify"; anything else is a bug worth seeing.
      if ((err as { name?: unknown }).name === 'OperationError') return null;
      throw err;
    }
  },
};
