/**
 * Reading and forging the frames the engine puts on the wire (src/protocol/frames.ts), for tests
 * that count what was sent or hand the engine what a broken or hostile peer would send.
 */
import { DATA_HEADER_BYTES, FrameKind, decodeBundle, decodeFrame, encodeBundle, encodeFrame, type Frame } from '../../../src/protocol/frames.js';
import type { Delivery } from '../fakes/fake-hub.js';

/** The frames inside a relayed delivery (nothing for other deliveries). */
export function framesOf(d: Delivery): Frame[] {
  return d.kind === 'relayed' ? decodeBundle(d.payload).map((f) => decodeFrame(f)) : [];
}

/** Every frame of `kind` relayed from `from` to `to`, in the order the hub took them. */
export function relayedFrames(deliveries: readonly Delivery[], from: string, to: string, kind: FrameKind): Frame[] {
  return deliveries.filter((d) => d.kind === 'relayed' && d.from === from && d.to === to).flatMap((d) => framesOf(d).filter((f) => f.kind === kind));
}

export interface ForgedData {
  flags: number;
  seq: number;
  /** The payload, or its size (zeros) for big ones. */
  payload: Uint8Array | number;
}

/**
 * One relay bundle of DATA frames in `epoch`, written in place: frames of tens of MiB are built
 * without a second copy.
 */
export function forgeDataBundle(epoch: number, frames: readonly ForgedData[]): Uint8Array {
  const sizes = frames.map((f) => (typeof f.payload === 'number' ? f.payload : f.payload.length));
  const total = sizes.reduce((n, s) => n + 4 + DATA_HEADER_BYTES + s, 0);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let at = 0;
  frames.forEach((f, i) => {
    const size = sizes[i] as number;
    view.setUint32(at, DATA_HEADER_BYTES + size);
    const header = encodeFrame({ kind: FrameKind.Data, flags: f.flags, epoch, seq: f.seq, ack: 0, timestamp: Date.now(), payload: new Uint8Array(0) });
    out.set(header, at + 4);
    if (typeof f.payload !== 'number') out.set(f.payload, at + 4 + DATA_HEADER_BYTES);
    at += 4 + DATA_HEADER_BYTES + size;
  });
  return out;
}

/** A bundle of one small hand-made frame. */
export function bundleOf(frame: Frame): Uint8Array {
  return encodeBundle([encodeFrame(frame)]);
}
