/**
 * Reliable delivery (src/engine/reliable.ts): sender, receiver, reassembly and chunking, alone and
 * end to end over a simulated network of two FIFO paths that drop, duplicate and reorder across
 * each other (a DataChannel and the hub relay), with lossy acks and resends from all()/stale().
 */
import fc from 'fast-check';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { DATA_HEADER_BYTES, FrameFlag, FrameKind, decodeFrame, type DataFrame } from '../../src/protocol/frames.js';
import {
  MAX_OUT_OF_ORDER_FRAMES,
  MessageAssembler,
  ReliableReceiver,
  ReliableSender,
  chunk,
  type AssembledMessage,
} from '../../src/engine/reliable.js';

// ------------------------------------------------------------------ helpers

function data(epoch: number, seq: number, opts: { flags?: number; payload?: Uint8Array; ack?: number; timestamp?: number } = {}): DataFrame {
  return {
    kind: FrameKind.Data,
    flags: opts.flags ?? 0,
    epoch,
    seq,
    ack: opts.ack ?? 0,
    timestamp: opts.timestamp ?? seq,
    payload: opts.payload ?? Uint8Array.of(seq & 0xff),
  };
}

function decodeData(bytes: Uint8Array): DataFrame {
  const frame = decodeFrame(bytes);
  if (frame.kind !== FrameKind.Data) throw new Error(`expected DATA, got kind ${frame.kind}`);
  return frame;
}

const seqs = (frames: readonly DataFrame[]): number[] => frames.map((f) => f.seq);

/** Small deterministic PRNG (mulberry32) driving the network; fast-check picks the seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ------------------------------------------------------------------ end to end over a lossy network

interface Outgoing {
  flags: number;
  payload: Uint8Array;
}

interface NetworkConfig {
  seed: number;
  chunkBytes: number;
  /** Probability a transmission is lost (during the lossy rounds). */
  drop: number;
  /** Probability a transmission is delivered twice (possibly once on each path). */
  dup: number;
  /** Probability an ack on the way back is lost (during the lossy rounds). */
  ackDrop: number;
  /** Rounds with loss; later rounds are lossless so the run must converge. */
  lossyRounds: number;
  /** What the sender resends between rounds: all() (a path switch), stale() (the timer), or alternately. */
  resend: 'all' | 'stale' | 'alternate';
}

interface RunResult {
  received: AssembledMessage[];
  expectedFirstSeqs: number[];
  sender: ReliableSender;
  receiver: ReliableReceiver;
  rounds: number;
}

/**
 * Sends `messages` from a ReliableSender to a ReliableReceiver + MessageAssembler. Each
 * transmission goes onto one of two FIFO paths (or is lost, or duplicated); the receiving side
 * pops from a random non-empty path, so frames reorder across paths but never within one. Acks
 * (cumulativeAck) come back over a lossy, reordering channel into sender.onAck. Between rounds the
 * sender resends everything unacked (all(): a path switch), what is stale (stale(): the resend
 * timer), or alternately.
 */
function runNetwork(messages: readonly Outgoing[], cfg: NetworkConfig): RunResult {
  const rand = prng(cfg.seed);
  const epoch = Math.floor(rand() * 0x1_0000_0000);
  const sender = new ReliableSender(epoch);
  const receiver = new ReliableReceiver();
  const assembler = new MessageAssembler(1 << 20);
  const paths: Uint8Array[][] = [[], []];
  const acksInFlight: number[] = [];
  const received: AssembledMessage[] = [];
  const expectedFirstSeqs: number[] = [];
  let now = 1_000;
  let round = 0;
  const lossy = (): boolean => round < cfg.lossyRounds;

  const transmit = (entry: ReturnType<ReliableSender['push']>): void => {
    entry.sentAt = now;
    if (lossy() && rand() < cfg.drop) return;
    paths[rand() < 0.5 ? 0 : 1]!.push(entry.bytes!);
    if (lossy() && rand() < cfg.dup) paths[rand() < 0.5 ? 0 : 1]!.push(entry.bytes!);
  };

  const deliverOne = (): boolean => {
    const live = paths.filter((p) => p.length > 0);
    if (live.length === 0) return false;
    const path = live[Math.floor(rand() * live.length)]!;
    const frame = decodeData(path.shift()!);
    expect(frame.epoch).toBe(epoch);
    // As PeerInbound takes frames: the allocation-free path first, accept() for everything else.
    let deliver: DataFrame[] = [frame];
    if (!receiver.acceptNext(frame)) {
      const accepted = receiver.accept(frame);
      expect(accepted.reset).toBe(false);
      deliver = accepted.deliver;
    }
    for (const f of deliver) {
      const m = assembler.add(f);
      if (m) received.push(m);
    }
    // The receiver acks now and then (every frame would hide ack-loss bugs).
    if (receiver.ackDue && rand() < 0.3) {
      if (!(lossy() && rand() < cfg.ackDrop)) acksInFlight.push(receiver.cumulativeAck);
      receiver.markAcked();
    }
    return true;
  };

  const deliverAck = (): void => {
    if (acksInFlight.length === 0) return;
    // Acks may overtake each other: older cumulative acks must be harmless.
    const [ack] = acksInFlight.splice(Math.floor(rand() * acksInFlight.length), 1);
    sender.onAck(ack!);
  };

  // Phase 1: send the messages while the network runs concurrently.
  let timestamp = 1_700_000_000_000;
  for (const m of messages) {
    const pieces = chunk(m.payload, cfg.chunkBytes);
    const ts = timestamp++;
    pieces.forEach((piece, i) => {
      const flags = i < pieces.length - 1 ? m.flags | FrameFlag.More : m.flags;
      const entry = sender.push(flags, piece, ts, 0);
      if (i === 0) expectedFirstSeqs.push(entry.seq);
      transmit(entry);
      while (rand() < 0.4 && deliverOne());
      if (rand() < 0.3) deliverAck();
    });
    now += 10;
  }

  // Phase 2: drain, ack, resend until everything is acked.
  const resendAfter = 50;
  for (round = 0; sender.unackedCount > 0; round++) {
    if (round > cfg.lossyRounds + 20) throw new Error(`no convergence after ${round} rounds`);
    while (deliverOne()) if (rand() < 0.2) deliverAck();
    // A final, reliable ack (the session sends one after ACK_DELAY_MS even with nothing new).
    if (!(lossy() && rand() < cfg.ackDrop)) acksInFlight.push(receiver.cumulativeAck);
    receiver.markAcked();
    while (acksInFlight.length > 0) deliverAck();
    now += resendAfter;
    const useAll = cfg.resend === 'all' || (cfg.resend === 'alternate' && round % 2 === 0);
    if (useAll) for (const entry of sender.all()) transmit(entry);
    else for (const entry of sender.stale(now - resendAfter + 1)) transmit(entry);
  }
  // Leftover duplicates still in flight must change nothing.
  while (deliverOne());
  return { received, expectedFirstSeqs, sender, receiver, rounds: round };
}

const outgoing: fc.Arbitrary<Outgoing> = fc.record({
  flags: fc.subarray([FrameFlag.Text, FrameFlag.Json, FrameFlag.Encrypted]).map((bits) => bits.reduce((a, b) => a | b, 0)),
  payload: fc.uint8Array({ maxLength: 64 }),
});

const network: fc.Arbitrary<NetworkConfig> = fc.record({
  seed: fc.integer(),
  chunkBytes: fc.integer({ min: 1, max: 32 }),
  drop: fc.double({ min: 0, max: 0.5, noNaN: true }),
  dup: fc.double({ min: 0, max: 0.5, noNaN: true }),
  ackDrop: fc.double({ min: 0, max: 0.7, noNaN: true }),
  lossyRounds: fc.integer({ min: 0, max: 6 }),
  resend: fc.constantFrom('all', 'stale', 'alternate'),
});

describe('end to end over two lossy, duplicating, reordering paths', () => {
  it('property: every message is assembled exactly once, in order, byte-identical', () => {
    fc.assert(
      fc.property(fc.array(outgoing, { maxLength: 12 }), network, (messages, cfg) => {
        const { received, expectedFirstSeqs, sender, receiver } = runNetwork(messages, cfg);
        expect(received.length).toBe(messages.length);
        received.forEach((m, i) => {
          expect(m.flags).toBe(messages[i]!.flags);
          expect(Array.from(m.payload)).toEqual(Array.from(messages[i]!.payload));
          expect(m.timestamp).toBe(1_700_000_000_000 + i);
          expect(m.firstSeq).toBe(expectedFirstSeqs[i]);
        });
        expect(receiver.cumulativeAck).toBe(sender.lastSeq);
        expect(sender.unackedCount).toBe(0);
        expect(sender.unackedBytes).toBe(0);
      }),
      { numRuns: 150 },
    );
  });

  it('a harsh fixed case: 1-byte chunks, heavy loss and duplication', () => {
    const messages = Array.from({ length: 20 }, (_, i) => ({ flags: FrameFlag.Text, payload: new Uint8Array(i * 7).map((_, j) => (i + j) & 0xff) }));
    const { received, rounds } = runNetwork(messages, { seed: 42, chunkBytes: 1, drop: 0.5, dup: 0.5, ackDrop: 0.7, lossyRounds: 8, resend: 'alternate' });
    expect(received.map((m) => Array.from(m.payload))).toEqual(messages.map((m) => Array.from(m.payload)));
    expect(rounds).toBeGreaterThan(1);
  });
});

// ------------------------------------------------------------------ ReliableSender

describe('ReliableSender', () => {
  it('numbers frames from 1 and encodes them as DATA frames of its epoch', () => {
    const sender = new ReliableSender(0xcafe);
    expect(sender.lastSeq).toBe(0);
    const a = sender.push(FrameFlag.More, Uint8Array.of(1, 2), 10, 0);
    const b = sender.push(FrameFlag.Text, Uint8Array.of(3), 11, 7);
    expect([a.seq, b.seq]).toEqual([1, 2]);
    expect(a.sentAt).toBe(0);
    expect(sender.lastSeq).toBe(2);
    expect(decodeData(b.bytes!)).toEqual(data(0xcafe, 2, { flags: FrameFlag.Text, payload: Uint8Array.of(3), ack: 7, timestamp: 11 }));
    expect([...sender.all()].map((e) => e.seq)).toEqual([1, 2]);
  });

  it('property: onAck releases exactly the acked frames and their encoded bytes', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 100 }), { maxLength: 30 }), fc.array(fc.nat({ max: 40 }), { maxLength: 10 }), (sizes, acks) => {
        const sender = new ReliableSender(1);
        const encodedSize = sizes.map((n) => DATA_HEADER_BYTES + n);
        sizes.forEach((n) => sender.push(0, new Uint8Array(n), 0, 0));
        expect(sender.unackedBytes).toBe(encodedSize.reduce((a, b) => a + b, 0));
        let acked = 0;
        for (const ack of acks) {
          const upTo = Math.min(Math.max(acked, ack), sizes.length);
          const released = sender.onAck(ack);
          expect(released).toBe(upTo - acked);
          acked = upTo;
          expect(sender.unackedCount).toBe(sizes.length - acked);
          expect(sender.unackedBytes).toBe(encodedSize.slice(acked).reduce((a, b) => a + b, 0));
          expect([...sender.all()].map((e) => e.seq)).toEqual(sizes.map((_, i) => i + 1).slice(acked));
        }
        expect(sender.onAck(Number.MAX_SAFE_INTEGER)).toBe(sizes.length - acked);
        expect(sender.unackedBytes).toBe(0);
        expect(sender.unackedCount).toBe(0);
        expect(sender.lastSeq).toBe(sizes.length);
      }),
      { numRuns: 200 },
    );
  });

  it('keeps no reference to an acked frame (a long window of them would be promoted and collected at length)', async () => {
    // A real collection, not a guess: V8's gc() through the flag, reachable only from a new context.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const sender = new ReliableSender(1);
    const refs: WeakRef<Uint8Array>[] = [];
    // Fewer than the compaction threshold, so the backing array still has the acked slots.
    for (let i = 0; i < 100; i++) refs.push(new WeakRef(sender.push(0, new Uint8Array(1024), 0, 0).bytes!));
    sender.push(0, new Uint8Array(1), 0, 0);
    expect(sender.onAck(100)).toBe(100);
    await new Promise((resolve) => setImmediate(resolve)); // WeakRefs are kept alive until the job ends
    gc();
    expect(refs.filter((r) => r.deref() !== undefined).length).toBe(0);
    expect([...sender.all()].map((e) => e.seq)).toEqual([101]);
  });

  it('a stale or repeated ack releases nothing; numbering continues after a full ack', () => {
    const sender = new ReliableSender(1);
    for (let i = 0; i < 5; i++) sender.push(0, new Uint8Array(3), 0, 0);
    expect(sender.onAck(3)).toBe(3);
    expect(sender.onAck(3)).toBe(0);
    expect(sender.onAck(1)).toBe(0);
    expect(sender.onAck(0)).toBe(0);
    expect(sender.unackedBytes).toBe(2 * (DATA_HEADER_BYTES + 3));
    expect(sender.onAck(5)).toBe(2);
    expect(sender.push(0, new Uint8Array(), 0, 0).seq).toBe(6);
    expect(sender.unackedBytes).toBe(DATA_HEADER_BYTES);
  });

  it('stale() returns the never-sent and those last sent before the cutoff, oldest first', () => {
    const sender = new ReliableSender(1);
    const entries = [1, 2, 3, 4].map(() => sender.push(0, new Uint8Array(1), 0, 0));
    expect([...sender.stale(1)].map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    entries[0]!.sentAt = 100;
    entries[1]!.sentAt = 200;
    entries[3]!.sentAt = 150;
    expect([...sender.stale(150)].map((e) => e.seq)).toEqual([1, 3]);
    expect([...sender.stale(201)].map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    sender.onAck(1);
    expect([...sender.stale(1000)].map((e) => e.seq)).toEqual([2, 3, 4]);
  });
});

// ------------------------------------------------------------------ ReliableReceiver

describe('ReliableReceiver', () => {
  it('delivers in order, holds out-of-order frames and drops duplicates', () => {
    const r = new ReliableReceiver();
    expect(r.peerEpoch).toBeUndefined();
    expect(r.cumulativeAck).toBe(0);
    expect(seqs(r.accept(data(9, 3)).deliver)).toEqual([]);
    expect(seqs(r.accept(data(9, 3)).deliver)).toEqual([]); // duplicate of a held frame
    expect(seqs(r.accept(data(9, 1)).deliver)).toEqual([1]);
    expect(seqs(r.accept(data(9, 1)).deliver)).toEqual([]); // duplicate of a delivered frame
    expect(seqs(r.accept(data(9, 2)).deliver)).toEqual([2, 3]);
    expect(r.cumulativeAck).toBe(3);
    expect(seqs(r.accept(data(9, 2)).deliver)).toEqual([]);
    expect(seqs(r.accept(data(9, 0)).deliver)).toEqual([]); // seq 0 is never valid
    expect(r.peerEpoch).toBe(9);
  });

  it('acceptNext() takes only the next frame of the current epoch with none held, and changes nothing otherwise', () => {
    const r = new ReliableReceiver();
    expect(r.acceptNext(data(9, 1))).toBe(false); // no epoch yet: accept() sets it
    r.accept(data(9, 1));
    expect(r.acceptNext(data(9, 2))).toBe(true);
    expect(r.cumulativeAck).toBe(2);
    expect(r.acceptNext(data(9, 2))).toBe(false); // duplicate
    expect(r.acceptNext(data(9, 4))).toBe(false); // gap
    expect(r.acceptNext(data(10, 3))).toBe(false); // another epoch
    expect(r.cumulativeAck).toBe(2);
    r.accept(data(9, 5)); // held
    expect(r.acceptNext(data(9, 3))).toBe(false); // next, but a held frame must come out with it
    expect(seqs(r.accept(data(9, 3)).deliver)).toEqual([3]);
    expect(seqs(r.accept(data(9, 4)).deliver)).toEqual([4, 5]);
    expect(r.acceptNext(data(9, 6))).toBe(true);
  });

  it('the first epoch is not a reset; a new epoch is, and restarts the sequence space', () => {
    const r = new ReliableReceiver();
    expect(r.accept(data(0xa, 1))).toEqual({ deliver: [data(0xa, 1)], reset: false });
    r.accept(data(0xa, 2));
    r.accept(data(0xa, 4)); // held, must not leak into the new epoch
    expect(r.cumulativeAck).toBe(2);

    const first = r.accept(data(0xb, 1));
    expect(first.reset).toBe(true);
    expect(seqs(first.deliver)).toEqual([1]);
    expect(r.peerEpoch).toBe(0xb);
    expect(r.cumulativeAck).toBe(1);
    const next = r.accept(data(0xb, 2));
    expect(next.reset).toBe(false);
    expect(next.deliver).toEqual([data(0xb, 2)]);
    // seq 3 of the new epoch is still missing: the old epoch's held seq 4 was discarded.
    expect(r.accept(data(0xb, 4)).deliver).toEqual([]);
    expect(r.accept(data(0xb, 3)).deliver.map((f) => [f.epoch, f.seq])).toEqual([
      [0xb, 3],
      [0xb, 4],
    ]);
  });

  it('late frames from a retired epoch are ignored, not another reset', () => {
    const r = new ReliableReceiver();
    r.accept(data(1, 1));
    expect(r.accept(data(2, 1)).reset).toBe(true);
    for (const seq of [1, 2, 3, 100]) expect(r.accept(data(1, seq))).toEqual({ deliver: [], reset: false });
    expect(r.peerEpoch).toBe(2);
    expect(r.cumulativeAck).toBe(1);
    expect(seqs(r.accept(data(2, 2)).deliver)).toEqual([2]);
    // A third epoch retires the second; both stay ignored.
    expect(r.accept(data(3, 1)).reset).toBe(true);
    expect(r.accept(data(2, 3))).toEqual({ deliver: [], reset: false });
    expect(r.accept(data(1, 3))).toEqual({ deliver: [], reset: false });
    expect(r.peerEpoch).toBe(3);
  });

  it('ackDue / markAcked', () => {
    const r = new ReliableReceiver();
    expect(r.ackDue).toBe(false);
    r.accept(data(1, 2)); // held only: nothing new to ack
    expect(r.ackDue).toBe(false);
    r.accept(data(1, 1));
    expect(r.ackDue).toBe(true);
    r.markAcked();
    expect(r.ackDue).toBe(false);
    r.accept(data(1, 2)); // duplicate
    expect(r.ackDue).toBe(false);
    r.accept(data(1, 3));
    expect(r.ackDue).toBe(true);
    r.markAcked();
    // A new epoch: its first frame is due even though its ack (1) is lower than the old one (3).
    r.accept(data(2, 1));
    expect(r.cumulativeAck).toBe(1);
    expect(r.ackDue).toBe(true);
    r.markAcked();
    expect(r.ackDue).toBe(false);
  });

  it(`holds at most MAX_OUT_OF_ORDER_FRAMES (${MAX_OUT_OF_ORDER_FRAMES}); a resend recovers what was dropped`, () => {
    const r = new ReliableReceiver();
    const total = MAX_OUT_OF_ORDER_FRAMES + 50;
    // seq 1 is lost; 2..total arrive. Only the first MAX are held, the rest are dropped.
    for (let seq = 2; seq <= total; seq++) expect(r.accept(data(5, seq)).deliver).toEqual([]);
    expect(r.cumulativeAck).toBe(0);
    const burst = r.accept(data(5, 1)).deliver;
    expect(seqs(burst)).toEqual(Array.from({ length: MAX_OUT_OF_ORDER_FRAMES + 1 }, (_, i) => i + 1));
    expect(r.cumulativeAck).toBe(MAX_OUT_OF_ORDER_FRAMES + 1);
    // The sender resends everything past the ack: the dropped frames now arrive, in any order.
    const rest: number[] = [];
    for (let seq = total; seq > MAX_OUT_OF_ORDER_FRAMES + 1; seq--) rest.push(...seqs(r.accept(data(5, seq)).deliver));
    expect(rest).toEqual(Array.from({ length: total - MAX_OUT_OF_ORDER_FRAMES - 1 }, (_, i) => MAX_OUT_OF_ORDER_FRAMES + 2 + i));
    expect(r.cumulativeAck).toBe(total);
  });

  it('a full out-of-order buffer still accepts the expected frame', () => {
    const r = new ReliableReceiver();
    for (let seq = 10; seq < 10 + MAX_OUT_OF_ORDER_FRAMES + 5; seq++) r.accept(data(5, seq));
    for (let seq = 1; seq <= 8; seq++) expect(seqs(r.accept(data(5, seq)).deliver)).toEqual([seq]);
    expect(seqs(r.accept(data(5, 9)).deliver)).toHaveLength(MAX_OUT_OF_ORDER_FRAMES + 1);
    expect(r.cumulativeAck).toBe(9 + MAX_OUT_OF_ORDER_FRAMES);
  });
});

// ------------------------------------------------------------------ MessageAssembler

describe('MessageAssembler', () => {
  const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
  const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

  it('a single-frame message', () => {
    const a = new MessageAssembler(100);
    expect(a.add(data(1, 7, { flags: FrameFlag.Json, payload: enc('{}'), timestamp: 55 }))).toEqual({
      flags: FrameFlag.Json,
      payload: enc('{}'),
      timestamp: 55,
      firstSeq: 7,
    });
  });

  it('joins chunks; flags, timestamp and firstSeq come from the first chunk, without MORE', () => {
    const a = new MessageAssembler(100);
    const flags = FrameFlag.Text | FrameFlag.Encrypted;
    expect(a.add(data(1, 3, { flags: flags | FrameFlag.More, payload: enc('hel'), timestamp: 10 }))).toBeUndefined();
    expect(a.add(data(1, 4, { flags: flags | FrameFlag.More, payload: enc(''), timestamp: 11 }))).toBeUndefined();
    const m = a.add(data(1, 5, { flags, payload: enc('lo'), timestamp: 12 }));
    expect(m).toBeDefined();
    expect(dec(m!.payload)).toBe('hello');
    expect(m).toMatchObject({ flags, timestamp: 10, firstSeq: 3 });
    // The next message starts fresh.
    expect(a.add(data(1, 6, { payload: enc('x') }))).toMatchObject({ firstSeq: 6, flags: 0 });
  });

  it('a message of exactly the limit is accepted', () => {
    const a = new MessageAssembler(10);
    a.add(data(1, 1, { flags: FrameFlag.More, payload: new Uint8Array(6) }));
    expect(a.add(data(1, 2, { payload: new Uint8Array(4) }))!.payload).toHaveLength(10);
  });

  it('rejects a message that grows past its limit, drops the rest of it, and recovers for the next', () => {
    const a = new MessageAssembler(10);
    expect(a.add(data(1, 1, { flags: FrameFlag.More, payload: enc('aaaaaa') }))).toBeUndefined();
    expect(() => a.add(data(1, 2, { flags: FrameFlag.More, payload: enc('bbbbbb') }))).toThrow(RangeError);
    // The rest of the oversize message (more chunks, then its last) must not surface as a message,
    // nor throw again: the error is reported once per message.
    expect(a.add(data(1, 3, { flags: FrameFlag.More, payload: enc('cc') }))).toBeUndefined();
    expect(a.add(data(1, 4, { payload: enc('dd') }))).toBeUndefined();
    // The next message is assembled normally.
    expect(a.add(data(1, 5, { flags: FrameFlag.More, payload: enc('ok') }))).toBeUndefined();
    const m = a.add(data(1, 6, { payload: enc('!') }));
    expect(m).toMatchObject({ firstSeq: 5 });
    expect(dec(m!.payload)).toBe('ok!');
  });

  it('an oversize last chunk throws and the very next frame starts a new message', () => {
    const a = new MessageAssembler(4);
    a.add(data(1, 1, { flags: FrameFlag.More, payload: enc('abc') }));
    expect(() => a.add(data(1, 2, { payload: enc('de') }))).toThrow(/exceeds 4 bytes/);
    expect(dec(a.add(data(1, 3, { payload: enc('fg') }))!.payload)).toBe('fg');
    // Also a single oversize frame.
    expect(() => a.add(data(1, 4, { payload: enc('hijkl') }))).toThrow(RangeError);
    expect(a.add(data(1, 5, { payload: enc('m') }))).toMatchObject({ firstSeq: 5 });
  });

  it('property: after any oversize message, the following messages are assembled intact', () => {
    const msg = fc.record({ size: fc.nat({ max: 40 }), chunkBytes: fc.integer({ min: 1, max: 8 }) });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 24 }), fc.array(msg, { maxLength: 10 }), (limit, msgs) => {
        const a = new MessageAssembler(limit);
        let seq = 1;
        msgs.forEach(({ size, chunkBytes }, i) => {
          const payload = new Uint8Array(size).fill(i + 1);
          const pieces = chunk(payload, chunkBytes);
          const out: AssembledMessage[] = [];
          let threw = 0;
          pieces.forEach((p, j) => {
            try {
              const m = a.add(data(1, seq++, { flags: j < pieces.length - 1 ? FrameFlag.More : 0, payload: p }));
              if (m) out.push(m);
            } catch (err) {
              expect(err).toBeInstanceOf(RangeError);
              threw++;
            }
          });
          if (size > limit) {
            expect(threw).toBe(1);
            expect(out).toEqual([]);
          } else {
            expect(threw).toBe(0);
            expect(out).toHaveLength(1);
            expect(Array.from(out[0]!.payload)).toEqual(Array.from(payload));
          }
        });
      }),
      { numRuns: 300 },
    );
  });
});

// ------------------------------------------------------------------ chunk()

describe('chunk()', () => {
  const bytes = (n: number): Uint8Array => new Uint8Array(n).map((_, i) => i & 0xff);

  it('an empty payload is one empty chunk', () => {
    const out = chunk(new Uint8Array(), 4);
    expect(out).toHaveLength(1);
    expect(out[0]).toHaveLength(0);
  });

  it('a payload of exactly chunkBytes is one chunk', () => {
    expect(chunk(bytes(4), 4).map((c) => c.length)).toEqual([4]);
  });

  it('an exact multiple gives full chunks and no empty trailer', () => {
    expect(chunk(bytes(12), 4).map((c) => c.length)).toEqual([4, 4, 4]);
  });

  it('one byte over gives a 1-byte last chunk', () => {
    const out = chunk(bytes(13), 4);
    expect(out.map((c) => c.length)).toEqual([4, 4, 4, 1]);
    expect(out[3]![0]).toBe(12);
    expect(chunk(bytes(5), 4).map((c) => c.length)).toEqual([4, 1]);
  });

  it('chunkBytes of 1', () => {
    expect(chunk(bytes(3), 1).map((c) => Array.from(c))).toEqual([[0], [1], [2]]);
  });

  it.each([0, -1, 1.5, Number.NaN, Infinity])('rejects chunkBytes %s instead of looping or overlapping', (n) => {
    expect(() => chunk(bytes(3), n)).toThrow(RangeError);
  });

  it('property: chunks are non-empty (unless the payload is), at most chunkBytes, and concatenate back', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 1, max: 64 }), (payload, n) => {
        const out = chunk(payload, n);
        expect(out).toHaveLength(Math.max(1, Math.ceil(payload.length / n)));
        for (const c of out) expect(c.length).toBeLessThanOrEqual(n);
        if (payload.length > 0) for (const c of out) expect(c.length).toBeGreaterThan(0);
        for (const c of out.slice(0, -1)) expect(c.length).toBe(n);
        expect(out.flatMap((c) => Array.from(c))).toEqual(Array.from(payload));
      }),
      { numRuns: 300 },
    );
  });
});
