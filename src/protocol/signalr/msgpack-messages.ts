/**
 * The SignalR MessagePack hub protocol's messages (HubProtocol.md, "MessagePack (MsgPack)
 * encoding"): the same {@link HubMessage} union as the JSON protocol, each message a MessagePack
 * array in a fixed layout, framed by binary-format.ts. Bytes travel as MessagePack `bin` (a
 * Uint8Array here), not as base64. Encoding and decoding are @msgpack/msgpack's (the library the
 * official client's protocol package uses); this file only maps the layouts and checks untrusted
 * input strictly, naming what is wrong.
 *
 * | message          | layout                                                   |
 * |------------------|----------------------------------------------------------|
 * | Invocation       | `[1, headers, invocationId \| nil, target, args, streamIds?]` |
 * | StreamItem       | `[2, headers, invocationId, item]`                        |
 * | Completion       | `[3, headers, invocationId, kind, result?]` (1 error, 2 void, 3 result) |
 * | StreamInvocation | `[4, headers, invocationId, target, args, streamIds?]`    |
 * | CancelInvocation | `[5, headers, invocationId]`                              |
 * | Ping             | `[6]`                                                     |
 * | Close            | `[7, error \| nil, allowReconnect?]`                      |
 * | Ack / Sequence   | `[8, sequenceId]` / `[9, sequenceId]`                     |
 *
 * Arrays may be longer than these (later protocol versions may append fields): the extra items are
 * ignored, as the official client and ASP.NET Core do.
 */
import { Decoder, Encoder } from '@msgpack/msgpack';
import { ErrorCode, RtcAgentError } from '../../errors.js';
import { describeType } from '../room-contract.js';
import { varIntLength, writeVarInt } from './binary-format.js';
import {
  MessageType,
  type CloseMessage,
  type CompletionMessage,
  type HubMessage,
  type InvocationMessage,
  type StreamInvocationMessage,
  type UnknownMessage,
} from './hub-messages.js';

const COMPLETION_ERROR = 1;
const COMPLETION_VOID = 2;
const COMPLETION_RESULT = 3;

// One of each, reused: encoding and decoding are synchronous, so calls never interleave.
// ignoreUndefined: optional fields left undefined are absent, as JSON.stringify leaves them.
const encoder = new Encoder(undefined, undefined, undefined, undefined, false, false, true);
const decoder = new Decoder();

function protocolError(message: string): RtcAgentError {
  return new RtcAgentError(ErrorCode.PROTOCOL, message);
}

/** Encodes `value` and frames it (VarInt length prefix): one complete message for a transport frame. */
export function encodeFramedMessagePack(value: unknown): Uint8Array {
  const body = encoder.encodeSharedRef(value);
  const out = new Uint8Array(varIntLength(body.length) + body.length);
  out.set(body, writeVarInt(out, 0, body.length));
  return out;
}

/** The array layout of `msg` (see the table above), ready for {@link encodeFramedMessagePack}. */
export function messagePackLayout(msg: HubMessage): unknown[] {
  switch (msg.type) {
    case MessageType.Invocation: {
      const layout: unknown[] = [msg.type, msg.headers ?? {}, msg.invocationId ?? null, msg.target, msg.arguments];
      if (msg.streamIds !== undefined) layout.push(msg.streamIds);
      return layout;
    }
    case MessageType.StreamInvocation: {
      const layout: unknown[] = [msg.type, msg.headers ?? {}, msg.invocationId, msg.target, msg.arguments];
      if (msg.streamIds !== undefined) layout.push(msg.streamIds);
      return layout;
    }
    case MessageType.StreamItem:
      return [msg.type, msg.headers ?? {}, msg.invocationId, msg.item];
    case MessageType.Completion:
      if (msg.error !== undefined) return [msg.type, msg.headers ?? {}, msg.invocationId, COMPLETION_ERROR, msg.error];
      if (msg.result !== undefined) return [msg.type, msg.headers ?? {}, msg.invocationId, COMPLETION_RESULT, msg.result];
      return [msg.type, msg.headers ?? {}, msg.invocationId, COMPLETION_VOID];
    case MessageType.CancelInvocation:
      return [msg.type, msg.headers ?? {}, msg.invocationId];
    case MessageType.Ping:
      return [msg.type];
    case MessageType.Close: {
      const layout: unknown[] = [msg.type, msg.error ?? null];
      if (msg.allowReconnect !== undefined) layout.push(msg.allowReconnect);
      return layout;
    }
    case MessageType.Ack:
    case MessageType.Sequence:
      return [msg.type, msg.sequenceId];
  }
}

/** Serialises a message as one framed MessagePack message. */
export function writeMessagePackMessage(msg: HubMessage): Uint8Array {
  return encodeFramedMessagePack(messagePackLayout(msg));
}

function decodeArray(body: Uint8Array): unknown[] {
  let value: unknown;
  try {
    value = decoder.decode(body);
  } catch (err) {
    throw protocolError(`message is not valid MessagePack: ${(err as Error).message}`);
  }
  if (!Array.isArray(value) || value.length === 0) {
    throw protocolError(`message must be a non-empty MessagePack array, got ${describeType(value)}`);
  }
  return value;
}

function itemName(index: number, names: readonly string[]): string {
  return names[index] ?? `item ${index}`;
}

function requireString(items: unknown[], index: number, typeName: string, names: readonly string[]): string {
  const value = items[index];
  if (typeof value !== 'string') throw protocolError(`${typeName} message needs a string '${itemName(index, names)}', got ${describeType(value)}`);
  return value;
}

function requireArray(items: unknown[], index: number, typeName: string, names: readonly string[]): unknown[] {
  const value = items[index];
  if (!Array.isArray(value)) throw protocolError(`${typeName} message needs an array '${itemName(index, names)}', got ${describeType(value)}`);
  return value;
}

function optionalStringArray(items: unknown[], index: number, typeName: string): string[] | undefined {
  const value = items[index];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw protocolError(`${typeName} message field 'streamIds' must be an array of strings`);
  }
  return value as string[];
}

function requireHeaders(items: unknown[], typeName: string): Record<string, string> | undefined {
  const value = items[1];
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array || !Object.values(value).every((v) => typeof v === 'string')) {
    throw protocolError(`${typeName} message needs a map of strings 'headers', got ${describeType(value)}`);
  }
  return Object.keys(value).length > 0 ? (value as Record<string, string>) : undefined;
}

function requireLength(items: unknown[], min: number, typeName: string): void {
  if (items.length < min) throw protocolError(`${typeName} message needs at least ${min} items, got ${items.length}`);
}

function requireSequenceId(items: unknown[], typeName: string): number {
  const value = items[1];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw protocolError(`${typeName} message needs a non-negative integer 'sequenceId'`);
  }
  return value;
}

const INVOCATION_NAMES = ['type', 'headers', 'invocationId', 'target', 'arguments', 'streamIds'] as const;
const COMPLETION_NAMES = ['type', 'headers', 'invocationId', 'resultKind', 'result'] as const;

/**
 * Parses one message body (without its length prefix). Throws RtcAgentError(PROTOCOL) naming what
 * is wrong; returns an UnknownMessage for a message type this side does not know.
 */
export function parseMessagePackMessage(body: Uint8Array): HubMessage | UnknownMessage {
  const items = decodeArray(body);
  const type = items[0];
  if (typeof type !== 'number' || !Number.isInteger(type)) {
    throw protocolError(`message needs an integer type as its first item, got ${describeType(type)}`);
  }
  switch (type) {
    case MessageType.Invocation: {
      requireLength(items, 5, 'Invocation');
      const headers = requireHeaders(items, 'Invocation');
      const id = items[2];
      if (id !== null && id !== undefined && typeof id !== 'string') {
        throw protocolError(`Invocation message field 'invocationId' must be a string or nil, got ${describeType(id)}`);
      }
      const msg: InvocationMessage = {
        type,
        target: requireString(items, 3, 'Invocation', INVOCATION_NAMES),
        arguments: requireArray(items, 4, 'Invocation', INVOCATION_NAMES),
      };
      if (typeof id === 'string') msg.invocationId = id;
      const streamIds = optionalStringArray(items, 5, 'Invocation');
      if (streamIds !== undefined) msg.streamIds = streamIds;
      if (headers !== undefined) msg.headers = headers;
      return msg;
    }
    case MessageType.StreamItem:
      requireLength(items, 4, 'StreamItem');
      requireHeaders(items, 'StreamItem');
      return { type, invocationId: requireString(items, 2, 'StreamItem', INVOCATION_NAMES), item: items[3] };
    case MessageType.Completion: {
      requireLength(items, 4, 'Completion');
      requireHeaders(items, 'Completion');
      const msg: CompletionMessage = { type, invocationId: requireString(items, 2, 'Completion', COMPLETION_NAMES) };
      const kind = items[3];
      if (kind === COMPLETION_ERROR) {
        requireLength(items, 5, 'Completion');
        msg.error = requireString(items, 4, 'Completion', ['', '', '', '', 'error']);
      } else if (kind === COMPLETION_RESULT) {
        requireLength(items, 5, 'Completion');
        msg.result = items[4];
      } else if (kind !== COMPLETION_VOID) {
        throw protocolError(`Completion message has an unknown result kind ${describeType(kind)} (1 error, 2 void, 3 result)`);
      }
      return msg;
    }
    case MessageType.StreamInvocation: {
      requireLength(items, 5, 'StreamInvocation');
      requireHeaders(items, 'StreamInvocation');
      const msg: StreamInvocationMessage = {
        type,
        invocationId: requireString(items, 2, 'StreamInvocation', INVOCATION_NAMES),
        target: requireString(items, 3, 'StreamInvocation', INVOCATION_NAMES),
        arguments: requireArray(items, 4, 'StreamInvocation', INVOCATION_NAMES),
      };
      const streamIds = optionalStringArray(items, 5, 'StreamInvocation');
      if (streamIds !== undefined) msg.streamIds = streamIds;
      return msg;
    }
    case MessageType.CancelInvocation:
      requireLength(items, 3, 'CancelInvocation');
      requireHeaders(items, 'CancelInvocation');
      return { type, invocationId: requireString(items, 2, 'CancelInvocation', INVOCATION_NAMES) };
    case MessageType.Ping:
      return { type };
    case MessageType.Close: {
      // The JS client writes [7, nil]; ASP.NET Core [7, error, allowReconnect].
      const error = items[1];
      if (error !== undefined && error !== null && typeof error !== 'string') {
        throw protocolError(`Close message field 'error' must be a string or nil, got ${describeType(error)}`);
      }
      const msg: CloseMessage = { type };
      if (typeof error === 'string') msg.error = error;
      if (items[2] !== undefined && items[2] !== null) msg.allowReconnect = items[2] === true;
      return msg;
    }
    case MessageType.Ack:
      requireLength(items, 2, 'Ack');
      return { type, sequenceId: requireSequenceId(items, 'Ack') };
    case MessageType.Sequence:
      requireLength(items, 2, 'Sequence');
      return { type, sequenceId: requireSequenceId(items, 'Sequence') };
    default:
      return { type, unknown: true };
  }
}

/**
 * The type and (for an Invocation / StreamInvocation expecting an answer) the invocation id of a
 * message that is too large to handle, so the hub can answer it; -1 when it is not a MessagePack
 * array with an integer type first.
 */
export function messagePackHead(body: Uint8Array): { type: number; invocationId: string | undefined } {
  let items: unknown[];
  try {
    items = decodeArray(body);
  } catch {
    return { type: -1, invocationId: undefined };
  }
  const type = typeof items[0] === 'number' && Number.isInteger(items[0]) ? items[0] : -1;
  const answerable = type === MessageType.Invocation || type === MessageType.StreamInvocation;
  return { type, invocationId: answerable && typeof items[2] === 'string' ? items[2] : undefined };
}
