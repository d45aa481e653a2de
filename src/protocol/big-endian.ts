/**
 * Big-endian integers and doubles written into and read from plain Uint8Arrays, byte by byte.
 *
 * Why not a DataView: `new DataView(bytes.buffer)` forces V8 to move a small on-heap typed array
 * off the heap (an ArrayBuffer per frame), and frames, nonces and AADs are built for every message;
 * that showed up as GC time in the throughput bench. The f64 goes through one scratch array.
 */

const F64 = new Float64Array(1);
const F64_BYTES = new Uint8Array(F64.buffer);
/** The scratch's byte order: true on every platform Node and the browsers run on today. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function putU32(out: Uint8Array, at: number, n: number): void {
  out[at] = n >>> 24;
  out[at + 1] = (n >>> 16) & 0xff;
  out[at + 2] = (n >>> 8) & 0xff;
  out[at + 3] = n & 0xff;
}

export function getU32(bytes: Uint8Array, at: number): number {
  return (bytes[at] as number) * 2 ** 24 + (((bytes[at + 1] as number) << 16) | ((bytes[at + 2] as number) << 8) | (bytes[at + 3] as number));
}

export function putF64(out: Uint8Array, at: number, x: number): void {
  F64[0] = x;
  if (LITTLE_ENDIAN) for (let i = 0; i < 8; i++) out[at + i] = F64_BYTES[7 - i] as number;
  else for (let i = 0; i < 8; i++) out[at + i] = F64_BYTES[i] as number;
}

export function getF64(bytes: Uint8Array, at: number): number {
  if (LITTLE_ENDIAN) for (let i = 0; i < 8; i++) F64_BYTES[7 - i] = bytes[at + i] as number;
  else for (let i = 0; i < 8; i++) F64_BYTES[i] = bytes[at + i] as number;
  return F64[0] as number;
}
