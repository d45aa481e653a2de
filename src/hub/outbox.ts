/**
 * What a connection sends in one event-loop turn, coalesced into one transport frame: far fewer
 * syscalls under load, and the client splits records on 0x1E (JSON) or by their length prefix
 * (MessagePack) anyway. A connection's records are all text or all bytes, as its protocol writes.
 */
import type { WireRecord } from './wire-codec.js';

export class Outbox {
  private records: WireRecord[] = [];
  private size = 0;
  private scheduled = false;

  /** `flush` runs once per turn in which something was pushed (a microtask). */
  constructor(private readonly flush: () => void) {}

  /** Bytes (JSON: characters) pushed and not yet taken. */
  get bytes(): number {
    return this.size;
  }

  push(record: WireRecord): void {
    this.records.push(record);
    this.size += record.length;
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(this.flush);
  }

  /** Everything pushed, as one frame; null when nothing is. */
  take(): WireRecord | null {
    this.scheduled = false;
    const records = this.records;
    if (records.length === 0) return null;
    this.records = [];
    this.size = 0;
    if (records.length === 1) return records[0] as WireRecord;
    return typeof records[0] === 'string' ? (records as string[]).join('') : Buffer.concat(records as Uint8Array[]);
  }

  /** Drops what was pushed (the transport it was for is gone). */
  clear(): void {
    this.records = [];
    this.size = 0;
  }
}
