/**
 * The two SignalR hub protocols a connection can speak after its handshake, behind one seam:
 * `json` (text records ending in 0x1E) and `messagepack` (binary messages with a VarInt length
 * prefix). A codec turns what a transport delivered into inbox items and hub messages into what a
 * transport writes; the connection above it does not care which protocol it is.
 */
import { ErrorCode, RtcAgentError } from '../errors.js';
import { splitBinaryMessages } from '../protocol/signalr/binary-format.js';
import { MessageType, isUnknownMessage, parseHubMessage, type HubMessage } from '../protocol/signalr/hub-messages.js';
import { messagePackHead, parseMessagePackMessage, writeMessagePackMessage } from '../protocol/signalr/msgpack-messages.js';
import { splitRecords, writeRecord } from '../protocol/signalr/text-format.js';

export type HubProtocolName = 'json' | 'messagepack';
export const HUB_PROTOCOLS: readonly HubProtocolName[] = ['json', 'messagepack'];

/** One serialised message as a transport takes it: text (JSON) or bytes (MessagePack). */
export type WireRecord = string | Uint8Array;

/**
 * An inbound record over the message limit, kept in the inbox so it is answered, counted for
 * stateful reconnect and struck in order with the messages around it.
 */
export interface OversizeRecord {
  /** The record's message type, or -1 when it has no integer type. */
  type: number;
  /** Set for an Invocation / StreamInvocation that expects an answer. */
  invocationId: string | undefined;
  error: RtcAgentError;
}

/** A record that failed to parse: the connection closes when processing reaches it, not before. */
export interface MalformedRecord {
  type: -1;
  malformed: RtcAgentError;
}

export type InboxItem = HubMessage | OversizeRecord | MalformedRecord;

export function isOversize(item: InboxItem): item is OversizeRecord {
  return 'error' in item && item.error instanceof RtcAgentError;
}

export interface Decoded {
  items: InboxItem[];
  /** Bytes (JSON: characters) of the complete records taken, for stateful-reconnect acks. */
  size: number;
  /** A malformed or endless record was met: the codec takes nothing more. */
  rejected: boolean;
}

export interface WireCodec {
  readonly protocol: HubProtocolName;
  /** MessagePack needs a transport that carries bytes (not Server-Sent Events). */
  readonly binary: boolean;
  /** Takes what a transport delivered after the handshake. */
  decode(chunk: Uint8Array): Decoded;
  /** Drops a partial record (the transport it came on is gone). */
  reset(): void;
  encode(msg: HubMessage): WireRecord;
  /** Joins records into one transport frame. */
  join(records: WireRecord[]): WireRecord;
}

export function createCodec(protocol: HubProtocolName, maxMessageBytes: number): WireCodec {
  return protocol === 'json' ? new JsonCodec(maxMessageBytes) : new MessagePackCodec(maxMessageBytes);
}

function tooLarge(limit: number): RtcAgentError {
  return new RtcAgentError(ErrorCode.MESSAGE_TOO_LARGE, `a message is larger than the ${limit}-byte limit`);
}

class JsonCodec implements WireCodec {
  readonly protocol = 'json' as const;
  readonly binary = false;
  private text = '';

  constructor(private readonly limit: number) {}

  decode(chunk: Uint8Array): Decoded {
    this.text += Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('utf8');
    const { records, rest } = splitRecords(this.text);
    this.text = rest;
    const items: InboxItem[] = [];
    let size = 0;
    const limit = this.limit;
    for (const record of records) {
      if (record.length === 0) continue;
      size += record.length;
      // The limit is in UTF-8 bytes; a UTF-16 code unit takes at most 3, so short records skip the count.
      if (record.length * 3 > limit && Buffer.byteLength(record) > limit) {
        items.push(oversizeJson(record, limit));
        continue;
      }
      let msg;
      try {
        msg = parseHubMessage(record);
      } catch (err) {
        // A malformed message means both sides disagree on the protocol; ASP.NET closes too. The
        // messages before it are still handled, in order; nothing after it is.
        items.push({ type: -1, malformed: err as RtcAgentError });
        this.text = '';
        return { items, size, rejected: true };
      }
      if (!isUnknownMessage(msg)) items.push(msg);
    }
    if (rest.length > limit) {
      // An unfinished record already past the limit: close once the complete ones before it are handled.
      items.push({ type: -1, malformed: tooLarge(limit) });
      this.text = '';
      return { items, size, rejected: true };
    }
    return { items, size, rejected: false };
  }

  reset(): void {
    this.text = '';
  }

  encode(msg: HubMessage): string {
    return writeRecord(JSON.stringify(msg));
  }

  join(records: WireRecord[]): string {
    return records.length === 1 ? (records[0] as string) : (records as string[]).join('');
  }
}

class MessagePackCodec implements WireCodec {
  readonly protocol = 'messagepack' as const;
  readonly binary = true;
  private pending: Uint8Array = new Uint8Array(0);

  constructor(private readonly limit: number) {}

  decode(chunk: Uint8Array): Decoded {
    const input = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const items: InboxItem[] = [];
    let size = 0;
    let split;
    try {
      split = splitBinaryMessages(input);
    } catch (err) {
      this.pending = new Uint8Array(0);
      items.push({ type: -1, malformed: err as RtcAgentError });
      return { items, size, rejected: true };
    }
    const limit = this.limit;
    for (const body of split.messages) {
      size += body.length;
      if (body.length > limit) {
        const head = messagePackHead(body);
        items.push({ ...head, error: new RtcAgentError(ErrorCode.MESSAGE_TOO_LARGE, `message of ${body.length} bytes exceeds the ${limit}-byte limit`) });
        continue;
      }
      let msg;
      try {
        msg = parseMessagePackMessage(body);
      } catch (err) {
        items.push({ type: -1, malformed: err as RtcAgentError });
        this.pending = new Uint8Array(0);
        return { items, size, rejected: true };
      }
      if (!isUnknownMessage(msg)) items.push(msg);
    }
    if (split.rest.length > limit) {
      // An unfinished message already past the limit: close once the complete ones before it are handled.
      items.push({ type: -1, malformed: tooLarge(limit) });
      this.pending = new Uint8Array(0);
      return { items, size, rejected: true };
    }
    // Keep only the tail, copied, so a large frame is not held for a few bytes of it.
    this.pending = split.rest.length === 0 ? new Uint8Array(0) : Uint8Array.prototype.slice.call(split.rest);
    return { items, size, rejected: false };
  }

  reset(): void {
    this.pending = new Uint8Array(0);
  }

  encode(msg: HubMessage): Uint8Array {
    return writeMessagePackMessage(msg);
  }

  join(records: WireRecord[]): Uint8Array {
    return records.length === 1 ? (records[0] as Uint8Array) : Buffer.concat(records as Uint8Array[]);
  }
}

/**
 * Describes an oversize JSON record. It is parsed in full to find its type and top-level
 * invocationId: the official client writes `invocationId` after `arguments`, so no prefix of the
 * record has it. The record is bounded by the transport's frame limit (a few times the message limit).
 */
function oversizeJson(record: string, limit: number): OversizeRecord {
  const error = new RtcAgentError(ErrorCode.MESSAGE_TOO_LARGE, `message of ${Buffer.byteLength(record)} bytes exceeds the ${limit}-byte limit`);
  let value: unknown;
  try {
    value = JSON.parse(record);
  } catch {
    return { type: -1, invocationId: undefined, error };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { type: -1, invocationId: undefined, error };
  const obj = value as Record<string, unknown>;
  const type = typeof obj.type === 'number' && Number.isInteger(obj.type) ? obj.type : -1;
  const answerable = type === MessageType.Invocation || type === MessageType.StreamInvocation;
  const invocationId = answerable && typeof obj.invocationId === 'string' ? obj.invocationId : undefined;
  return { type, invocationId, error };
}
