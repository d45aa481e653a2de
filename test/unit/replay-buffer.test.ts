/** ReplayBuffer: the pure bookkeeping behind SignalR stateful reconnect (Ack / Sequence). */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ReplayBuffer } from '../../src/hub/replay-buffer.js';

const rec = (n: number): string => `{"type":1,"target":"M","arguments":[${n}]}\u001e`;

function sent(buffer: ReplayBuffer, count: number, from = 1): void {
  for (let i = 0; i < count; i++) buffer.recordSent(rec(from + i));
}

describe('ReplayBuffer: outbound numbering and acks', () => {
  it('starts empty: nothing to replay, resend starts at 1', () => {
    const b = new ReplayBuffer(1_000);
    expect(b.resendStart()).toBe(1);
    expect(b.unacked()).toEqual([]);
    expect(b.bufferedBytes).toBe(0);
    expect(b.overflowed).toBe(false);
  });

  it('numbers sent records from 1 and keeps them in order until acked', () => {
    const b = new ReplayBuffer(10_000);
    sent(b, 3);
    expect(b.resendStart()).toBe(1);
    expect(b.unacked()).toEqual([rec(1), rec(2), rec(3)]);
    expect(b.bufferedBytes).toBe(rec(1).length + rec(2).length + rec(3).length);
  });

  it('an Ack drops everything up to and including its id', () => {
    const b = new ReplayBuffer(10_000);
    sent(b, 5);
    b.ack(2);
    expect(b.resendStart()).toBe(3);
    expect(b.unacked()).toEqual([rec(3), rec(4), rec(5)]);
    expect(b.bufferedBytes).toBe(rec(3).length + rec(4).length + rec(5).length);
    b.ack(5);
    expect(b.unacked()).toEqual([]);
    expect(b.bufferedBytes).toBe(0);
    // Empty buffer: the next message to be sent is where a resend would start.
    expect(b.resendStart()).toBe(6);
  });

  it('stale and repeated Acks are harmless; an Ack beyond what was sent empties the buffer', () => {
    const b = new ReplayBuffer(10_000);
    sent(b, 4);
    b.ack(3);
    b.ack(1);
    b.ack(3);
    b.ack(0);
    expect(b.unacked()).toEqual([rec(4)]);
    expect(b.resendStart()).toBe(4);
    b.ack(1_000);
    expect(b.unacked()).toEqual([]);
    expect(b.resendStart()).toBe(5);
    sent(b, 1, 5);
    expect(b.resendStart()).toBe(5);
    expect(b.unacked()).toEqual([rec(5)]);
  });

  it('bufferedBytes always equals the sum of the unacked records (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.record({ send: fc.string({ maxLength: 30 }) }), fc.record({ ack: fc.nat({ max: 40 }) })), { maxLength: 60 }),
        (ops) => {
          const b = new ReplayBuffer(1_000_000);
          let count = 0;
          for (const op of ops) {
            if ('send' in op) {
              b.recordSent(op.send);
              count++;
            } else {
              b.ack(op.ack);
            }
          }
          expect(b.bufferedBytes).toBe(b.unacked().reduce((n, r) => n + r.length, 0));
          expect(b.resendStart()).toBe(count + 1 - b.unacked().length);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('ReplayBuffer: overflow', () => {
  it('sets the flag and drops the window once more than the limit is unacked', () => {
    const limit = rec(1).length * 3;
    const b = new ReplayBuffer(limit);
    sent(b, 3);
    expect(b.overflowed).toBe(false);
    expect(b.bufferedBytes).toBe(limit);
    sent(b, 1, 4);
    expect(b.overflowed).toBe(true);
    expect(b.unacked()).toEqual([]);
    expect(b.bufferedBytes).toBe(0);
  });

  it('stays overflowed: later sends are counted but not kept, acks do not restore it', () => {
    const b = new ReplayBuffer(10);
    b.recordSent('x'.repeat(11));
    expect(b.overflowed).toBe(true);
    sent(b, 2, 2);
    b.ack(3);
    expect(b.overflowed).toBe(true);
    expect(b.unacked()).toEqual([]);
    expect(b.bufferedBytes).toBe(0);
    // Numbering went on: the next id is 4.
    expect(b.resendStart()).toBe(4);
  });

  it('acks in time keep it from overflowing', () => {
    const b = new ReplayBuffer(rec(100).length * 2);
    // Fixed-width records (ids 1..101), each acked right after the next one is sent.
    for (let id = 1; id <= 101; id++) {
      b.recordSent(rec(99 + id));
      b.ack(id - 1);
    }
    expect(b.overflowed).toBe(false);
    expect(b.unacked()).toEqual([rec(200)]);
  });
});

describe('ReplayBuffer: inbound counting and duplicates', () => {
  it('accepts each new trackable message; non-trackable ones are not counted', () => {
    const b = new ReplayBuffer(1_000);
    expect(b.takeAckDue()).toBeUndefined();
    expect(b.accept('trackable')).toBe(true);
    expect(b.accept('other')).toBe(true);
    expect(b.accept('trackable')).toBe(true);
    expect(b.takeAckDue()).toBe(2);
    // Nothing new since the last Ack.
    expect(b.takeAckDue()).toBeUndefined();
    expect(b.accept('other')).toBe(true);
    expect(b.takeAckDue()).toBeUndefined();
    expect(b.accept('trackable')).toBe(true);
    expect(b.takeAckDue()).toBe(3);
  });

  it('after a transport drop ignores everything until the Sequence, then skips replayed duplicates', () => {
    const b = new ReplayBuffer(1_000);
    for (let i = 0; i < 5; i++) expect(b.accept('trackable')).toBe(true);
    expect(b.takeAckDue()).toBe(5);
    b.transportLost();
    // Before the peer's Sequence nothing counts, not even a Ping.
    expect(b.accept('trackable')).toBe(false);
    expect(b.accept('other')).toBe(false);
    expect(b.accept('sequence')).toBe(true);
    // The peer replays from 3 (it had not seen our Ack for 3-5).
    expect(b.resetSequence(3)).toBe(true);
    expect(b.accept('trackable')).toBe(false); // 3: duplicate
    expect(b.accept('trackable')).toBe(false); // 4: duplicate
    expect(b.accept('trackable')).toBe(false); // 5: duplicate
    expect(b.accept('trackable')).toBe(true); // 6: new
    expect(b.accept('other')).toBe(true);
    expect(b.takeAckDue()).toBe(6);
  });

  it('a Sequence at exactly the next expected id means nothing is replayed', () => {
    const b = new ReplayBuffer(1_000);
    b.accept('trackable');
    b.accept('trackable');
    b.transportLost();
    expect(b.accept('sequence')).toBe(true);
    expect(b.resetSequence(3)).toBe(true);
    expect(b.accept('trackable')).toBe(true);
    expect(b.takeAckDue()).toBe(3);
  });

  it('a Sequence beyond what was received is refused (false) and changes nothing', () => {
    const b = new ReplayBuffer(1_000);
    b.accept('trackable');
    b.accept('trackable');
    expect(b.resetSequence(4)).toBe(false);
    expect(b.resetSequence(1_000)).toBe(false);
    // The counter is unchanged: message 3 is still new.
    expect(b.accept('trackable')).toBe(true);
    expect(b.takeAckDue()).toBe(3);
    const fresh = new ReplayBuffer(1_000);
    expect(fresh.resetSequence(2)).toBe(false);
    expect(fresh.resetSequence(1)).toBe(true);
  });

  it('duplicates are never accepted twice across any replay start (property)', () => {
    fc.assert(
      fc.property(fc.nat({ max: 20 }), fc.nat({ max: 20 }), fc.nat({ max: 10 }), (before, replayFromBack, after) => {
        const b = new ReplayBuffer(1_000);
        for (let i = 0; i < before; i++) b.accept('trackable');
        b.transportLost();
        b.accept('sequence');
        const start = Math.max(1, before + 1 - replayFromBack);
        expect(b.resetSequence(start)).toBe(true);
        const replayed = before + 1 - start;
        let accepted = 0;
        for (let i = 0; i < replayed + after; i++) if (b.accept('trackable')) accepted++;
        expect(accepted).toBe(after);
        expect(b.takeAckDue()).toBe(before + after > 0 ? before + after : undefined);
      }),
      { numRuns: 300 },
    );
  });
});
