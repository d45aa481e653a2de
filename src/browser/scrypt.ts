/**
 * scrypt (RFC 7914) for browsers, which have none: PBKDF2-HMAC-SHA256 from WebCrypto around
 * scryptROMix with the Salsa20/8 core in plain JS. The engine's deriveRoomKey takes it as its
 * ScryptFunction (Node passes node:crypto's instead; both give the same bytes: RFC 7914's test
 * vectors and test/fixtures/e2ee-vectors.json check that).
 */
import type { ScryptFunction, ScryptParams } from '../engine/crypto/index.js';
import { subtle } from '../engine/crypto/subtle.js';

async function pbkdf2Sha256(password: Uint8Array, salt: Uint8Array, bytes: number): Promise<Uint8Array> {
  const key = await subtle().importKey('raw', password, 'PBKDF2', false, ['deriveBits']);
  return new Uint8Array(await subtle().deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations: 1 }, key, bytes * 8));
}

/** {@link scrypt} in the engine's ScryptFunction shape (`maxmem` is not enforced here). */
export const browserScrypt: ScryptFunction = (password: Uint8Array, salt: Uint8Array, keyLength: number, params: ScryptParams) =>
  scrypt(password, salt, params.N, params.r, params.p, keyLength);

/**
 * scrypt (RFC 7914): PBKDF2-HMAC-SHA256 (WebCrypto, one iteration) around scryptROMix with the
 * Salsa20/8 core in plain JS. Memory: 128·r·N bytes (32 MiB for the room key). Blocks the thread
 * for the ROMix (a few hundred ms at the room key's cost): it runs once per join.
 */
export async function scrypt(password: Uint8Array, salt: Uint8Array, N: number, r: number, p: number, dkLen: number): Promise<Uint8Array> {
  if (!Number.isInteger(N) || N < 2 || (N & (N - 1)) !== 0) throw new RangeError('scrypt N must be a power of 2 greater than 1');
  if (!Number.isInteger(r) || r < 1 || !Number.isInteger(p) || p < 1 || p * r >= 2 ** 30) throw new RangeError('scrypt r and p must be positive integers with p·r < 2^30');
  const blockWords = 32 * r;
  const b = await pbkdf2Sha256(password, salt, p * 128 * r);
  const words = new Uint32Array(p * blockWords);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < words.length; i++) words[i] = view.getUint32(i * 4, true);
  const V = new Uint32Array(blockWords * N);
  const X = new Uint32Array(blockWords);
  const Y = new Uint32Array(blockWords);
  const T = new Uint32Array(16);
  for (let i = 0; i < p; i++) {
    const Bi = words.subarray(i * blockWords, (i + 1) * blockWords);
    X.set(Bi);
    for (let j = 0; j < N; j++) {
      V.set(X, j * blockWords);
      blockMix(X, Y, T, r);
    }
    for (let j = 0; j < N; j++) {
      const k = (X[(2 * r - 1) * 16] as number) & (N - 1);
      const at = k * blockWords;
      for (let w = 0; w < blockWords; w++) X[w] = (X[w] as number) ^ (V[at + w] as number);
      blockMix(X, Y, T, r);
    }
    Bi.set(X);
  }
  V.fill(0);
  for (let i = 0; i < words.length; i++) view.setUint32(i * 4, words[i] as number, true);
  const out = await pbkdf2Sha256(password, b, dkLen);
  b.fill(0);
  words.fill(0);
  X.fill(0);
  Y.fill(0);
  return out;
}

/** scryptBlockMix with Salsa20/8, in place on B (Y is scratch of the same size, T 16 words). */
function blockMix(B: Uint32Array, Y: Uint32Array, T: Uint32Array, r: number): void {
  T.set(B.subarray((2 * r - 1) * 16, 2 * r * 16));
  for (let i = 0; i < 2 * r; i++) {
    for (let w = 0; w < 16; w++) T[w] = (T[w] as number) ^ (B[i * 16 + w] as number);
    salsa208(T);
    // Even blocks go to the first half of the output, odd ones to the second.
    Y.set(T, ((i & 1) === 0 ? i / 2 : r + (i - 1) / 2) * 16);
  }
  B.set(Y);
}

/** The Salsa20/8 core (RFC 7914 §3), in place on 16 words. */
function salsa208(B: Uint32Array): void {
  let x0 = B[0] as number, x1 = B[1] as number, x2 = B[2] as number, x3 = B[3] as number;
  let x4 = B[4] as number, x5 = B[5] as number, x6 = B[6] as number, x7 = B[7] as number;
  let x8 = B[8] as number, x9 = B[9] as number, x10 = B[10] as number, x11 = B[11] as number;
  let x12 = B[12] as number, x13 = B[13] as number, x14 = B[14] as number, x15 = B[15] as number;
  let u: number;
  for (let i = 0; i < 8; i += 2) {
    u = (x0 + x12) | 0; x4 ^= (u << 7) | (u >>> 25);
    u = (x4 + x0) | 0; x8 ^= (u << 9) | (u >>> 23);
    u = (x8 + x4) | 0; x12 ^= (u << 13) | (u >>> 19);
    u = (x12 + x8) | 0; x0 ^= (u << 18) | (u >>> 14);
    u = (x5 + x1) | 0; x9 ^= (u << 7) | (u >>> 25);
    u = (x9 + x5) | 0; x13 ^= (u << 9) | (u >>> 23);
    u = (x13 + x9) | 0; x1 ^= (u << 13) | (u >>> 19);
    u = (x1 + x13) | 0; x5 ^= (u << 18) | (u >>> 14);
    u = (x10 + x6) | 0; x14 ^= (u << 7) | (u >>> 25);
    u = (x14 + x10) | 0; x2 ^= (u << 9) | (u >>> 23);
    u = (x2 + x14) | 0; x6 ^= (u << 13) | (u >>> 19);
    u = (x6 + x2) | 0; x10 ^= (u << 18) | (u >>> 14);
    u = (x15 + x11) | 0; x3 ^= (u << 7) | (u >>> 25);
    u = (x3 + x15) | 0; x7 ^= (u << 9) | (u >>> 23);
    u = (x7 + x3) | 0; x11 ^= (u << 13) | (u >>> 19);
    u = (x11 + x7) | 0; x15 ^= (u << 18) | (u >>> 14);
    u = (x0 + x3) | 0; x1 ^= (u << 7) | (u >>> 25);
    u = (x1 + x0) | 0; x2 ^= (u << 9) | (u >>> 23);
    u = (x2 + x1) | 0; x3 ^= (u << 13) | (u >>> 19);
    u = (x3 + x2) | 0; x0 ^= (u << 18) | (u >>> 14);
    u = (x5 + x4) | 0; x6 ^= (u << 7) | (u >>> 25);
    u = (x6 + x5) | 0; x7 ^= (u << 9) | (u >>> 23);
    u = (x7 + x6) | 0; x4 ^= (u << 13) | (u >>> 19);
    u = (x4 + x7) | 0; x5 ^= (u << 18) | (u >>> 14);
    u = (x10 + x9) | 0; x11 ^= (u << 7) | (u >>> 25);
    u = (x11 + x10) | 0; x8 ^= (u << 9) | (u >>> 23);
    u = (x8 + x11) | 0; x9 ^= (u << 13) | (u >>> 19);
    u = (x9 + x8) | 0; x10 ^= (u << 18) | (u >>> 14);
    u = (x15 + x14) | 0; x12 ^= (u << 7) | (u >>> 25);
    u = (x12 + x15) | 0; x13 ^= (u << 9) | (u >>> 23);
    u = (x13 + x12) | 0; x14 ^= (u << 13) | (u >>> 19);
    u = (x14 + x13) | 0; x15 ^= (u << 18) | (u >>> 14);
  }
  B[0] = (B[0] as number) + x0; B[1] = (B[1] as number) + x1; B[2] = (B[2] as number) + x2; B[3] = (B[3] as number) + x3;
  B[4] = (B[4] as number) + x4; B[5] = (B[5] as number) + x5; B[6] = (B[6] as number) + x6; B[7] = (B[7] as number) + x7;
  B[8] = (B[8] as number) + x8; B[9] = (B[9] as number) + x9; B[10] = (B[10] as number) + x10; B[11] = (B[11] as number) + x11;
  B[12] = (B[12] as number) + x12; B[13] = (B[13] as number) + x13; B[14] = (B[14] as number) + x14; B[15] = (B[15] as number) + x15;
}
