/**
 * Bytes without Buffer: UTF-8, base64, concatenation, comparison and random numbers on the globals
 * both Node and browsers have (TextEncoder, btoa/atob, crypto.getRandomValues).
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true });

export function utf8Encode(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Decodes UTF-8, replacing invalid sequences (U+FFFD), as Buffer#toString does. */
export function utf8Decode(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** Decodes UTF-8, throwing a TypeError on invalid sequences. */
export function utf8DecodeStrict(bytes: Uint8Array): string {
  return strictDecoder.decode(bytes);
}

/** A binary string chunk at a time: String.fromCharCode's argument count is limited. */
const BASE64_CHUNK_BYTES = 0x8000;

/**
 * Node's Buffer, when the engine runs in Node: its base64 is native and an order of magnitude
 * faster than btoa/atob over binary strings (measured on the relay path, where every frame is
 * base64 in the JSON hub protocol). Found at run time, so the engine needs no Node types.
 */
interface BufferLike {
  from(data: ArrayBufferLike, offset: number, length: number): { toString(encoding: 'base64'): string };
  from(data: string, encoding: 'base64'): Uint8Array;
}
const nodeBuffer = (globalThis as { Buffer?: BufferLike }).Buffer;

/** Standard base64 (RFC 4648 §4) with padding, as Buffer#toString('base64') writes it. */
export function toBase64(bytes: Uint8Array): string {
  if (nodeBuffer) return nodeBuffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  let binary = '';
  for (let at = 0; at < bytes.length; at += BASE64_CHUNK_BYTES) {
    binary += String.fromCharCode(...bytes.subarray(at, at + BASE64_CHUNK_BYTES));
  }
  return btoa(binary);
}

/**
 * Decodes standard base64; throws a TypeError on anything that is not. (Node's Buffer, used when
 * present, skips bad characters silently; a length check catches that, so a corrupted relay
 * payload does not decode into something else. It accepts base64url's `-` and `_` too.)
 */
export function fromBase64(text: string): Uint8Array {
  if (nodeBuffer) {
    // Buffer skips what it cannot decode; then fewer bytes come out than the length promises.
    const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
    const out = nodeBuffer.from(text, 'base64');
    if (text.length % 4 !== 0 || out.length !== (text.length / 4) * 3 - padding) throw new TypeError('not valid base64');
    return out;
  }
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    throw new TypeError('not valid base64');
  }
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** base64url without padding (RFC 4648 §5). */
export function toBase64Url(bytes: Uint8Array): string {
  return toBase64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function concatBytes(parts: readonly Uint8Array[], size?: number): Uint8Array {
  let total = size ?? 0;
  if (size === undefined) for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function randomBytes(n: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(n));
}

export function randomUint32(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0] as number;
}

/** `bytes` random bytes as base64url (ids, session ids, agent keys). */
export function randomId(bytes: number): string {
  return toBase64Url(randomBytes(bytes));
}

export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}
