/** Frames carved out of a per-sender slab (engine/frame-slab.ts) instead of an ArrayBuffer each. */
import { describe, expect, it } from 'vitest';
import { FRAME_SLAB_MAX_FRAME_BYTES, FrameSlab } from '../../src/engine/frame-slab.js';

describe('FrameSlab', () => {
  it('hands out zeroed, disjoint, 8-byte-aligned views of one slab until it is full', () => {
    const slab = new FrameSlab(256);
    const a = slab.alloc(86);
    const b = slab.alloc(13);
    expect(a.buffer).toBe(b.buffer);
    expect([a.byteOffset, b.byteOffset]).toEqual([0, 88]);
    expect(a.every((x) => x === 0) && b.every((x) => x === 0)).toBe(true);
    a.fill(1);
    expect(b.every((x) => x === 0)).toBe(true);
    const c = slab.alloc(200); // does not fit behind b: a new slab
    expect(c.buffer).not.toBe(a.buffer);
    expect(c.byteOffset).toBe(0);
  });

  it('gives a large frame its own array, so it never pins a slab', () => {
    const slab = new FrameSlab();
    const small = slab.alloc(100);
    const big = slab.alloc(FRAME_SLAB_MAX_FRAME_BYTES + 1);
    expect(big.buffer).not.toBe(small.buffer);
    expect(big.byteLength).toBe(big.buffer.byteLength);
    expect(slab.alloc(100).buffer).toBe(small.buffer);
  });
});
