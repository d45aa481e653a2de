/**
 * The SignalR JSON hub protocol's messages as a discriminated union, with a strict parser for
 * untrusted input. Field names and types follow aspnetcore's HubProtocol.md.
 */
import { ErrorCode, RtcAgentError } from '../../errors.js';
import { describeType } from '../room-contract.js';

export const MessageType = {
  Invocation: 1,
  StreamItem: 2,
  Completion: 3,
  StreamInvocation: 4,
  CancelInvocation: 5,
  Ping: 6,
  Close: 7,
  Ack: 8,
  Sequence: 9,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

type Headers = Record<string, string>;

export interface InvocationMessage {
  type: typeof MessageType.Invocation;
  invocationId?: string;
  target: string;
  arguments: unknown[];
  streamIds?: string[];
  headers?: Headers;
}
export interface StreamItemMessage {
  type: typeof MessageType.StreamItem;
  invocationId: string;
  item: unknown;
  headers?: Headers;
}
export interface CompletionMessage {
  type: typeof MessageType.Completion;
  invocationId: string;
  result?: unknown;
  error?: string;
  headers?: Headers;
}
export interface StreamInvocationMessage {
  type: typeof MessageType.StreamInvocation;
  invocationId: string;
  target: string;
  arguments: unknown[];
  streamIds?: string[];
  headers?: Headers;
}
export interface CancelInvocationMessage {
  type: typeof MessageType.CancelInvocation;
  invocationId: string;
  headers?: Headers;
}
export interface PingMessage {
  type: typeof MessageType.Ping;
}
export interface CloseMessage {
  type: typeof MessageType.Close;
  error?: string;
  allowReconnect?: boolean;
}
export interface AckMessage {
  type: typeof MessageType.Ack;
  sequenceId: number;
}
export interface SequenceMessage {
  type: typeof MessageType.Sequence;
  sequenceId: number;
}
/** A message type this parser does not know; the protocol says to ignore it. */
export interface UnknownMessage {
  type: number;
  unknown: true;
}

export type HubMessage =
  | InvocationMessage
  | StreamItemMessage
  | CompletionMessage
  | StreamInvocationMessage
  | CancelInvocationMessage
  | PingMessage
  | CloseMessage
  | AckMessage
  | SequenceMessage;

/** Invocation-like messages are the ones stateful reconnect numbers and replays (types 1–5). */
export function isTrackable(type: number): boolean {
  return type >= MessageType.Invocation && type <= MessageType.CancelInvocation;
}

function protocolError(message: string): RtcAgentError {
  return new RtcAgentError(ErrorCode.PROTOCOL, message);
}

function requireString(obj: Record<string, unknown>, field: string, typeName: string): string {
  const value = obj[field];
  if (typeof value !== 'string') {
    throw protocolError(`${typeName} message needs a string '${field}', got ${describeType(value)}`);
  }
  return value;
}

function optionalString(obj: Record<string, unknown>, field: string, typeName: string): string | undefined {
  const value = obj[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') {
    throw protocolError(`${typeName} message field '${field}' must be a string, got ${describeType(value)}`);
  }
  return value;
}

function requireArray(obj: Record<string, unknown>, field: string, typeName: string): unknown[] {
  const value = obj[field];
  if (!Array.isArray(value)) {
    throw protocolError(`${typeName} message needs an array '${field}', got ${describeType(value)}`);
  }
  return value;
}

function optionalStringArray(obj: Record<string, unknown>, field: string, typeName: string): string[] | undefined {
  const value = obj[field];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw protocolError(`${typeName} message field '${field}' must be an array of strings`);
  }
  return value as string[];
}

function requireSequenceId(obj: Record<string, unknown>, typeName: string): number {
  const value = obj.sequenceId;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw protocolError(`${typeName} message needs a non-negative integer 'sequenceId'`);
  }
  return value;
}

function optionalHeaders(obj: Record<string, unknown>): Headers | undefined {
  const value = obj.headers;
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw protocolError("message field 'headers' must be an object of strings");
  }
  return value as Headers;
}

/**
 * Parses one record (without its separator). Throws RtcAgentError(PROTOCOL) naming what is wrong;
 * returns an UnknownMessage for a well-formed message of a type this side does not know.
 */
export function parseHubMessage(record: string): HubMessage | UnknownMessage {
  let value: unknown;
  try {
    value = JSON.parse(record);
  } catch (err) {
    throw protocolError(`message is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw protocolError(`message must be a JSON object, got ${describeType(value)}`);
  }
  const obj = value as Record<string, unknown>;
  const type = obj.type;
  if (typeof type !== 'number' || !Number.isInteger(type)) {
    throw protocolError(`message needs an integer 'type', got ${describeType(type)}`);
  }
  switch (type) {
    case MessageType.Invocation: {
      const msg: InvocationMessage = {
        type,
        target: requireString(obj, 'target', 'Invocation'),
        arguments: requireArray(obj, 'arguments', 'Invocation'),
      };
      const invocationId = optionalString(obj, 'invocationId', 'Invocation');
      if (invocationId !== undefined) msg.invocationId = invocationId;
      const streamIds = optionalStringArray(obj, 'streamIds', 'Invocation');
      if (streamIds !== undefined) msg.streamIds = streamIds;
      const headers = optionalHeaders(obj);
      if (headers !== undefined) msg.headers = headers;
      return msg;
    }
    case MessageType.StreamItem:
      optionalHeaders(obj);
      return { type, invocationId: requireString(obj, 'invocationId', 'StreamItem'), item: obj.item };
    case MessageType.Completion: {
      const msg: CompletionMessage = { type, invocationId: requireString(obj, 'invocationId', 'Completion') };
      const error = optionalString(obj, 'error', 'Completion');
      if (error !== undefined && 'result' in obj) {
        throw protocolError('Completion message must not have both result and error');
      }
      if (error !== undefined) msg.error = error;
      if ('result' in obj) msg.result = obj.result;
      return msg;
    }
    case MessageType.StreamInvocation: {
      const msg: StreamInvocationMessage = {
        type,
        invocationId: requireString(obj, 'invocationId', 'StreamInvocation'),
        target: requireString(obj, 'target', 'StreamInvocation'),
        arguments: requireArray(obj, 'arguments', 'StreamInvocation'),
      };
      const streamIds = optionalStringArray(obj, 'streamIds', 'StreamInvocation');
      if (streamIds !== undefined) msg.streamIds = streamIds;
      return msg;
    }
    case MessageType.CancelInvocation:
      return { type, invocationId: requireString(obj, 'invocationId', 'CancelInvocation') };
    case MessageType.Ping:
      return { type };
    case MessageType.Close: {
      const msg: CloseMessage = { type };
      const error = optionalString(obj, 'error', 'Close');
      if (error !== undefined) msg.error = error;
      if (obj.allowReconnect !== undefined) msg.allowReconnect = obj.allowReconnect === true;
      return msg;
    }
    case MessageType.Ack:
      return { type, sequenceId: requireSequenceId(obj, 'Ack') };
    case MessageType.Sequence:
      return { type, sequenceId: requireSequenceId(obj, 'Sequence') };
    default:
      return { type, unknown: true };
  }
}

export function isUnknownMessage(msg: HubMessage | UnknownMessage): msg is UnknownMessage {
  return 'unknown' in msg;
}

/** Serialises a message to its JSON text (without the record separator). */
export function serializeHubMessage(msg: HubMessage): string {
  return JSON.stringify(msg);
}

export interface HandshakeRequest {
  protocol: string;
  version: number;
}

/** Parses the client's first record, `{"protocol":"json","version":1}`. */
export function parseHandshakeRequest(record: string): HandshakeRequest {
  let value: unknown;
  try {
    value = JSON.parse(record);
  } catch {
    throw new RtcAgentError(ErrorCode.HANDSHAKE, 'handshake request is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RtcAgentError(ErrorCode.HANDSHAKE, 'handshake request must be a JSON object');
  }
  const obj = value as Record<string, unknown>;
  if (typeof obj.protocol !== 'string' || typeof obj.version !== 'number' || !Number.isInteger(obj.version)) {
    throw new RtcAgentError(ErrorCode.HANDSHAKE, "handshake request needs a string 'protocol' and an integer 'version'");
  }
  return { protocol: obj.protocol, version: obj.version };
}
