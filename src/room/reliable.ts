/**
 * Reliable delivery to one peer, independent of the path: per-link sequence numbers, cumulative
 * acks, a bounded resend buffer, duplicate and out-of-order handling, and message reassembly.
 * Pure (no timers, no I/O) so it can be tested exhaustively; the peer session drives it.
 */
import { FrameFlag, FrameKind, encodeFrame, type DataFrame } from '../protocol/frames.js';

interface Unacked {
  seq: number;
  bytes: Uint8Array;
  /** ms timestamp of the last transmission, 0 if never sent. */
  sentAt: number;
}

export class ReliableSender {
  private nextSeq = 1;
  private queue: Unacked[] = [];
  private bytes = 0;

  constructor(readonly epoch: number) {}

  /** Numbers and encodes one DATA frame and keeps it until acked. */
  /**
   * `seal`, when given, turns the plaintext into the frame's payload (E2EE) knowing the header it
   * will carry; it runs once per frame, in seq order, and resends reuse the sealed bytes.
   */
  push(
    flags: number,
    payload: Uint8Array,
    timestamp: number,
    ack: number,
    seal?: (header: { flags: number; epoch: number; seq: number; timestamp: number }, plaintext: Uint8Array) => Uint8Array,
  ): Unacked {
    const seq = this.nextSeq++;
    const body = seal ? seal({ flags, epoch: this.epoch, seq, timestamp }, payload) : payload;
    const frame: DataFrame = { kind: FrameKind.Data, flags, epoch: this.epoch, seq, ack, timestamp, payload: body };
    const entry = { seq: frame.seq, bytes: encodeFrame(frame), sentAt: 0 };
    this.queue.push(entry);
    this.bytes += entry.bytes.length;
    return entry;
  }

  /** Drops everything up to and including `ack`; returns how many frames were released. */
  onAck(ack: number): number {
    let n = 0;
    while (n < this.queue.length && (this.queue[n] as Unacked).seq <= ack) {
      this.bytes -= (this.queue[n] as Unacked).bytes.length;
      n++;
    }
    if (n > 0) this.queue = this.queue.slice(n);
    return n;
  }

  get unackedBytes(): number {
    return this.bytes;
  }

  get unackedCount(): number {
    return this.queue.length;
  }

  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  /** Every unacked frame, oldest first (for a resend after a path switch). */
  all(): readonly Unacked[] {
    return this.queue;
  }

  /** Unacked frames last sent before `olderThan` (for the resend timer). */
  stale(olderThan: number): Unacked[] {
    return this.queue.filter((e) => e.sentAt < olderThan);
  }
}

/** Bound on frames held while waiting for a gap to fill; the sender resends anything dropped. */
export const MAX_OUT_OF_ORDER_FRAMES = 2048;

export class ReliableReceiver {
  private epoch: number | undefined;
  /** Epochs the peer has moved on from; late frames from them are ignored, not a new reset. */
  private readonly retired = new Set<number>();
  private expected = 1;
  private held = new Map<number, DataFrame>();
  private ackedUpTo = 0;

  /**
   * Takes a DATA frame from any path; returns the frames now deliverable in order (possibly
   * none). Duplicates (already delivered or already held) return nothing.
   */
  accept(frame: DataFrame): { deliver: DataFrame[]; reset: boolean } {
    let reset = false;
    if (this.retired.has(frame.epoch)) return { deliver: [], reset };
    if (this.epoch !== frame.epoch) {
      // The peer restarted (new epoch): a new sequence space begins.
      reset = this.epoch !== undefined;
      if (this.epoch !== undefined) this.retired.add(this.epoch);
      this.epoch = frame.epoch;
      this.expected = 1;
      this.held.clear();
      this.ackedUpTo = 0;
    }
    if (frame.seq < this.expected || this.held.has(frame.seq)) return { deliver: [], reset };
    if (frame.seq > this.expected) {
      if (this.held.size < MAX_OUT_OF_ORDER_FRAMES) this.held.set(frame.seq, frame);
      return { deliver: [], reset };
    }
    const deliver = [frame];
    this.expected++;
    for (let next = this.held.get(this.expected); next; next = this.held.get(this.expected)) {
      this.held.delete(this.expected);
      deliver.push(next);
      this.expected++;
    }
    return { deliver, reset };
  }

  /** Cumulative ack: everything up to this seq arrived. */
  get cumulativeAck(): number {
    return this.expected - 1;
  }

  get peerEpoch(): number | undefined {
    return this.epoch;
  }

  /** True when an ack would tell the sender something new. */
  get ackDue(): boolean {
    return this.cumulativeAck > this.ackedUpTo;
  }

  markAcked(): void {
    this.ackedUpTo = this.cumulativeAck;
  }
}

export interface AssembledMessage {
  flags: number;
  payload: Uint8Array;
  timestamp: number;
  firstSeq: number;
}

/** Joins the chunks of a message (frames with MORE, then one without) into one payload. */
export class MessageAssembler {
  private parts: Uint8Array[] = [];
  private size = 0;
  private first: DataFrame | undefined;
  /** Skipping the remaining chunks of a message already rejected as too large. */
  private discarding = false;

  constructor(private readonly maxMessageBytes: number) {}

  /**
   * Returns the message when `frame` completes one; throws (once per message) if a message grows
   * past the limit, then silently drops the rest of that message up to and including its last
   * chunk, so the next message is assembled intact.
   */
  add(frame: DataFrame): AssembledMessage | undefined {
    if (this.discarding) {
      if (!(frame.flags & FrameFlag.More)) this.discarding = false;
      return undefined;
    }
    this.first ??= frame;
    this.size += frame.payload.length;
    if (this.size > this.maxMessageBytes) {
      this.reset();
      this.discarding = (frame.flags & FrameFlag.More) !== 0;
      throw new RangeError(`incoming message exceeds ${this.maxMessageBytes} bytes`);
    }
    this.parts.push(frame.payload);
    if (frame.flags & FrameFlag.More) return undefined;
    const first = this.first;
    const payload = this.parts.length === 1 ? (this.parts[0] as Uint8Array) : concat(this.parts, this.size);
    this.reset();
    return { flags: first.flags & ~FrameFlag.More, payload, timestamp: first.timestamp, firstSeq: first.seq };
  }

  /** Drops a partly assembled message (the peer started a new sequence space). */
  reset(): void {
    this.parts = [];
    this.size = 0;
    this.first = undefined;
    this.discarding = false;
  }
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Splits a payload into chunks of at most `chunkBytes` (at least one chunk, even when empty). */
export function chunk(payload: Uint8Array, chunkBytes: number): Uint8Array[] {
  // 0, negative or NaN would loop forever (at += 0) until memory runs out; a fraction would make
  // subarray() truncate the bounds and produce overlapping chunks.
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 1) throw new RangeError(`chunkBytes must be a positive integer, got ${chunkBytes}`);
  if (payload.length <= chunkBytes) return [payload];
  const out: Uint8Array[] = [];
  for (let at = 0; at < payload.length; at += chunkBytes) out.push(payload.subarray(at, at + chunkBytes));
  return out;
}
