/**
 * Stateful reconnect bookkeeping for one connection (SignalR "Ack"/"Sequence", .NET 8+). Pure: no
 * timers, no I/O. Mirrors the official client's MessageBuffer.ts so both sides count alike:
 *
 * - outbound trackable messages (types 1–5) are numbered implicitly from 1 and kept until acked;
 * - inbound trackable messages are numbered the same way; a number at or below the highest one
 *   already processed is a replayed duplicate and is skipped;
 * - after a transport drop each side sends Sequence{first unacked id} and replays from there, and
 *   ignores everything until the peer's Sequence arrives.
 */
/** A serialised message: JSON text, or MessagePack bytes (`length` is its size either way). */
type StoredRecord = string | Uint8Array;

export class ReplayBuffer {
  private items: { id: number; record: StoredRecord }[] = [];
  private bytes = 0;
  private sentCount = 0;
  /** Set once more than `limitBytes` went unacked: replay is no longer possible. */
  private overflowedFlag = false;

  private nextReceivingId = 1;
  private latestReceivedId = 0;
  private lastAckedReceivedId = 0;
  private waitingForSequence = false;

  constructor(private readonly limitBytes: number) {}

  get overflowed(): boolean {
    return this.overflowedFlag;
  }

  get bufferedBytes(): number {
    return this.bytes;
  }

  /** Numbers an outbound trackable record and keeps it for replay. */
  recordSent(record: StoredRecord): void {
    this.sentCount++;
    if (this.overflowedFlag) return;
    this.items.push({ id: this.sentCount, record });
    this.bytes += record.length;
    if (this.bytes > this.limitBytes) {
      // The peer is not acking fast enough to keep a replayable window. Keep the connection, drop
      // the window; a later transport drop then ends the connection instead of resuming it.
      this.overflowedFlag = true;
      this.items = [];
      this.bytes = 0;
    }
  }

  /** The peer acknowledged everything up to `sequenceId`. */
  ack(sequenceId: number): void {
    let drop = 0;
    while (drop < this.items.length && (this.items[drop]?.id ?? Infinity) <= sequenceId) {
      this.bytes -= this.items[drop]?.record.length ?? 0;
      drop++;
    }
    if (drop > 0) this.items = this.items.slice(drop);
  }

  /** Sequence id to announce after a reconnect: the first unacked message, or the next one. */
  resendStart(): number {
    return this.items[0]?.id ?? this.sentCount + 1;
  }

  /** Records to replay after the Sequence message, oldest first. */
  unacked(): readonly StoredRecord[] {
    return this.items.map((i) => i.record);
  }

  /** The transport dropped: ignore inbound traffic until the peer's Sequence. */
  transportLost(): void {
    this.waitingForSequence = true;
  }

  /**
   * Decides whether an inbound message is new. `kind` is 'trackable' for types 1–5, 'sequence' for
   * a Sequence message, 'other' for the rest.
   */
  accept(kind: 'trackable' | 'sequence' | 'other'): boolean {
    if (this.waitingForSequence) {
      if (kind !== 'sequence') return false;
      this.waitingForSequence = false;
      return true;
    }
    if (kind !== 'trackable') return true;
    const id = this.nextReceivingId++;
    if (id <= this.latestReceivedId) return false;
    this.latestReceivedId = id;
    return true;
  }

  /** Applies the peer's Sequence; false if it claims more than we have seen (a protocol error). */
  resetSequence(sequenceId: number): boolean {
    if (sequenceId > this.nextReceivingId) return false;
    this.nextReceivingId = sequenceId;
    return true;
  }

  /** The id to put in our next Ack, or undefined when nothing new arrived since the last one. */
  takeAckDue(): number | undefined {
    if (this.latestReceivedId === this.lastAckedReceivedId) return undefined;
    this.lastAckedReceivedId = this.latestReceivedId;
    return this.latestReceivedId;
  }
}
