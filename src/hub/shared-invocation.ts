/**
 * A hub → client Invocation sent to many recipients, serialised at most once per protocol: a
 * broadcast Relay to 50 members costs one JSON record and one MessagePack message, whatever mix
 * of protocols the members speak.
 *
 * A Relayed payload is bytes. A JSON client sends and receives it as a base64 string (the room
 * contract's JSON form), a MessagePack client as `bin`; the hub converts between the two forms
 * only when a recipient needs the other one, so a room of one protocol pays for no conversion.
 */
import { ErrorCode, RtcAgentError } from '../errors.js';
import { ClientMethod } from '../protocol/room-contract.js';
import { MessageType } from '../protocol/signalr/hub-messages.js';
import { encodeFramedMessagePack } from '../protocol/signalr/msgpack-messages.js';
import { RECORD_SEPARATOR, writeRecord } from '../protocol/signalr/text-format.js';
import type { HubProtocolName, WireRecord } from './wire-codec.js';

/** `Relayed(room, from, payload)`: the payload is the third argument. */
export const RELAYED_PAYLOAD_ARGUMENT = 2;

/** Standard base64 with padding, as JSON clients send Relay payloads (and System.Text.Json writes byte[]). */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes a JSON client's base64 payload; throws BAD_REQUEST naming the problem if it is not base64. */
export function payloadBytes(base64: string): Uint8Array {
  if (!BASE64.test(base64)) {
    throw new RtcAgentError(ErrorCode.BAD_REQUEST, "Relay's payload must be base64 (RFC 4648 §4, padded) for the room's MessagePack members to get it as bytes");
  }
  return Buffer.from(base64, 'base64');
}

function payloadText(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

export class SharedInvocation {
  private jsonRecord: string | undefined;
  private binaryRecord: Uint8Array | undefined;

  private constructor(
    private readonly target: string,
    /** Undefined while only the JSON record is known (it came from another hub) and nobody needed more. */
    private args: unknown[] | undefined,
    /** Index of the argument that is bytes (a Relayed payload), if any. */
    private readonly binaryArgument: number | undefined,
    jsonRecord?: string,
  ) {
    this.jsonRecord = jsonRecord;
  }

  /** `Relayed(room, from, payload)`, the payload as the sender gave it (base64 text or bytes). */
  static relayed(room: string, from: string, payload: string | Uint8Array): SharedInvocation {
    return new SharedInvocation(ClientMethod.Relayed, [room, from, payload], RELAYED_PAYLOAD_ARGUMENT);
  }

  /** Any invocation without bytes in it (Signal, PeerJoined, …). */
  static of(target: string, args: unknown[]): SharedInvocation {
    return new SharedInvocation(target, args, undefined);
  }

  /**
   * An invocation another hub of the cluster serialised as a JSON record (the backplane carries
   * JSON); it is parsed only if a MessagePack member needs it.
   */
  static fromJsonRecord(record: string, binaryArgument: number | undefined): SharedInvocation {
    return new SharedInvocation('', undefined, binaryArgument, record);
  }

  /** The record for a connection speaking `protocol`. Throws BAD_REQUEST for a payload that is not base64. */
  record(protocol: HubProtocolName): WireRecord {
    return protocol === 'json' ? this.json() : this.messagePack();
  }

  /** The JSON record (with its separator); bytes arguments as base64 strings. */
  json(): string {
    if (this.jsonRecord !== undefined) return this.jsonRecord;
    const args = this.args as unknown[];
    const i = this.binaryArgument;
    const wireArgs = i !== undefined && args[i] instanceof Uint8Array ? args.map((a, n) => (n === i ? payloadText(a as Uint8Array) : a)) : args;
    this.jsonRecord = writeRecord(JSON.stringify({ type: MessageType.Invocation, target: this.target, arguments: wireArgs }));
    return this.jsonRecord;
  }

  /** The framed MessagePack message; bytes arguments as `bin`. */
  messagePack(): Uint8Array {
    if (this.binaryRecord !== undefined) return this.binaryRecord;
    let target = this.target;
    let args = this.args;
    if (args === undefined) {
      const parsed = JSON.parse((this.jsonRecord as string).slice(0, -RECORD_SEPARATOR.length)) as { target: string; arguments: unknown[] };
      target = parsed.target;
      args = parsed.arguments;
    }
    const i = this.binaryArgument;
    if (i !== undefined && typeof args[i] === 'string') args = args.map((a, n) => (n === i ? payloadBytes(a as string) : a));
    this.binaryRecord = encodeFramedMessagePack([MessageType.Invocation, {}, null, target, args]);
    return this.binaryRecord;
  }
}
