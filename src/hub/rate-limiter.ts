/**
 * Token bucket: `rate` tokens per second, at most `burst` saved up. Pure; the caller passes the clock.
 * Counts in thousandths of a token so integer rates and millisecond clocks refill exactly (floating
 * point sums like 10 × 0.1 fall just short of 1 and would refuse a client sending at exactly `rate`).
 */
export class TokenBucket {
  private milliTokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    now: number,
  ) {
    this.milliTokens = burst * 1000;
    this.last = now;
  }

  /** Takes one token if there is one. */
  take(now: number): boolean {
    const elapsedMs = now - this.last;
    if (elapsedMs > 0) {
      this.milliTokens = Math.min(this.burst * 1000, this.milliTokens + elapsedMs * this.rate);
      this.last = now;
    }
    if (this.milliTokens >= 1000) {
      this.milliTokens -= 1000;
      return true;
    }
    return false;
  }
}

/** Counts rejections in a sliding window; `add` says when the count went past the limit. */
export class StrikeCounter {
  private readonly times: number[] = [];

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
  ) {}

  /** Records a strike; true when more than `max` strikes fall within the window. */
  add(now: number): boolean {
    this.times.push(now);
    while (this.times.length > 0 && (this.times[0] ?? now) <= now - this.windowMs) this.times.shift();
    return this.times.length > this.max;
  }

  get count(): number {
    return this.times.length;
  }
}
