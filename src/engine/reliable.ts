/**
 * Reliable delivery to one peer, independent of the path: per-link sequence numbers, cumulative
 * acks, a bounded resend buffer, duplicate and out-of-order handling, and message reassembly.
 * Pure (no timers, no I/O) so it can be tested exhaustively; the peer session drives it.
 */
import { FrameFlag, FrameKind, encodeFrameWith, writeDataHeader, type DataFrame } from '../protocol/frames.js';
import { concatBytes } from './bytes.js';
import { FrameSlab } from './frame-slab.js';

/** One DATA frame kept until the peer acknowledges it. */
export interface Unacked {
  readonly seq: number;
  /** The encoded frame; null while its payload is still being sealed (asynchronous E2EE). */
  bytes: Uint8Array | null;
  /** ms timestamp of the last transmission, 0 if never sent. */
  sentAt: number;
  /** Bytes this frame counts against the send window (an estimate until a reserved frame is filled). */
  charged: number;
}

/** Frames waiting to be sealed and pushed belong to this header. */
export interface DataHeaderFields {
  flags: number;
  epoch: number;
  seq: number;
  timestamp: number;
}

/**
 * Compact the queue's backing array once this many acked entries sit before its head: acks release
 * frames in O(1) and the array is rebuilt rarely, not on every ack (a `slice` per ack showed up in
 * tail latency).
 */
const COMPACT_AFTER_ENTRIES = 1024;

/**
 * What an acked slot before the head holds until the compaction: not the frame, whose bytes (up to
 * a 32 KiB frame each, 1024 of them) would otherwise stay reachable, be promoted, and cost the
 * old-generation collections that showed up in the E2EE throughput bench.
 */
const RELEASED: Unacked = Object.freeze({ seq: 0, bytes: null, sentAt: 0, charged: 0 }) as Unacked;

export class ReliableSender {
  private nextSeq = 1;
  private entries: Unacked[] = [];
  private head = 0;
  private bytes = 0;
  /** Entries reserved and not filled yet (asynchronous sealing); 0 with a synchronous cipher. */
  private unfilled = 0;
  private readonly slab = new FrameSlab();

  constructor(readonly epoch: number) {}

  /** Numbers and encodes one DATA frame with a payload that needs no sealing, and keeps it. */
  push(flags: number, payload: Uint8Array, timestamp: number, ack: number): Unacked {
    const seq = this.nextSeq++;
    const bytes = encodeFrameWith({ kind: FrameKind.Data, flags, epoch: this.epoch, seq, ack, timestamp, payload }, this.slab.alloc);
    const entry: Unacked = { seq, bytes, sentAt: 0, charged: bytes.length };
    this.entries.push(entry);
    this.bytes += bytes.length;
    return entry;
  }

  /**
   * Reserves the next seq for a frame whose payload is sealed with that header (E2EE binds the seq
   * into the nonce); {@link fill} completes it. Until then it is kept, counted against the window
   * (by `sizeHint`) and never transmitted.
   */
  reserve(flags: number, timestamp: number, sizeHint: number): { entry: Unacked; header: DataHeaderFields } {
    const seq = this.nextSeq++;
    const entry: Unacked = { seq, bytes: null, sentAt: 0, charged: sizeHint };
    this.entries.push(entry);
    this.bytes += sizeHint;
    this.unfilled++;
    return { entry, header: { flags, epoch: this.epoch, seq, timestamp } };
  }

  /**
   * Gives a reserved frame its bytes: `frame` is the whole DATA frame with its payload sealed in
   * place after DATA_HEADER_BYTES (PeerCipher.sealDataFrame); the header is written here, with
   * `ack`, the piggybacked ack at that moment.
   */
  fill(entry: Unacked, header: DataHeaderFields, frame: Uint8Array, ack: number): void {
    writeDataHeader(frame, { flags: header.flags, epoch: header.epoch, seq: header.seq, ack, timestamp: header.timestamp });
    // An entry already acked (the peer cannot ack what it never got, but be safe) is not recounted.
    if (this.isQueued(entry)) this.bytes += frame.length - entry.charged;
    entry.charged = frame.length;
    if (entry.bytes === null) this.unfilled--;
    entry.bytes = frame;
  }

  /**
   * `entry` is filled and no earlier frame still waits for its seal, so it may go on the wire now.
   * With nothing unfilled (Node's synchronous AEAD) that needs no look through the window.
   */
  inOrder(entry: Unacked): boolean {
    if (entry.bytes === null) return false;
    if (this.unfilled === 0) return true;
    for (let i = this.head; i < this.entries.length; i++) {
      const e = this.entries[i] as Unacked;
      if (e === entry) return true;
      if (e.bytes === null) return false;
    }
    return true;
  }

  /** Drops everything up to and including `ack`; returns how many frames were released. */
  onAck(ack: number): number {
    let n = 0;
    while (this.head < this.entries.length) {
      const entry = this.entries[this.head] as Unacked;
      if (entry.seq > ack) break;
      this.bytes -= entry.charged;
      this.entries[this.head] = RELEASED;
      this.head++;
      n++;
    }
    if (this.head === this.entries.length) {
      this.entries = [];
      this.head = 0;
    } else if (this.head >= COMPACT_AFTER_ENTRIES) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    return n;
  }

  private isQueued(entry: Unacked): boolean {
    const first = this.entries[this.head];
    return first !== undefined && entry.seq >= first.seq;
  }

  get unackedBytes(): number {
    return this.bytes;
  }

  get unackedCount(): number {
    return this.entries.length - this.head;
  }

  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  /** Every unacked frame, oldest first (for a resend after a path switch). */
  *all(): IterableIterator<Unacked> {
    for (let i = this.head; i < this.entries.length; i++) yield this.entries[i] as Unacked;
  }

  /** Unacked frames last sent before `olderThan` (for the resend timer); unsent ones included. */
  *stale(olderThan: number): IterableIterator<Unacked> {
    for (let i = this.head; i < this.entries.length; i++) {
      const entry = this.entries[i] as Unacked;
      if (entry.sentAt < olderThan) yield entry;
    }
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
   * The common case, allocating nothing: `frame` is the one expected next in the current sequence
   * space and none is held. True: it was taken, deliver it alone; false: nothing changed, call
   * {@link accept}.
   */
  acceptNext(frame: DataFrame): boolean {
    if (frame.seq !== this.expected || frame.epoch !== this.epoch || this.held.size !== 0) return false;
    this.expected++;
    return true;
  }

  /**
   * Takes a DATA frame from any path; returns the frames now deliverable in order (possibly
   * none). Duplicates (already delivered or already held) return nothing.
   */
  accept(frame: DataFrame): { deliver: DataFrame[]; reset: boolean } {
    let reset = false;
    if (this.retired.has(frame.epoch)) return { deliver: NOTHING, reset };
    if (this.epoch !== frame.epoch) {
      // The peer restarted (new epoch): a new sequence space begins.
      reset = this.epoch !== undefined;
      if (this.epoch !== undefined) this.retired.add(this.epoch);
      this.epoch = frame.epoch;
      this.expected = 1;
      this.held.clear();
      this.ackedUpTo = 0;
    }
    if (frame.seq < this.expected || this.held.has(frame.seq)) return { deliver: NOTHING, reset };
    if (frame.seq > this.expected) {
      if (this.held.size < MAX_OUT_OF_ORDER_FRAMES) this.held.set(frame.seq, frame);
      return { deliver: NOTHING, reset };
    }
    this.expected++;
    if (this.held.size === 0) return { deliver: [frame], reset };
    const deliver = [frame];
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

const NOTHING: DataFrame[] = [];

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
    // The common case, a message in one frame, allocates nothing.
    if (this.first === undefined && !(frame.flags & FrameFlag.More)) {
      if (frame.payload.length > this.maxMessageBytes) throw new RangeError(`incoming message exceeds ${this.maxMessageBytes} bytes`);
      return { flags: frame.flags, payload: frame.payload, timestamp: frame.timestamp, firstSeq: frame.seq };
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
    const payload = this.parts.length === 1 ? (this.parts[0] as Uint8Array) : concatBytes(this.parts, this.size);
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
