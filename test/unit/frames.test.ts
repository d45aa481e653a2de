/**
 * The link frame codec (src/protocol/frames.ts): round trips for every kind, the exact wire layout
 * of a DATA frame, decoding of untrusted bytes (only ever a frame or an RtcAgentError(PROTOCOL)),
 * and relay bundles.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode, RtcAgentError } from '../../src/errors.js';
import {
  BUNDLE_ENTRY_OVERHEAD_BYTES,
  DATA_HEADER_BYTES,
  FRAME_VERSION,
  FrameFlag,
  FrameKind,
  UNRELIABLE_HEADER_BYTES,
  decodeBundle,
  decodeFrame,
  encodeBundle,
  encodeFrame,
  encodeFrameWith,
  writeDataHeader,
  type AckFrame,
  type DataFrame,
  type Frame,
  type NackFrame,
  type PingFrame,
  type PongFrame,
  type UnreliableFrame,
} from '../../src/protocol/frames.js';

const RUNS = { numRuns: 300 };

// ------------------------------------------------------------------ arbitraries

const u8 = fc.integer({ min: 0, max: 0xff });
const u32 = fc.nat({ max: 0xffff_ffff });
/** Any f64, including NaN, ±0 and ±Infinity: the field is a raw IEEE-754 double on the wire. */
const f64 = fc.double();
const payload = fc.uint8Array({ maxLength: 300 });

const dataFrame: fc.Arbitrary<DataFrame> = fc.record({
  kind: fc.constant(FrameKind.Data),
  flags: u8,
  epoch: u32,
  seq: u32,
  ack: u32,
  timestamp: f64,
  payload,
});
const unreliableFrame: fc.Arbitrary<UnreliableFrame> = fc.record({
  kind: fc.constant(FrameKind.Unreliable),
  flags: u8,
  epoch: u32,
  timestamp: f64,
  payload,
});
const ackFrame: fc.Arbitrary<AckFrame> = fc.oneof(
  fc.record({ kind: fc.constant(FrameKind.Ack), epoch: u32, ack: u32 }),
  // With E2EE an ACK carries the seal of (epoch, ack) behind it.
  fc.record({ kind: fc.constant(FrameKind.Ack), epoch: u32, ack: u32, auth: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
);
const nackFrame: fc.Arbitrary<NackFrame> = fc.record({
  kind: fc.constant(FrameKind.Nack),
  epoch: u32,
  seq: u32,
  reason: fc.integer({ min: 0, max: 255 }),
});
const pingFrame: fc.Arbitrary<PingFrame> = fc.record({ kind: fc.constant(FrameKind.Ping), nonce: u32, timestamp: f64 });
const pongFrame: fc.Arbitrary<PongFrame> = fc.record({ kind: fc.constant(FrameKind.Pong), nonce: u32, timestamp: f64 });
const anyFrame: fc.Arbitrary<Frame> = fc.oneof(dataFrame, unreliableFrame, ackFrame, pingFrame, pongFrame, nackFrame);

/** Encoded size of a frame, from the layout documented in frames.ts. */
function sizeOf(frame: Frame): number {
  switch (frame.kind) {
    case FrameKind.Data:
      return DATA_HEADER_BYTES + frame.payload.length;
    case FrameKind.Unreliable:
      return UNRELIABLE_HEADER_BYTES + frame.payload.length;
    case FrameKind.Ack:
      return 9 + (frame.auth?.length ?? 0);
    case FrameKind.Nack:
      return 10;
    case FrameKind.Ping:
    case FrameKind.Pong:
      return 13;
  }
}

/** Copies `bytes` into a larger buffer at an odd offset, so decoders must honour byteOffset. */
function atOffset(bytes: Uint8Array, offset = 7): Uint8Array {
  const backing = new Uint8Array(offset + bytes.length + 5).fill(0xee);
  backing.set(bytes, offset);
  return backing.subarray(offset, offset + bytes.length);
}

/** The RtcAgentError `fn` throws; fails the test if it throws anything else or returns. */
function protocolError(fn: () => unknown): RtcAgentError {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(RtcAgentError);
  const err = thrown as RtcAgentError;
  expect(err.code).toBe(ErrorCode.PROTOCOL);
  return err;
}

// ------------------------------------------------------------------ round trips

describe('frame round trips', () => {
  it.each([
    ['DATA', dataFrame],
    ['UNRELIABLE', unreliableFrame],
    ['ACK', ackFrame],
    ['PING', pingFrame],
    ['PONG', pongFrame],
  ] as const)('%s: decodeFrame(encodeFrame(f)) equals f, with the documented size', (_name, arb) => {
    fc.assert(
      fc.property(arb as fc.Arbitrary<Frame>, (frame) => {
        const bytes = encodeFrame(frame);
        expect(bytes.length).toBe(sizeOf(frame));
        expect(bytes[0]).toBe((FRAME_VERSION << 4) | frame.kind);
        // toEqual compares primitives with Object.is, so NaN and -0 timestamps must survive too.
        expect(decodeFrame(bytes)).toEqual(frame);
        // A frame inside a larger buffer (a bundle entry, a pooled Buffer) decodes the same.
        expect(decodeFrame(atOffset(bytes))).toEqual(frame);
      }),
      RUNS,
    );
  });

  it('every flag bit survives a round trip', () => {
    const all = FrameFlag.More | FrameFlag.Text | FrameFlag.Json | FrameFlag.Encrypted;
    const frame: DataFrame = { kind: FrameKind.Data, flags: all, epoch: 1, seq: 1, ack: 0, timestamp: 0, payload: new Uint8Array() };
    expect(decodeFrame(encodeFrame(frame))).toEqual(frame);
  });

  it('re-encoding any decodable byte string gives it back (fixed-size kinds ignore trailing bytes)', () => {
    const plausible = fc
      .tuple(fc.integer({ min: 0, max: 15 }), fc.uint8Array({ maxLength: 40 }))
      .map(([kind, rest]) => Uint8Array.of((FRAME_VERSION << 4) | kind, ...rest));
    fc.assert(
      fc.property(plausible, (bytes) => {
        let frame: Frame;
        try {
          frame = decodeFrame(bytes);
        } catch {
          return;
        }
        const again = encodeFrame(frame);
        expect(again).toEqual(bytes.subarray(0, again.length));
        if (frame.kind === FrameKind.Data || frame.kind === FrameKind.Unreliable) expect(again.length).toBe(bytes.length);
      }),
      RUNS,
    );
  });
});

// ------------------------------------------------------------------ wire layout

describe('DATA frame wire layout', () => {
  /*
   * The DATA frame, byte by byte (all integers big-endian / network order). A browser page or any
   * other implementation must produce and accept exactly this:
   *
   *   offset  size  field
   *   0       1     version << 4 | kind         version 1, kind 1 (DATA)  -> 0x11
   *   1       1     flags                       MORE=1 TEXT=2 JSON=4 ENCRYPTED=8
   *   2       4     epoch      u32              the sender's random start-up epoch
   *   6       4     seq        u32              1, 2, 3, ... per epoch
   *   10      4     ack        u32              piggybacked cumulative ack of the other direction, 0 = none
   *   14      8     timestamp  f64              IEEE-754 double, ms since the Unix epoch
   *   22      n     payload                     the rest of the frame (no length field)
   */
  const frame: DataFrame = {
    kind: FrameKind.Data,
    flags: FrameFlag.More | FrameFlag.Json,
    epoch: 0x01020304,
    seq: 0x0a0b0c0d,
    ack: 0xfffffffe,
    timestamp: 1.5,
    payload: Uint8Array.of(0xde, 0xad, 0xbe, 0xef),
  };
  const expected = Uint8Array.of(
    0x11, // version 1 | kind 1
    0x05, // flags: MORE | JSON
    0x01, 0x02, 0x03, 0x04, // epoch
    0x0a, 0x0b, 0x0c, 0x0d, // seq
    0xff, 0xff, 0xff, 0xfe, // ack
    0x3f, 0xf8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // timestamp 1.5 as f64 big-endian
    0xde, 0xad, 0xbe, 0xef, // payload
  );

  it('encodes to exactly the documented bytes', () => {
    expect(DATA_HEADER_BYTES).toBe(22);
    expect(Array.from(encodeFrame(frame))).toEqual(Array.from(expected));
  });

  it('writeDataHeader lays the same header over a payload already in place', () => {
    const out = new Uint8Array(DATA_HEADER_BYTES + 4);
    out.set(frame.payload, DATA_HEADER_BYTES);
    writeDataHeader(out, frame);
    expect(Array.from(out)).toEqual(Array.from(expected));
  });

  it("encodeFrameWith writes into the allocator's bytes and nowhere else", () => {
    const slab = new Uint8Array(64).fill(0xaa);
    const out = encodeFrameWith(frame, (n) => slab.subarray(8, 8 + n));
    expect(out.byteOffset).toBe(8);
    expect(Array.from(out)).toEqual(Array.from(expected));
    expect(slab.subarray(0, 8).every((b) => b === 0xaa) && slab.subarray(8 + expected.length).every((b) => b === 0xaa)).toBe(true);
  });

  it('decodes the documented bytes', () => {
    expect(decodeFrame(expected)).toEqual(frame);
  });

  it('a real timestamp (Date.now()) uses the full f64', () => {
    const ts = 1_700_000_000_123;
    const bytes = encodeFrame({ ...frame, timestamp: ts });
    expect(new DataView(bytes.buffer).getFloat64(14, false)).toBe(ts);
  });

  it('the other kinds have the documented headers', () => {
    expect(UNRELIABLE_HEADER_BYTES).toBe(14);
    const unreliable = encodeFrame({ kind: FrameKind.Unreliable, flags: 2, epoch: 0x01020304, timestamp: 1.5, payload: Uint8Array.of(9) });
    expect(Array.from(unreliable)).toEqual([0x12, 0x02, 1, 2, 3, 4, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 9]);
    const ack = encodeFrame({ kind: FrameKind.Ack, epoch: 0x01020304, ack: 0x0a0b0c0d });
    expect(Array.from(ack)).toEqual([0x13, 1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d]);
    const ping = encodeFrame({ kind: FrameKind.Ping, nonce: 0x01020304, timestamp: 1.5 });
    expect(Array.from(ping)).toEqual([0x14, 1, 2, 3, 4, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]);
    const pong = encodeFrame({ kind: FrameKind.Pong, nonce: 0x01020304, timestamp: 1.5 });
    expect(Array.from(pong)).toEqual([0x15, 1, 2, 3, 4, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]);
  });
});

// ------------------------------------------------------------------ bad input

describe('decodeFrame on bad input', () => {
  it('empty input', () => {
    expect(protocolError(() => decodeFrame(new Uint8Array())).message).toMatch(/empty/);
  });

  it.each([
    ['DATA', FrameKind.Data, DATA_HEADER_BYTES],
    ['UNRELIABLE', FrameKind.Unreliable, UNRELIABLE_HEADER_BYTES],
    ['ACK', FrameKind.Ack, 9],
    ['PING', FrameKind.Ping, 13],
    ['PONG', FrameKind.Pong, 13],
  ] as const)('truncated %s (every length below its header) names the kind and sizes', (_name, kind, headerBytes) => {
    for (let len = 1; len < headerBytes; len++) {
      const bytes = new Uint8Array(len);
      bytes[0] = (FRAME_VERSION << 4) | kind;
      const err = protocolError(() => decodeFrame(bytes));
      expect(err.message).toContain(`kind ${kind} needs at least ${headerBytes} bytes, got ${len}`);
    }
    // Exactly the header is a valid (empty-payload) frame.
    const exact = new Uint8Array(headerBytes);
    exact[0] = (FRAME_VERSION << 4) | kind;
    expect(decodeFrame(exact).kind).toBe(kind);
  });

  it('a truncated real DATA frame', () => {
    const bytes = encodeFrame({ kind: FrameKind.Data, flags: 0, epoch: 1, seq: 2, ack: 0, timestamp: 3, payload: new Uint8Array(10) });
    const err = protocolError(() => decodeFrame(bytes.subarray(0, DATA_HEADER_BYTES - 1)));
    expect(err.message).toMatch(/needs at least 22 bytes, got 21/);
  });

  it.each([0, 2, 3, 15])('wrong version %i names it', (version) => {
    const bytes = encodeFrame({ kind: FrameKind.Ack, epoch: 1, ack: 1 });
    bytes[0] = (version << 4) | FrameKind.Ack;
    const err = protocolError(() => decodeFrame(bytes));
    expect(err.message).toContain(`version ${version}`);
    expect(err.message).toContain(`speaks ${FRAME_VERSION}`);
  });

  it.each([0, 7, 15])('unknown kind %i names it', (kind) => {
    const bytes = new Uint8Array(64);
    bytes[0] = (FRAME_VERSION << 4) | kind;
    expect(protocolError(() => decodeFrame(bytes)).message).toContain(`unknown kind ${kind}`);
  });

  it('the message says it is a bad frame and the wire form carries the code', () => {
    const err = protocolError(() => decodeFrame(Uint8Array.of(0x1f)));
    expect(err.message).toMatch(/^bad frame: /);
    expect(err.toWire()).toMatch(/^RTC_ERR_PROTOCOL: bad frame: /);
  });

  it('property: arbitrary bytes decode to a frame or throw RtcAgentError(PROTOCOL), nothing else', () => {
    // Half the inputs start with a version-1 head byte so the per-kind paths are exercised too.
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc
        .tuple(fc.integer({ min: 0, max: 15 }), fc.uint8Array({ maxLength: 40 }))
        .map(([kind, rest]) => Uint8Array.of((FRAME_VERSION << 4) | kind, ...rest)),
    );
    fc.assert(
      fc.property(bytes, fc.nat({ max: 9 }), (input, offset) => {
        for (const candidate of [input, atOffset(input, offset)]) {
          try {
            const frame = decodeFrame(candidate);
            expect(Object.values(FrameKind)).toContain(frame.kind);
          } catch (err) {
            expect(err).toBeInstanceOf(RtcAgentError);
            expect((err as RtcAgentError).code).toBe(ErrorCode.PROTOCOL);
          }
        }
      }),
      { numRuns: 1000 },
    );
  });
});

// ------------------------------------------------------------------ bundles

describe('relay bundles', () => {
  it('an empty bundle is zero bytes and decodes to no frames', () => {
    expect(encodeBundle([]).length).toBe(0);
    expect(decodeBundle(new Uint8Array())).toEqual([]);
  });

  it('layout: u32 big-endian length, then the frame, per entry', () => {
    const bundle = encodeBundle([Uint8Array.of(1, 2, 3), new Uint8Array(), Uint8Array.of(9)]);
    expect(Array.from(bundle)).toEqual([0, 0, 0, 3, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 1, 9]);
    expect(BUNDLE_ENTRY_OVERHEAD_BYTES).toBe(4);
  });

  it('property: bundles of 0..N frames round-trip (also from inside a larger buffer)', () => {
    fc.assert(
      fc.property(fc.array(anyFrame, { maxLength: 12 }), fc.nat({ max: 9 }), (frames, offset) => {
        const encoded = frames.map(encodeFrame);
        const bundle = encodeBundle(encoded);
        expect(bundle.length).toBe(encoded.reduce((n, f) => n + BUNDLE_ENTRY_OVERHEAD_BYTES + f.length, 0));
        for (const candidate of [bundle, atOffset(bundle, offset)]) {
          const entries = decodeBundle(candidate);
          expect(entries.map((e) => Array.from(e))).toEqual(encoded.map((e) => Array.from(e)));
          expect(entries.map(decodeFrame)).toEqual(frames);
        }
      }),
      RUNS,
    );
  });

  it('property: every strict prefix that cuts an entry throws RtcAgentError(PROTOCOL)', () => {
    fc.assert(
      fc.property(fc.array(anyFrame, { minLength: 1, maxLength: 5 }), (frames) => {
        const encoded = frames.map(encodeFrame);
        const bundle = encodeBundle(encoded);
        const boundaries = new Set<number>([0]);
        let at = 0;
        for (const f of encoded) boundaries.add((at += BUNDLE_ENTRY_OVERHEAD_BYTES + f.length));
        for (let len = 0; len < bundle.length; len++) {
          const prefix = bundle.subarray(0, len);
          if (boundaries.has(len)) {
            // A cut exactly between entries is a valid, shorter bundle.
            expect(decodeBundle(prefix).length).toBeLessThan(frames.length);
          } else {
            const err = protocolError(() => decodeBundle(prefix));
            expect(err.message).toMatch(/truncated bundle length|overruns the bundle/);
          }
        }
      }),
      { numRuns: 100 },
    );
  });

  it('a truncated length field and an overrunning entry name the problem', () => {
    expect(protocolError(() => decodeBundle(Uint8Array.of(0, 0, 0))).message).toMatch(/truncated bundle length/);
    expect(protocolError(() => decodeBundle(Uint8Array.of(0, 0, 0, 5, 1, 2))).message).toMatch(/entry of 5 bytes overruns/);
    // A length near 2^32 must not wrap around.
    expect(protocolError(() => decodeBundle(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 1))).message).toMatch(/overruns/);
  });

  it('property: arbitrary bytes decode to a bundle or throw RtcAgentError(PROTOCOL), nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          const entries = decodeBundle(bytes);
          expect(entries.reduce((n, e) => n + BUNDLE_ENTRY_OVERHEAD_BYTES + e.length, 0)).toBe(bytes.length);
          for (const e of entries) {
            try {
              decodeFrame(e);
            } catch (err) {
              expect(err).toBeInstanceOf(RtcAgentError);
            }
          }
        } catch (err) {
          expect(err).toBeInstanceOf(RtcAgentError);
          expect((err as RtcAgentError).code).toBe(ErrorCode.PROTOCOL);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
