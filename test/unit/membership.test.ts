/** The pure parts of healing membership: who gets probed when, and member lists that events overtake. */
import { describe, expect, it } from 'vitest';
import { MemberReconciler, VanishedPeers, type MemberSnapshot } from '../../src/engine/membership.js';
import type { Participant } from '../../src/protocol/room-contract.js';
import type { DeliveryState } from '../../src/engine/peer-session.js';

const delivery = {} as DeliveryState;
const participant = (peerId: string): Participant => ({ peerId, name: peerId, userId: null, capabilities: { native: true }, meta: {}, joinedAt: 0 });

function deferred<T>(): { promise: Promise<T>; resolve(v: T): void; reject(e: unknown): void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('VanishedPeers', () => {
  it('probes a timed-out peer once per interval until told to stop, and expires old entries', () => {
    const v = new VanishedPeers();
    v.add('a', { participant: participant('a'), delivery, at: 1_000, reason: 'timeout', probing: true });
    v.add('b', { participant: participant('b'), delivery, at: 1_000, reason: 'disconnected', probing: false });
    expect(v.dueForProbe(1_100, 500)).toEqual([]);
    expect(v.dueForProbe(1_500, 500)).toEqual(['a']);
    expect(v.dueForProbe(1_900, 500)).toEqual([]);
    expect(v.dueForProbe(2_000, 500)).toEqual(['a']);
    v.setProbing('a', false);
    expect(v.dueForProbe(9_000, 500)).toEqual([]);
    v.setProbing('b', true);
    expect(v.dueForProbe(9_000, 500)).toEqual(['b']);
    v.expire(100_000, 50_000);
    expect(v.get('a')).toBeUndefined();
    expect(v.take('b')).toBeUndefined();
  });

  it('take() removes the entry it returns', () => {
    const v = new VanishedPeers();
    v.add('a', { participant: participant('a'), delivery, at: 0, reason: 'timeout', probing: true });
    expect(v.take('a')?.participant.peerId).toBe('a');
    expect(v.get('a')).toBeUndefined();
  });
});

describe('MemberReconciler', () => {
  it('an event that arrives after the request wins over the answer', async () => {
    const answer = deferred<Participant[]>();
    const snapshots: MemberSnapshot[] = [];
    const r = new MemberReconciler(() => answer.promise, (s) => snapshots.push(s), () => false, () => undefined);
    r.noteEvent('old');
    r.request(0);
    r.noteEvent('x'); // e.g. PeerLeft(x) processed before the answer's continuation
    answer.resolve([participant('x'), participant('old')]);
    await answer.promise;
    await Promise.resolve();
    expect(snapshots).toHaveLength(1);
    expect(snapshots[0]!.current('x')).toBe(false);
    expect(snapshots[0]!.current('old')).toBe(true);
    expect(snapshots[0]!.current('never-seen')).toBe(true);
  });

  it('holds items of unknown peers until the answer, then runs those of peers now known and drops the rest', async () => {
    const answer = deferred<Participant[]>();
    const known = new Set<string>();
    let fetches = 0;
    const r = new MemberReconciler(
      () => {
        fetches++;
        return answer.promise;
      },
      (s) => {
        for (const p of s.participants) known.add(p.peerId);
      },
      (id) => known.has(id),
      () => undefined,
    );
    const ran: string[] = [];
    r.hold('a', () => ran.push('a1'), 0);
    r.hold('a', () => ran.push('a2'), 10);
    r.hold('z', () => ran.push('z1'), 20);
    expect(fetches).toBe(1); // one request in flight serves them all
    answer.resolve([participant('a')]);
    await answer.promise;
    await Promise.resolve();
    // The hold() calls during the flight ask for one more round, which sees the same answer.
    expect(ran).toEqual(['a1', 'a2']);
  });

  it('throttles requests, and does nothing against a hub without the members feature', () => {
    let fetches = 0;
    const r = new MemberReconciler(
      () => {
        fetches++;
        return new Promise<Participant[]>(() => undefined);
      },
      () => undefined,
      () => false,
      () => undefined,
      1_000,
    );
    r.request(0);
    expect(fetches).toBe(1);
    const none = new MemberReconciler(undefined, () => undefined, () => false, () => undefined);
    expect(none.available).toBe(false);
    none.hold('a', () => undefined, 0);
    none.request(0, true);
  });

  it('a failed request drops held items and reports the error', async () => {
    const answer = deferred<Participant[]>();
    const errors: unknown[] = [];
    const ran: string[] = [];
    const r = new MemberReconciler(() => answer.promise, () => undefined, () => true, (e) => errors.push(e));
    r.hold('a', () => ran.push('a'), 0);
    answer.reject(new Error('hub gone'));
    await answer.promise.catch(() => undefined);
    await Promise.resolve();
    expect(errors).toHaveLength(1);
    expect(ran).toEqual([]);
  });
});
