/** The pure parts of file transfer: the chunk format, failure codes, and the incoming-file slots. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeChunk, encodeChunk, FILE_FAIL_CODES, isFileFailCode, OFFER_ID_PATTERN, remoteReason } from '../../src/engine/files/file-wire.js';
import { IncomingFileSlots } from '../../src/engine/files/incoming-file-slots.js';

describe('file chunks', () => {
  it('decode what they encode, for any id and bytes', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9_-]{8,32}$/), fc.uint8Array({ maxLength: 2000 }), (id, data) => {
        const decoded = decodeChunk(encodeChunk(id, data));
        expect(decoded?.id).toBe(id);
        expect(Buffer.from(decoded!.data).equals(Buffer.from(data))).toBe(true);
      }),
    );
  });

  it('reject what is not a chunk, and never throw on arbitrary bytes', () => {
    expect(decodeChunk(new Uint8Array([]))).toBeNull();
    expect(decodeChunk(new Uint8Array([1]))).toBeNull();
    expect(decodeChunk(new Uint8Array([2, 0]))).toBeNull();
    // An id length past the end of the message.
    expect(decodeChunk(new Uint8Array([1, 200, 65, 66]))).toBeNull();
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => void decodeChunk(bytes)));
  });
});

describe('failure codes and remote text', () => {
  it('knows its codes and nothing else', () => {
    for (const code of FILE_FAIL_CODES) expect(isFileFailCode(code)).toBe(true);
    for (const other of ['', 'DUPLICATE', 'toString', 'constructor', 1, null, undefined, {}]) expect(isFileFailCode(other)).toBe(false);
  });

  it('keeps a peer reason a short string', () => {
    expect(remoteReason('no thanks')).toBe('no thanks');
    expect(remoteReason(42)).toBe('');
    expect(remoteReason({ toString: () => 'x' })).toBe('');
    expect(remoteReason('x'.repeat(100_000)).length).toBeLessThanOrEqual(201);
  });

  it('accepts the ids honest senders make and nothing that could hold a separator', () => {
    expect(OFFER_ID_PATTERN.test('AbC-_12345678')).toBe(true);
    for (const bad of ['short', 'a'.repeat(33), 'abcdefgh/ij', 'abcdefgh ij', '../../../x']) expect(OFFER_ID_PATTERN.test(bad)).toBe(false);
  });
});

describe('IncomingFileSlots', () => {
  it('bounds slots per peer, then in total, and says which limit is full', () => {
    const slots = new IncomingFileSlots({ maxPerPeer: 2, maxTotal: 3 });
    const a1 = slots.acquire('a');
    const a2 = slots.acquire('a');
    expect(a1.ok && a2.ok).toBe(true);
    expect(slots.acquire('a')).toEqual({ ok: false, scope: 'peer', limit: 2 });
    const b1 = slots.acquire('b');
    expect(b1.ok).toBe(true);
    expect(slots.acquire('b')).toEqual({ ok: false, scope: 'total', limit: 3 });
    expect(slots.inUse()).toBe(3);
    expect(slots.inUse('a')).toBe(2);
    if (a1.ok) a1.release();
    expect(slots.acquire('b').ok).toBe(true);
  });

  it('release is idempotent: a slot given back twice frees one place only', () => {
    const slots = new IncomingFileSlots({ maxPerPeer: 1, maxTotal: 1 });
    const s = slots.acquire('a');
    if (!s.ok) throw new Error('no slot');
    s.release();
    s.release();
    expect(slots.inUse()).toBe(0);
    expect(slots.acquire('a').ok).toBe(true);
    expect(slots.acquire('b').ok).toBe(false);
  });

  it('never exceeds its limits and returns to zero, whatever the order of acquires and releases', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.constantFrom('a', 'b', 'c'), fc.nat(20))), (ops) => {
        const slots = new IncomingFileSlots({ maxPerPeer: 2, maxTotal: 4 });
        const held: { peer: string; release(): void }[] = [];
        for (const [take, peer, pick] of ops) {
          if (take) {
            const s = slots.acquire(peer);
            if (s.ok) held.push({ peer, release: s.release });
          } else if (held.length > 0) {
            held.splice(pick % held.length, 1)[0]!.release();
          }
          expect(slots.inUse()).toBe(held.length);
          expect(slots.inUse()).toBeLessThanOrEqual(4);
          for (const p of ['a', 'b', 'c']) expect(slots.inUse(p)).toBeLessThanOrEqual(2);
        }
        for (const h of held) h.release();
        expect(slots.inUse()).toBe(0);
      }),
    );
  });
});
