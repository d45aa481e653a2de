/**
 * The bound that spares the peer session a native bufferedAmount() call per message
 * (engine/buffered-bound.ts): asked only when what was sent since could cross the mark.
 */
import { describe, expect, it } from 'vitest';
import { BufferedBound } from '../../src/engine/buffered-bound.js';
import type { PeerLink } from '../../src/engine/peer-link.js';

function linkBuffering(amounts: number[]): { link: PeerLink; asked: () => number } {
  let asked = 0;
  const link = {
    bufferedAmount: () => amounts[Math.min(asked++, amounts.length - 1)] as number,
  } as unknown as PeerLink;
  return { link, asked: () => asked };
}

describe('BufferedBound', () => {
  it('asks the link once, then only when what was sent since could cross the mark', () => {
    const { link, asked } = linkBuffering([100, 900, 300]);
    const bound = new BufferedBound();
    expect(bound.above(link, 1_000)).toBe(false);
    expect(asked()).toBe(1);
    bound.sent(link, 500);
    expect(bound.above(link, 1_000)).toBe(false); // 100 + 500 <= 1000: no need to ask
    expect(asked()).toBe(1);
    bound.sent(link, 401);
    expect(bound.above(link, 1_000)).toBe(false); // might be 1001: asks, gets 900
    expect(asked()).toBe(2);
    bound.sent(link, 101);
    expect(bound.above(link, 1_000)).toBe(false); // asks again (1001), gets 300
    expect(asked()).toBe(3);
  });

  it('reports a full buffer, and asks again every time until it drains', () => {
    const { link, asked } = linkBuffering([2_000, 2_000, 10]);
    const bound = new BufferedBound();
    expect(bound.above(link, 1_000)).toBe(true);
    expect(bound.above(link, 1_000)).toBe(true);
    expect(bound.above(link, 1_000)).toBe(false);
    expect(asked()).toBe(3);
  });

  it('bytes sent on another link count for nothing, and a new link is asked', () => {
    const first = linkBuffering([0]);
    const second = linkBuffering([5_000]);
    const bound = new BufferedBound();
    expect(bound.above(first.link, 1_000)).toBe(false);
    bound.sent(second.link, 10_000);
    expect(bound.above(first.link, 1_000)).toBe(false);
    expect(first.asked()).toBe(1);
    expect(bound.above(second.link, 1_000)).toBe(true);
    expect(second.asked()).toBe(1);
  });

  it('a link that throws (closing) is not congested', () => {
    const link = { bufferedAmount: () => { throw new Error('closed'); } } as unknown as PeerLink;
    expect(new BufferedBound().above(link, 1_000)).toBe(false);
  });
});
