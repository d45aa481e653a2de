/**
 * rtc-agent's link frames: the unit a room sends to one peer, identical on P2P DataChannels and
 * on the hub relay (base64 inside a relay bundle), so traffic can move between paths mid-stream.
 *
 * Every frame starts with one byte: version (high nibble) and kind (low nibble). Integers are
 * big-endian. `epoch` is a random number the sending agent picks at start-up: a peer that restarts
 * with the same peer id starts a new sequence space, and the receiver can tell.
 *
 *   DATA       kind 1  | flags u8 | epoch u32 | seq u32 | ack u32 | timestamp f64 | payload
 *   UNRELIABLE kind 2  | flags u8 | epoch u32 | timestamp f64 | payload
 *   ACK        kind 3  | epoch u32 (the receiver's view of the sender's epoch) | ack u32 | [auth]
 *   PING       kind 4  | nonce u32 | timestamp f64
 *   PONG       kind 5  | nonce u32 | timestamp f64 (echoed)
 *   NACK       kind 6  | epoch u32 (as in ACK) | seq u32 | reason u8
 *
 * DATA frames of one message share its flags; all but the last carry MORE. `ack` piggybacks the
 * sender's cumulative ack of the other direction (0 = none).
 *
 * With E2EE an ACK carries `auth`, a seal of the (epoch, ack) pair (crypto/peer-cipher.ts), and
 * only such acks count: a hub cannot pretend that something was delivered. Peers without E2EE
 * send none (and decoders that predate it ignore the extra bytes). A NACK says "I refused your
 * frame `seq`, for this reason" (a receiver that cannot open it: another room secret, other keys);
 * it is never authenticated — a forged one can only make a sender report a failure, which a hub
 * that drops frames can cause anyway.
 */
import { ErrorCode, RtcAgentError } from '../errors.js';
import { getF64, getU32, putF64, putU32 } from './big-endian.js';

export const FRAME_VERSION = 1;

export const FrameKind = {
  Data: 1,
  Unreliable: 2,
  Ack: 3,
  Ping: 4,
  Pong: 5,
  Nack: 6,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

/** Bits of a DATA / UNRELIABLE frame's flags byte. */
export const FrameFlag = {
  /** More chunks of this message follow. */
  More: 1,
  /** The message is UTF-8 text. */
  Text: 2,
  /** The message is JSON (UTF-8 text the receiver parses). */
  Json: 4,
  /** The payload is sealed end to end. */
  Encrypted: 8,
  /** An agent's own message (file transfer control and data), not delivered to the application. */
  System: 16,
} as const;

export interface DataFrame {
  kind: typeof FrameKind.Data;
  flags: number;
  epoch: number;
  seq: number;
  ack: number;
  timestamp: number;
  payload: Uint8Array;
}
export interface UnreliableFrame {
  kind: typeof FrameKind.Unreliable;
  flags: number;
  epoch: number;
  timestamp: number;
  payload: Uint8Array;
}
export interface AckFrame {
  kind: typeof FrameKind.Ack;
  epoch: number;
  ack: number;
  /** With E2EE: the seal that authenticates (epoch, ack). */
  auth?: Uint8Array;
}
export interface NackFrame {
  kind: typeof FrameKind.Nack;
  epoch: number;
  seq: number;
  /** A {@link NackReason}; a value this version does not know (a newer peer's) reads as Unknown. */
  reason: number;
}

/** Why a receiver refused a frame: each maps to the receiver's RtcAgentError code (engine/peer-e2ee.ts). */
export const NackReason = {
  Unknown: 0,
  /** The receiver requires E2EE; the frame was not sealed. */
  PlaintextRefused: 1,
  /** The frame was sealed but the receiver does no E2EE. */
  SealedUnreadable: 2,
  RoomSecretMismatch: 3,
  KeyMismatch: 4,
  WrongRecipient: 5,
  Forged: 6,
} as const;
export type NackReason = (typeof NackReason)[keyof typeof NackReason];
export interface PingFrame {
  kind: typeof FrameKind.Ping;
  nonce: number;
  timestamp: number;
}
export interface PongFrame {
  kind: typeof FrameKind.Pong;
  nonce: number;
  timestamp: number;
}
export type Frame = DataFrame | UnreliableFrame | AckFrame | PingFrame | PongFrame | NackFrame;

export const DATA_HEADER_BYTES = 22;
export const UNRELIABLE_HEADER_BYTES = 14;

function head(kind: FrameKind): number {
  return (FRAME_VERSION << 4) | kind;
}

/** Where a frame's bytes come from: a fresh array unless the caller carves them out of its own slab. */
export type FrameAllocator = (bytes: number) => Uint8Array;

const freshBytes: FrameAllocator = (bytes) => new Uint8Array(bytes);

/** The header fields of a DATA frame, as {@link writeDataHeader} lays them out. */
export type DataFrameHeader = Omit<DataFrame, 'kind' | 'payload'>;

/**
 * Writes a DATA header into the first {@link DATA_HEADER_BYTES} of `out`, whose payload is
 * already in place (a sealed payload produced straight into the frame, without a copy).
 */
export function writeDataHeader(out: Uint8Array, h: DataFrameHeader): void {
  out[0] = head(FrameKind.Data);
  out[1] = h.flags;
  putU32(out, 2, h.epoch);
  putU32(out, 6, h.seq);
  putU32(out, 10, h.ack);
  putF64(out, 14, h.timestamp);
}

export function encodeFrame(frame: Frame): Uint8Array {
  return encodeFrameWith(frame, freshBytes);
}

/**
 * {@link encodeFrame} into bytes from `alloc` (a sender's slab, engine/frame-slab.ts). Integers go
 * in byte by byte (protocol/big-endian.ts): a DataView over a fresh frame cost an ArrayBuffer per
 * frame, which showed in the RTT bench.
 */
export function encodeFrameWith(frame: Frame, alloc: FrameAllocator): Uint8Array {
  switch (frame.kind) {
    case FrameKind.Data: {
      const out = alloc(DATA_HEADER_BYTES + frame.payload.length);
      writeDataHeader(out, frame);
      out.set(frame.payload, DATA_HEADER_BYTES);
      return out;
    }
    case FrameKind.Unreliable: {
      const out = alloc(UNRELIABLE_HEADER_BYTES + frame.payload.length);
      out[0] = head(frame.kind);
      out[1] = frame.flags;
      putU32(out, 2, frame.epoch);
      putF64(out, 6, frame.timestamp);
      out.set(frame.payload, UNRELIABLE_HEADER_BYTES);
      return out;
    }
    case FrameKind.Ack: {
      const out = alloc(9 + (frame.auth?.length ?? 0));
      out[0] = head(frame.kind);
      putU32(out, 1, frame.epoch);
      putU32(out, 5, frame.ack);
      if (frame.auth) out.set(frame.auth, 9);
      return out;
    }
    case FrameKind.Nack: {
      const out = alloc(10);
      out[0] = head(frame.kind);
      putU32(out, 1, frame.epoch);
      putU32(out, 5, frame.seq);
      out[9] = frame.reason;
      return out;
    }
    case FrameKind.Ping:
    case FrameKind.Pong: {
      const out = alloc(13);
      out[0] = head(frame.kind);
      putU32(out, 1, frame.nonce);
      putF64(out, 5, frame.timestamp);
      return out;
    }
  }
}

function bad(message: string): RtcAgentError {
  return new RtcAgentError(ErrorCode.PROTOCOL, `bad frame: ${message}`);
}

/** Decodes one frame from untrusted bytes; throws RtcAgentError(PROTOCOL) naming the problem. */
export function decodeFrame(bytes: Uint8Array): Frame {
  if (bytes.length < 1) throw bad('empty');
  const first = bytes[0] as number;
  const version = first >> 4;
  const kind = first & 0x0f;
  if (version !== FRAME_VERSION) throw bad(`version ${version} (this agent speaks ${FRAME_VERSION})`);
  const need = (n: number): void => {
    if (bytes.length < n) throw bad(`kind ${kind} needs at least ${n} bytes, got ${bytes.length}`);
  };
  switch (kind) {
    case FrameKind.Data:
      need(DATA_HEADER_BYTES);
      return {
        kind,
        flags: bytes[1] as number,
        epoch: getU32(bytes, 2),
        seq: getU32(bytes, 6),
        ack: getU32(bytes, 10),
        timestamp: getF64(bytes, 14),
        payload: bytes.subarray(DATA_HEADER_BYTES),
      };
    case FrameKind.Unreliable:
      need(UNRELIABLE_HEADER_BYTES);
      return { kind, flags: bytes[1] as number, epoch: getU32(bytes, 2), timestamp: getF64(bytes, 6), payload: bytes.subarray(UNRELIABLE_HEADER_BYTES) };
    case FrameKind.Ack: {
      need(9);
      const ack: AckFrame = { kind, epoch: getU32(bytes, 1), ack: getU32(bytes, 5) };
      if (bytes.length > 9) ack.auth = bytes.subarray(9);
      return ack;
    }
    case FrameKind.Nack:
      need(10);
      return { kind, epoch: getU32(bytes, 1), seq: getU32(bytes, 5), reason: bytes[9] as number };
    case FrameKind.Ping:
    case FrameKind.Pong:
      need(13);
      return { kind, nonce: getU32(bytes, 1), timestamp: getF64(bytes, 5) };
    default:
      throw bad(`unknown kind ${kind}`);
  }
}

/**
 * Relay bundles: several frames in one Relay payload (fewer hub invocations), each as
 * `u32 length | frame`. The hub sees only the base64 of the whole bundle.
 */
export function encodeBundle(frames: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const f of frames) size += 4 + f.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const f of frames) {
    putU32(out, at, f.length);
    out.set(f, at + 4);
    at += 4 + f.length;
  }
  return out;
}

export function decodeBundle(bytes: Uint8Array): Uint8Array[] {
  const frames: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (at + 4 > bytes.length) throw bad('truncated bundle length');
    const len = getU32(bytes, at);
    if (at + 4 + len > bytes.length) throw bad(`bundle entry of ${len} bytes overruns the bundle`);
    frames.push(bytes.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  return frames;
}

/** Bytes of bundle overhead per frame. */
export const BUNDLE_ENTRY_OVERHEAD_BYTES = 4;
