/**
 * The browsers' pure-JS scrypt (src/browser/scrypt.ts) against RFC 7914 §12's test vectors, and
 * through the engine's ScryptFunction shape. Node's scrypt is checked against it in test/node.
 */
import { describe, expect, it } from 'vitest';
import { browserScrypt, scrypt } from '../../src/browser/scrypt.js';
import { toHex } from '../../src/engine/bytes.js';
import { ROOM_KEY_SCRYPT } from '../../src/engine/crypto/index.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('scrypt (RFC 7914) for browsers', () => {
  it('matches the RFC 7914 §12 test vectors', async () => {
    const vectors = [
      { P: '', S: '', N: 16, r: 1, p: 1, dk: '77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906' },
      { P: 'password', S: 'NaCl', N: 1024, r: 8, p: 16, dk: 'fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640' },
      { P: 'pleaseletmein', S: 'SodiumChloride', N: 16384, r: 8, p: 1, dk: '7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887' },
    ];
    for (const v of vectors) {
      expect(toHex(await scrypt(text(v.P), text(v.S), v.N, v.r, v.p, 64)), `${v.P}/${v.S}`).toBe(v.dk);
      expect(toHex(await browserScrypt(text(v.P), text(v.S), 64, { N: v.N, r: v.r, p: v.p, maxmem: ROOM_KEY_SCRYPT.maxmem })), `${v.P}/${v.S}`).toBe(v.dk);
    }
  });

  it('refuses parameters RFC 7914 does not define', async () => {
    await expect(scrypt(text('pw'), text('salt'), 1000, 1, 1, 32)).rejects.toThrow(RangeError);
    await expect(scrypt(text('pw'), text('salt'), 16, 0, 1, 32)).rejects.toThrow(RangeError);
  });
});
