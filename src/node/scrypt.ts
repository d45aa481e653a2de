/** scrypt (RFC 7914) from node:crypto, for the engine's deriveRoomKey (it runs in libuv's pool). */
import { scrypt } from 'node:crypto';
import type { ScryptFunction } from '../engine/crypto/index.js';

export const nodeScrypt: ScryptFunction = (password, salt, keyLength, params) =>
  new Promise((resolve, reject) => {
    scrypt(password, salt, keyLength, { N: params.N, r: params.r, p: params.p, maxmem: params.maxmem }, (err, derived) => {
      if (err) reject(err);
      else resolve(new Uint8Array(derived.buffer, derived.byteOffset, derived.byteLength));
    });
  });
