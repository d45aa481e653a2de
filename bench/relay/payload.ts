/**
 * Relay payloads: base64 of random bytes of the stated size, as agents send. The first 12 bytes
 * carry a float64 send time (performance.now(), valid because every client lives in the bench
 * process) and a uint32 sequence number, so receivers measure one-way latency and per-message
 * delivery without a side table. 12 bytes = 16 base64 chars with no padding, so the header's
 * base64 and the body's base64 concatenate into one valid base64 string.
 */
import { randomBytes } from 'node:crypto';

const HEADER_BYTES = 12;
const HEADER_CHARS = 16;
/**
 * Distinct random bodies rotated across messages. If the hub ever negotiated permessage-deflate,
 * a single repeated body would compress across messages; 64 bodies keep repeats further apart
 * than deflate's 32 KiB window for every size used here.
 */
const BODY_VARIANTS = 64;

export class PayloadFactory {
  private readonly bodies: string[];
  private readonly header = Buffer.alloc(HEADER_BYTES);

  constructor(readonly sizeBytes: number) {
    if (sizeBytes < HEADER_BYTES) throw new Error(`payload must be at least ${HEADER_BYTES} bytes`);
    this.bodies = Array.from({ length: BODY_VARIANTS }, () => randomBytes(sizeBytes - HEADER_BYTES).toString('base64'));
  }

  make(seq: number): string {
    this.header.writeDoubleLE(performance.now(), 0);
    this.header.writeUInt32LE(seq >>> 0, 8);
    return this.header.toString('base64') + (this.bodies[seq % BODY_VARIANTS] as string);
  }
}

export interface PayloadHeader {
  sentAt: number;
  seq: number;
}

const scratch = Buffer.alloc(HEADER_BYTES);

export function readHeader(payload: string): PayloadHeader {
  scratch.write(payload.slice(0, HEADER_CHARS), 'base64');
  return { sentAt: scratch.readDoubleLE(0), seq: scratch.readUInt32LE(8) };
}
