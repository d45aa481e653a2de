/**
 * What `send()` accepts, as frame flags and bytes, and back: a string is UTF-8 text, bytes are
 * binary, anything else JSON-able is JSON.
 */
import { ErrorCode, RtcAgentError } from '../errors.js';
import { FrameFlag } from '../protocol/frames.js';
import { utf8Decode, utf8Encode } from './bytes.js';

export type MessageKind = 'text' | 'json' | 'binary';

/** Turns what `send()` accepts into flags and bytes. */
export function encodeMessage(data: unknown): { flags: number; payload: Uint8Array } {
  if (typeof data === 'string') return { flags: FrameFlag.Text, payload: utf8Encode(data) };
  if (data instanceof Uint8Array) return { flags: 0, payload: data };
  if (data instanceof ArrayBuffer) return { flags: 0, payload: new Uint8Array(data) };
  if (data === undefined || typeof data === 'function' || typeof data === 'symbol' || typeof data === 'bigint') {
    throw new RtcAgentError(ErrorCode.BAD_REQUEST, `cannot send a ${typeof data}; send a string, a Uint8Array or a JSON-able value`);
  }
  let json: string;
  try {
    json = JSON.stringify(data);
  } catch (err) {
    throw new RtcAgentError(ErrorCode.BAD_REQUEST, `message is not JSON-able: ${(err as Error).message}`, { cause: err });
  }
  return { flags: FrameFlag.Json, payload: utf8Encode(json) };
}

/**
 * The application's view of a received text or JSON payload, written into `into` (the message
 * being built, so no object is made in between); bytes without either flag stay as they are.
 * Throws PROTOCOL for invalid JSON.
 */
export function decodeMessageInto(into: { kind: MessageKind; data: unknown; text?: string }, flags: number, payload: Uint8Array): void {
  const isJson = (flags & FrameFlag.Json) !== 0;
  if (!isJson && (flags & FrameFlag.Text) === 0) {
    into.kind = 'binary';
    into.data = payload;
    return;
  }
  const text = utf8Decode(payload);
  if (!isJson) {
    into.kind = 'text';
    into.data = text;
    into.text = text;
    return;
  }
  let data: unknown;
  try {
    data = JSON.parse(text) as unknown;
  } catch {
    throw new RtcAgentError(ErrorCode.PROTOCOL, 'invalid JSON in a message');
  }
  into.kind = 'json';
  into.data = data;
  into.text = text;
}
