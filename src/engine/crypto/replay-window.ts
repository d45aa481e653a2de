/**
 * A sliding-window replay filter (the IPsec/DTLS anti-replay bitmap, RFC 4303 §3.4.3) over
 * increasing counters. It accepts each counter once, tolerates reordering within `size`, and
 * rejects anything older than the window. Check before decrypting, commit only after the frame
 * authenticated, so forged frames cannot move the window. With an asynchronous AEAD opens overlap,
 * so the commit, not the check, is the decision (commit returns false for the loser).
 */
export const DEFAULT_REPLAY_WINDOW = 1024;

export type ReplayVerdict = 'ok' | 'replay' | 'too-old';

export class ReplayWindow {
  private readonly bits: Uint32Array;
  private highest = -1;

  constructor(readonly size: number = DEFAULT_REPLAY_WINDOW) {
    if (!Number.isInteger(size) || size < 32 || size % 32 !== 0) throw new RangeError('ReplayWindow size must be a positive multiple of 32');
    this.bits = new Uint32Array(size / 32);
  }

  /** Whether `n` would be accepted now (no state change). */
  check(n: number): ReplayVerdict {
    if (!Number.isSafeInteger(n) || n < 0) return 'too-old';
    if (n > this.highest) return 'ok';
    if (this.highest - n >= this.size) return 'too-old';
    return this.has(n) ? 'replay' : 'ok';
  }

  /** Records `n` as received; returns false (and changes nothing) if it would not be accepted. */
  commit(n: number): boolean {
    if (this.check(n) !== 'ok') return false;
    if (n > this.highest) {
      if (n - this.highest >= this.size) this.bits.fill(0);
      else for (let i = this.highest + 1; i < n; i++) this.clear(i);
      this.highest = n;
    }
    this.set(n);
    return true;
  }

  /** The highest counter committed, -1 if none. */
  get latest(): number {
    return this.highest;
  }

  private has(n: number): boolean {
    const i = n % this.size;
    return ((this.bits[i >>> 5] as number) & (1 << (i & 31))) !== 0;
  }
  private set(n: number): void {
    const i = n % this.size;
    this.bits[i >>> 5] = (this.bits[i >>> 5] as number) | (1 << (i & 31));
  }
  private clear(n: number): void {
    const i = n % this.size;
    this.bits[i >>> 5] = (this.bits[i >>> 5] as number) & ~(1 << (i & 31));
  }
}
