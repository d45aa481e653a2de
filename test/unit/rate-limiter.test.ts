/** TokenBucket and StrikeCounter with an injected clock. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { StrikeCounter, TokenBucket } from '../../src/hub/rate-limiter.js';

function takeAll(bucket: TokenBucket, now: number, max = 10_000): number {
  let n = 0;
  while (n < max && bucket.take(now)) n++;
  return n;
}

describe('TokenBucket', () => {
  it('starts full: exactly `burst` messages pass at one instant', () => {
    const b = new TokenBucket(10, 5, 1_000);
    expect(takeAll(b, 1_000)).toBe(5);
    expect(b.take(1_000)).toBe(false);
  });

  it('refills at `rate` per second', () => {
    const b = new TokenBucket(10, 5, 0);
    takeAll(b, 0);
    expect(b.take(50)).toBe(false); // half a token
    expect(b.take(100)).toBe(true); // one token after 100 ms at 10/s
    expect(b.take(100)).toBe(false);
    expect(takeAll(b, 400)).toBe(3);
  });

  it('never saves more than `burst`', () => {
    const b = new TokenBucket(100, 3, 0);
    takeAll(b, 0);
    expect(takeAll(b, 60_000)).toBe(3);
  });

  it('accumulates fractional refills across calls', () => {
    const b = new TokenBucket(1, 1, 0);
    expect(b.take(0)).toBe(true);
    for (let t = 100; t < 1_000; t += 100) expect(b.take(t)).toBe(false);
    expect(b.take(1_000)).toBe(true);
  });

  it('a clock going backwards grants nothing and does not break later refills', () => {
    const b = new TokenBucket(10, 2, 10_000);
    takeAll(b, 10_000);
    expect(b.take(5_000)).toBe(false);
    expect(b.take(10_000)).toBe(false);
    expect(b.take(10_100)).toBe(true);
  });

  it('over any period passes at most burst + rate × seconds (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000 }),
        fc.integer({ min: 1, max: 100 }),
        fc.array(fc.integer({ min: 0, max: 200 }), { minLength: 1, maxLength: 200 }),
        (rate, burst, steps) => {
          const b = new TokenBucket(rate, burst, 0);
          let now = 0;
          let passed = 0;
          for (const step of steps) {
            now += step;
            if (b.take(now)) passed++;
          }
          expect(passed).toBeLessThanOrEqual(Math.floor(burst + (rate * now) / 1000) + 1e-9);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a client at the configured rate is never refused (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 500 }), fc.integer({ min: 1, max: 50 }), (rate, burst) => {
        const b = new TokenBucket(rate, burst, 0);
        const interval = Math.ceil(1000 / rate);
        for (let i = 0; i < 100; i++) expect(b.take(i * interval)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

describe('StrikeCounter', () => {
  it('says true only when more than `max` strikes fall in the window', () => {
    const s = new StrikeCounter(3, 1_000);
    expect(s.add(0)).toBe(false);
    expect(s.add(10)).toBe(false);
    expect(s.add(20)).toBe(false);
    expect(s.count).toBe(3);
    expect(s.add(30)).toBe(true);
    expect(s.count).toBe(4);
  });

  it('forgets strikes older than the window', () => {
    const s = new StrikeCounter(2, 1_000);
    s.add(0);
    s.add(500);
    // At 1000 the strike at 0 is exactly one window old and no longer counts.
    expect(s.add(1_000)).toBe(false);
    expect(s.count).toBe(2);
    expect(s.add(1_400)).toBe(true);
    // A quiet spell longer than the window clears everything.
    expect(s.add(10_000)).toBe(false);
    expect(s.count).toBe(1);
  });

  it('a slow trickle of strikes never trips it', () => {
    const s = new StrikeCounter(1, 1_000);
    for (let t = 0; t < 100_000; t += 1_000) expect(s.add(t)).toBe(false);
    expect(s.count).toBe(1);
  });

  it('max 0 trips on the first strike', () => {
    expect(new StrikeCounter(0, 1_000).add(0)).toBe(true);
  });

  it('agrees with a brute-force count over the window (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 1, max: 1_000 }), fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 100 }), (max, windowMs, steps) => {
        const s = new StrikeCounter(max, windowMs);
        const times: number[] = [];
        let now = 0;
        for (const step of steps) {
          now += step;
          times.push(now);
          const inWindow = times.filter((t) => t > now - windowMs).length;
          expect(s.add(now)).toBe(inWindow > max);
          expect(s.count).toBe(inWindow);
        }
      }),
      { numRuns: 300 },
    );
  });
});
