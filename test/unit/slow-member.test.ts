/**
 * The slow-member rules of src/hub/slow-member.ts, one by one, on a queue the test sets: when
 * senders wait, for how long, when a member lags, what it is dropped, when it recovers and when it
 * is overdue. Pure logic, fake timers (the real hub and a real frozen socket are in
 * test/hub/slow-member.test.ts).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SlowMemberGuard, relayCapBytes, type SlowMemberLimits } from '../../src/hub/slow-member.js';

const LIMITS: SlowMemberLimits = { highWaterBytes: 1_000, maxBytes: 10_000, waitMs: 50, probationMs: 1_000, closeMs: 5_000 };

function guard(limits = LIMITS): { g: SlowMemberGuard; set(bytes: number): void; changes: boolean[] } {
  let queued = 0;
  const changes: boolean[] = [];
  const g = new SlowMemberGuard(limits, { queuedBytes: () => queued, changed: (lagging) => changes.push(lagging) });
  return { g, set: (bytes) => (queued = bytes), changes };
}

/** Settles `p` or reports it pending, after the microtasks of this turn. */
async function state(p: Promise<void> | undefined): Promise<'none' | 'pending' | 'resolved'> {
  if (p === undefined) return 'none';
  let done = false;
  void p.then(() => (done = true));
  await Promise.resolve();
  await Promise.resolve();
  return done ? 'resolved' : 'pending';
}

describe('slow members', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('rule 1: below the high-water mark nobody waits and everything is delivered', () => {
    const { g, set } = guard();
    set(999);
    expect(g.whenWritable(Date.now())).toBeUndefined();
    expect(g.admitsRelay(9_000)).toBe(true);
    expect(g.lagging).toBe(false);
  });

  it('rule 2: above it senders wait until the member drains, and not longer', async () => {
    const { g, set, changes } = guard();
    set(1_500);
    const wait = g.whenWritable(Date.now());
    expect(await state(wait)).toBe('pending');
    set(500);
    g.drained();
    expect(await state(wait)).toBe('resolved');
    expect(g.lagging).toBe(false);
    expect(changes).toEqual([]);
  });

  it('rule 3: a member that did not drain within waitMs lags; then nobody waits, and relays past the cap are dropped', async () => {
    const { g, set, changes } = guard();
    set(1_500);
    const wait = g.whenWritable(Date.now());
    vi.advanceTimersByTime(49);
    expect(await state(wait)).toBe('pending');
    vi.advanceTimersByTime(1);
    expect(await state(wait)).toBe('resolved');
    expect(g.lagging).toBe(true);
    expect(changes).toEqual([true]);
    expect(g.whenWritable(Date.now())).toBeUndefined();
    const cap = relayCapBytes(LIMITS);
    expect(cap).toBe(9_000);
    set(cap - 100);
    expect(g.admitsRelay(100)).toBe(true);
    expect(g.admitsRelay(101)).toBe(false);
  });

  it('every waiter of one episode is released together by one timer', async () => {
    const { g, set } = guard();
    set(2_000);
    const waits = [g.whenWritable(Date.now()), g.whenWritable(Date.now()), g.whenWritable(Date.now())];
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(50);
    expect(await Promise.all(waits.map(state))).toEqual(['resolved', 'resolved', 'resolved']);
  });

  it('a lagging member recovers once it drains below the mark', () => {
    const { g, set, changes } = guard();
    set(1_500);
    void g.whenWritable(Date.now());
    vi.advanceTimersByTime(50);
    set(1_200);
    g.drained();
    expect(g.lagging).toBe(true);
    set(900);
    g.drained();
    expect(g.lagging).toBe(false);
    expect(changes).toEqual([true, false]);
  });

  it('rule 4: within probationMs of lagging, a member above the mark lags again at once, without a wait', () => {
    const { g, set, changes } = guard();
    set(1_500);
    void g.whenWritable(Date.now());
    vi.advanceTimersByTime(50);
    set(0);
    g.drained();
    vi.advanceTimersByTime(500);
    set(1_500);
    expect(g.whenWritable(Date.now())).toBeUndefined();
    expect(g.lagging).toBe(true);
    // After probation the member is waited for again.
    set(0);
    g.drained();
    vi.advanceTimersByTime(1_000);
    set(1_500);
    expect(g.whenWritable(Date.now())).toBeInstanceOf(Promise);
    expect(changes).toEqual([true, false, true, false]);
  });

  it('rule 5: lagging closeMs without a break makes it overdue; recovering resets that', () => {
    const { g, set } = guard();
    set(1_500);
    const start = Date.now();
    void g.whenWritable(start);
    vi.advanceTimersByTime(50);
    expect(g.overdue(start + 50 + 4_999)).toBe(false);
    expect(g.overdue(start + 50 + 5_000)).toBe(true);
    set(0);
    g.drained();
    expect(g.overdue(start + 60_000)).toBe(false);
  });

  it('release() frees waiters at once (the connection closed) and is idempotent', async () => {
    const { g, set } = guard();
    set(1_500);
    const wait = g.whenWritable(Date.now());
    g.release();
    g.release();
    expect(await state(wait)).toBe('resolved');
    expect(vi.getTimerCount()).toBe(0);
    expect(g.lagging).toBe(false);
  });
});
