/**
 * Incremental SHA-256 (FIPS 180-4) in plain JS, for hashing files as they stream: WebCrypto only
 * digests a whole buffer at once, which would hold a second copy of every file sent or received.
 * test/unit/browser-sha256.test.ts checks it against node:crypto and the FIPS examples.
 */

// First 32 bits of the fractional parts of the cube roots of the first 64 primes (FIPS 180-4 §4.2.2).
const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
  0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

const BLOCK_BYTES = 64;

export class Sha256 {
  readonly #h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  readonly #w = new Uint32Array(64);
  readonly #block = new Uint8Array(BLOCK_BYTES);
  #blockUsed = 0;
  #length = 0;
  #done = false;

  /** Adds `bytes` to the hash. */
  update(bytes: Uint8Array): this {
    if (this.#done) throw new Error('SHA-256 already finished');
    this.#length += bytes.length;
    let i = 0;
    if (this.#blockUsed > 0) {
      const take = Math.min(BLOCK_BYTES - this.#blockUsed, bytes.length);
      this.#block.set(bytes.subarray(0, take), this.#blockUsed);
      this.#blockUsed += take;
      i = take;
      if (this.#blockUsed < BLOCK_BYTES) return this;
      this.#compress(this.#block, 0);
      this.#blockUsed = 0;
    }
    for (; i + BLOCK_BYTES <= bytes.length; i += BLOCK_BYTES) this.#compress(bytes, i);
    if (i < bytes.length) {
      this.#block.set(bytes.subarray(i));
      this.#blockUsed = bytes.length - i;
    }
    return this;
  }

  /** The digest as lower-case hex; the hash takes no more input afterwards. */
  hex(): string {
    let out = '';
    for (const byte of this.digest()) out += byte.toString(16).padStart(2, '0');
    return out;
  }

  /** The 32-byte digest; the hash takes no more input afterwards. */
  digest(): Uint8Array {
    if (!this.#done) {
      const bits = this.#length * 8;
      const tail = this.#blockUsed < 56 ? BLOCK_BYTES : 2 * BLOCK_BYTES;
      const pad = new Uint8Array(tail - this.#blockUsed);
      pad[0] = 0x80;
      const view = new DataView(pad.buffer);
      // The length in bits, big-endian, in the last 8 bytes (split: JS bit operations are 32-bit).
      view.setUint32(pad.length - 8, Math.floor(bits / 2 ** 32));
      view.setUint32(pad.length - 4, bits >>> 0);
      this.update(pad);
      this.#done = true;
    }
    const out = new Uint8Array(32);
    const view = new DataView(out.buffer);
    for (let i = 0; i < 8; i++) view.setUint32(i * 4, this.#h[i] as number);
    return out;
  }

  #compress(data: Uint8Array, at: number): void {
    const w = this.#w;
    for (let t = 0; t < 16; t++) {
      const j = at + t * 4;
      w[t] = ((data[j] as number) << 24) | ((data[j + 1] as number) << 16) | ((data[j + 2] as number) << 8) | (data[j + 3] as number);
    }
    for (let t = 16; t < 64; t++) {
      const x = w[t - 15] as number;
      const y = w[t - 2] as number;
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[t] = ((w[t - 16] as number) + s0 + (w[t - 7] as number) + s1) | 0;
    }
    const h = this.#h;
    let a = h[0] as number;
    let b = h[1] as number;
    let c = h[2] as number;
    let d = h[3] as number;
    let e = h[4] as number;
    let f = h[5] as number;
    let g = h[6] as number;
    let hh = h[7] as number;
    for (let t = 0; t < 64; t++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (hh + S1 + ((e & f) ^ (~e & g)) + (K[t] as number) + (w[t] as number)) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h[0] = (h[0] as number) + a;
    h[1] = (h[1] as number) + b;
    h[2] = (h[2] as number) + c;
    h[3] = (h[3] as number) + d;
    h[4] = (h[4] as number) + e;
    h[5] = (h[5] as number) + f;
    h[6] = (h[6] as number) + g;
    h[7] = (h[7] as number) + hh;
  }
}
