/**
 * JSON-RPC 2.0 (https://www.jsonrpc.org/specification) as the hub and the agent speak it on a
 * WebSocket: one message or one batch (an array) per text frame. This file is the spec's part:
 * classifying what arrived (request, notification, response, or why it is none of them), the
 * spec's error codes, and RtcAgentError ⇄ error objects. signaling.ts maps the signaling methods.
 */
import { ErrorCode, RtcAgentError, parseErrorCode } from '../../errors.js';

export const JSONRPC_VERSION = '2.0';

/** A request id: a string or a number; null only in responses to requests whose id was unreadable. */
export type JsonRpcId = string | number | null;

/** Params by name (the only form the signaling methods take) or by position. */
export type JsonRpcParams = Record<string, unknown> | unknown[];

/** A request (with `id`) or a notification (without: nothing is answered, not even an error). */
export interface JsonRpcRequest {
  jsonrpc: typeof JSONRPC_VERSION;
  method: string;
  params?: JsonRpcParams;
  id?: string | number | null;
}

export interface JsonRpcErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

export interface JsonRpcSuccess {
  jsonrpc: typeof JSONRPC_VERSION;
  result: unknown;
  id: JsonRpcId;
}

export interface JsonRpcFailure {
  jsonrpc: typeof JSONRPC_VERSION;
  error: JsonRpcErrorObject;
  id: JsonRpcId;
}

export type JsonRpcResponse = JsonRpcSuccess | JsonRpcFailure;

/** The spec's codes (§5.1), and the start of the range it leaves to servers (-32000 to -32099). */
export const JsonRpcErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  /** Anything the hub refused that has no code of its own below. */
  ServerError: -32000,
  Forbidden: -32001,
  NotInRoom: -32002,
  PeerNotInRoom: -32003,
  RoomFull: -32004,
  TooManyRooms: -32005,
  RateLimited: -32006,
  MessageTooLarge: -32007,
  Unauthorized: -32008,
} as const;
export type JsonRpcErrorCode = (typeof JsonRpcErrorCode)[keyof typeof JsonRpcErrorCode];

/** The numeric code of each stable error code; `error.data.code` always carries the string too. */
const NUMERIC_OF: Partial<Record<ErrorCode, JsonRpcErrorCode>> = {
  [ErrorCode.PROTOCOL]: JsonRpcErrorCode.InvalidRequest,
  [ErrorCode.UNKNOWN_METHOD]: JsonRpcErrorCode.MethodNotFound,
  [ErrorCode.BAD_REQUEST]: JsonRpcErrorCode.InvalidParams,
  [ErrorCode.INVALID_ROOM_NAME]: JsonRpcErrorCode.InvalidParams,
  [ErrorCode.INTERNAL]: JsonRpcErrorCode.InternalError,
  [ErrorCode.FORBIDDEN]: JsonRpcErrorCode.Forbidden,
  [ErrorCode.NOT_IN_ROOM]: JsonRpcErrorCode.NotInRoom,
  [ErrorCode.PEER_NOT_IN_ROOM]: JsonRpcErrorCode.PeerNotInRoom,
  [ErrorCode.ROOM_FULL]: JsonRpcErrorCode.RoomFull,
  [ErrorCode.TOO_MANY_ROOMS]: JsonRpcErrorCode.TooManyRooms,
  [ErrorCode.RATE_LIMITED]: JsonRpcErrorCode.RateLimited,
  [ErrorCode.MESSAGE_TOO_LARGE]: JsonRpcErrorCode.MessageTooLarge,
  [ErrorCode.UNAUTHORIZED]: JsonRpcErrorCode.Unauthorized,
};

/** The error object for an RtcAgentError: a numeric class for generic clients, the stable code in `data.code`. */
export function toJsonRpcError(err: RtcAgentError): JsonRpcErrorObject {
  return { code: NUMERIC_OF[err.code] ?? JsonRpcErrorCode.ServerError, message: err.message, data: { code: err.code } };
}

/**
 * An RtcAgentError for an error object from any JSON-RPC server: ours carry the stable code in
 * `data.code`; for others the numeric code decides, and the message says which server refused what.
 */
export function fromJsonRpcError(error: unknown, method: string): RtcAgentError {
  const obj = isObject(error) ? error : {};
  const numeric = typeof obj.code === 'number' ? obj.code : undefined;
  const message = typeof obj.message === 'string' ? obj.message.slice(0, 500) : 'no message';
  const data = isObject(obj.data) ? obj.data : undefined;
  const stable = typeof data?.code === 'string' ? parseErrorCode(data.code) : undefined;
  const details = { jsonRpcCode: numeric };
  if (stable !== undefined) return new RtcAgentError(stable, message, { details });
  const code =
    numeric === JsonRpcErrorCode.MethodNotFound
      ? ErrorCode.UNKNOWN_METHOD
      : numeric === JsonRpcErrorCode.ParseError || numeric === JsonRpcErrorCode.InvalidRequest
        ? ErrorCode.PROTOCOL
        : numeric === JsonRpcErrorCode.InternalError
          ? ErrorCode.INTERNAL
          : ErrorCode.BAD_REQUEST;
  return new RtcAgentError(code, `the signaling server refused ${method}: ${message} (JSON-RPC error ${numeric ?? '?'})`, { details });
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isId(value: unknown): value is string | number | null {
  return typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value)) || value === null;
}

/** One entry of what arrived, classified. */
export type JsonRpcInbound =
  | { kind: 'request'; request: JsonRpcRequest }
  | { kind: 'response'; response: JsonRpcResponse }
  /** Not a valid request (§4) nor a response: answer -32600 with `id` (null when it was unreadable). */
  | { kind: 'invalid'; id: JsonRpcId; why: string };

/** What one text frame held. */
export type JsonRpcFrame =
  | { kind: 'single'; entry: JsonRpcInbound }
  | { kind: 'batch'; entries: JsonRpcInbound[] }
  /** Not JSON at all: answer one -32700 with id null. */
  | { kind: 'parse-error'; why: string }
  /** `[]`: answer one -32600 with id null (§6). */
  | { kind: 'empty-batch' };

/** Parses one text frame. Never throws. */
export function parseFrame(text: string): JsonRpcFrame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { kind: 'parse-error', why: (err as Error).message.slice(0, 200) };
  }
  if (Array.isArray(value)) {
    if (value.length === 0) return { kind: 'empty-batch' };
    return { kind: 'batch', entries: value.map(classify) };
  }
  return { kind: 'single', entry: classify(value) };
}

/** Classifies one parsed value (§4 request, §5 response). Never throws. */
export function classify(value: unknown): JsonRpcInbound {
  if (!isObject(value)) return { kind: 'invalid', id: null, why: `a message must be an object, got ${typeName(value)}` };
  const id = 'id' in value && isId(value.id) ? value.id : null;
  if (value.jsonrpc !== JSONRPC_VERSION) return { kind: 'invalid', id, why: `"jsonrpc" must be exactly "2.0"` };
  if ('id' in value && !isId(value.id)) return { kind: 'invalid', id: null, why: `"id" must be a string, a number or null, got ${typeName(value.id)}` };
  if (!('method' in value)) {
    // A response: exactly one of result / error, and an id.
    const hasResult = 'result' in value;
    const hasError = 'error' in value;
    if (hasResult !== hasError && 'id' in value) {
      if (hasError && !isObject(value.error)) return { kind: 'invalid', id, why: '"error" must be an object' };
      return { kind: 'response', response: value as unknown as JsonRpcResponse };
    }
    return { kind: 'invalid', id, why: 'a request needs a "method" string' };
  }
  if (typeof value.method !== 'string') return { kind: 'invalid', id, why: `"method" must be a string, got ${typeName(value.method)}` };
  if ('params' in value && value.params !== undefined && typeof value.params !== 'object') {
    return { kind: 'invalid', id, why: `"params" must be an object or an array, got ${typeName(value.params)}` };
  }
  if ('params' in value && value.params === null) return { kind: 'invalid', id, why: '"params" must be an object or an array, got null' };
  return { kind: 'request', request: value as unknown as JsonRpcRequest };
}

/** True for a request the sender expects an answer to (it has an `id`, even `null`). */
export function expectsResponse(request: JsonRpcRequest): boolean {
  return 'id' in request && request.id !== undefined;
}

export function success(id: JsonRpcId, result: unknown): JsonRpcSuccess {
  return { jsonrpc: JSONRPC_VERSION, result: result === undefined ? null : result, id };
}

export function failure(id: JsonRpcId, error: JsonRpcErrorObject): JsonRpcFailure {
  return { jsonrpc: JSONRPC_VERSION, error, id };
}

export function notification(method: string, params: JsonRpcParams): JsonRpcRequest {
  return { jsonrpc: JSONRPC_VERSION, method, params };
}

export function request(id: string | number, method: string, params: JsonRpcParams): JsonRpcRequest {
  return { jsonrpc: JSONRPC_VERSION, method, params, id };
}

export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/**
 * WebSocket close codes the hub uses (RFC 6455 §7.4; 4000-4999 are private to applications). The
 * close reason is `RTC_ERR_…: message`, cut to the 123 bytes a close frame may carry.
 */
export const RpcCloseCode = {
  Normal: 1000,
  /** The hub is shutting down: reconnect (to another hub of the list, or this one once it is back). */
  GoingAway: 1001,
  /** Kept breaking limits (RTC_ERR_ABUSE): do not reconnect straight away. */
  PolicyViolation: 1008,
  /** The token expired (RTC_ERR_UNAUTHORIZED): reconnect with a fresh one. */
  TokenExpired: 4001,
  /** Did not read its messages in time (RTC_ERR_SLOW_CONSUMER), or was silent too long (RTC_ERR_TIMEOUT). */
  TooSlow: 4002,
} as const;

/** The longest close reason a WebSocket close frame carries, in UTF-8 bytes. */
export const MAX_CLOSE_REASON_BYTES = 123;

/** `CODE: message`, cut on a character boundary to fit a close frame. */
export function closeReason(err: RtcAgentError): string {
  let text = err.toWire();
  const encoder = new TextEncoder();
  while (encoder.encode(text).length > MAX_CLOSE_REASON_BYTES) text = text.slice(0, -1);
  return text;
}
