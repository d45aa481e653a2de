/**
 * SignalR's binary framing (HubProtocol.md, "Binary encoding"): every MessagePack message is
 * prefixed with its length as a VarInt of 1–5 bytes (7 bits per byte, least significant first, the
 * high bit set on every byte but the last), and one transport frame may carry several messages.
 * The official client throws "Incomplete message." on a frame that ends inside a message, so a
 * writer never splits one; a reader still keeps a partial tail for the next frame, as for text.
 */
import { ErrorCode, RtcAgentError } from '../../errors.js';

/** Five VarInt bytes carry 35 bits; SignalR allows 2 GB (31 bits), as the official client checks. */
const MAX_PREFIX_BYTES = 5;
export const MAX_BINARY_MESSAGE_BYTES = 2 ** 31 - 1;

/** Bytes the length prefix of a `size`-byte message takes. */
export function varIntLength(size: number): number {
  let n = 1;
  while (size >= 0x80) {
    size = Math.floor(size / 0x80);
    n++;
  }
  return n;
}

/** Writes `size` as a VarInt at `out[at]`; returns the offset after it. */
export function writeVarInt(out: Uint8Array, at: number, size: number): number {
  while (size >= 0x80) {
    out[at++] = (size & 0x7f) | 0x80;
    size = Math.floor(size / 0x80);
  }
  out[at++] = size;
  return at;
}

/** One framed message: the VarInt prefix, then `body` (copied once). */
export function frameBinaryMessage(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(varIntLength(body.length) + body.length);
  out.set(body, writeVarInt(out, 0, body.length));
  return out;
}

export interface SplitBinary {
  /** Complete message bodies, views into the input (no copies). */
  messages: Uint8Array[];
  /** The bytes after the last complete message (a partial prefix or body), kept for the next frame. */
  rest: Uint8Array;
  /** Declared size of the message `rest` belongs to, when its prefix is complete; else undefined. */
  pendingSize: number | undefined;
}

/**
 * Splits buffered bytes into complete message bodies. Throws RtcAgentError(PROTOCOL) for a prefix
 * longer than five bytes or a size over 2 GB: the stream cannot be resynchronised after that.
 */
export function splitBinaryMessages(input: Uint8Array): SplitBinary {
  const messages: Uint8Array[] = [];
  let at = 0;
  while (at < input.length) {
    let size = 0;
    let shift = 1;
    let n = 0;
    let byte = 0x80;
    while ((byte & 0x80) !== 0 && at + n < input.length) {
      if (n === MAX_PREFIX_BYTES) throw new RtcAgentError(ErrorCode.PROTOCOL, 'message length prefix is longer than 5 bytes');
      byte = input[at + n] as number;
      size += (byte & 0x7f) * shift;
      shift *= 0x80;
      n++;
    }
    if ((byte & 0x80) !== 0) {
      if (n >= MAX_PREFIX_BYTES) throw new RtcAgentError(ErrorCode.PROTOCOL, 'message length prefix is longer than 5 bytes');
      return { messages, rest: input.subarray(at), pendingSize: undefined };
    }
    if (size > MAX_BINARY_MESSAGE_BYTES) throw new RtcAgentError(ErrorCode.PROTOCOL, 'messages bigger than 2 GB are not supported');
    const start = at + n;
    if (start + size > input.length) return { messages, rest: input.subarray(at), pendingSize: size };
    messages.push(input.subarray(start, start + size));
    at = start + size;
  }
  return { messages, rest: input.subarray(input.length), pendingSize: undefined };
}
