/**
 * The browser build's incremental SHA-256 (src/browser/sha256.ts), which hashes files as they
 * stream in a page: the FIPS 180-4 examples, and node:crypto's digest for any content split into
 * any pieces (padding crosses block boundaries at 55/56 and 63/64 bytes).
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Sha256 } from '../../src/browser/sha256.js';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('Sha256 (browser)', () => {
  it('gives the FIPS 180-4 example digests', () => {
    expect(new Sha256().update(utf8('abc')).hex()).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(new Sha256().hex()).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(new Sha256().update(utf8('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')).hex()).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
    const million = new Sha256();
    const thousand = utf8('a'.repeat(1000));
    for (let i = 0; i < 1000; i++) million.update(thousand);
    expect(million.hex()).toBe('cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0');
  });

  it('equals node:crypto for any content fed in any pieces', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 700 }), fc.array(fc.nat({ max: 130 }), { maxLength: 20 }), (bytes, cuts) => {
        const hash = new Sha256();
        let at = 0;
        for (const cut of cuts) {
          const end = Math.min(bytes.length, at + cut);
          hash.update(bytes.subarray(at, end));
          at = end;
        }
        hash.update(bytes.subarray(at));
        expect(hash.hex()).toBe(createHash('sha256').update(bytes).digest('hex'));
      }),
      { numRuns: 300 },
    );
    for (const n of [55, 56, 57, 63, 64, 65, 119, 120, 128]) {
      const bytes = new Uint8Array(n).map((_, i) => i * 7);
      expect(new Sha256().update(bytes).hex(), `${n} bytes`).toBe(createHash('sha256').update(bytes).digest('hex'));
    }
  });

  it('takes nothing more once finished, and gives the same digest again', () => {
    const hash = new Sha256().update(utf8('abc'));
    const first = hash.hex();
    expect(hash.hex()).toBe(first);
    expect(() => hash.update(utf8('d'))).toThrow(/already finished/);
  });
});
