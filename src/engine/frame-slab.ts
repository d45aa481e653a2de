/**
 * Small frames carved out of one larger array instead of an ArrayBuffer each: allocating a fresh
 * ArrayBuffer per 64-byte message was a visible share of the reliable RTT (and of GC) in the bench.
 *
 * One slab per reliable sender, on purpose: a slab stays in memory while any frame in it is
 * referenced, and one peer's frames are released in the order they were cut (acks are
 * cumulative), so a slow peer pins at most its own frames plus one slab — never the frames of the
 * other peers of a room, as a slab shared across peers would.
 */

/** Bytes per slab: a few hundred small messages per allocation. */
export const DEFAULT_FRAME_SLAB_BYTES = 32 * 1024;
/** Larger frames get their own array: carving them saves little and would pin a whole slab each. */
export const FRAME_SLAB_MAX_FRAME_BYTES = 2 * 1024;

export class FrameSlab {
  private slab = new Uint8Array(0);
  private at = 0;

  constructor(private readonly slabBytes = DEFAULT_FRAME_SLAB_BYTES) {}

  /** `bytes` zeroed bytes nobody else is handed: a view into the current slab, or a fresh array. */
  readonly alloc = (bytes: number): Uint8Array => {
    if (bytes > FRAME_SLAB_MAX_FRAME_BYTES) return new Uint8Array(bytes);
    if (this.at + bytes > this.slab.length) {
      this.slab = new Uint8Array(this.slabBytes);
      this.at = 0;
    }
    const out = this.slab.subarray(this.at, this.at + bytes);
    // 8-byte steps keep each frame's start aligned, as a fresh array's would be.
    this.at += (bytes + 7) & ~7;
    return out;
  };
}
