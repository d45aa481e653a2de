/**
 * Sealing one frame's payload with AES-256-GCM under a pairwise direction key.
 *
 * Sealed payload (the frame's `payload`; the frame header stays in the clear):
 *
 *   DATA:        ver u8 (=1) | recipient hint [4] | pair check [4] | key check [4] | ciphertext | tag [16]
 *   UNRELIABLE:  ver u8 (=1) | recipient hint [4] | pair check [4] | key check [4] | counter u64 | ciphertext | tag [16]
 *
 * Nonce (12 bytes, big-endian), never reused under one key:
 *
 *   DATA:        u32 1 | epoch u32 | seq u32          (the reliable layer numbers each (epoch, seq) once)
 *   UNRELIABLE:  u32 2 | counter u64                  (the sender's per-key counter, carried above)
 *
 * The leading word keeps the two spaces disjoint. Keys are fresh per pair of agent processes
 * (pairwise.ts), and PeerCipher (peer-cipher.ts) refuses to seal a nonce twice within one key.
 *
 * AAD: the cleartext prefix above | frame kind u8 | flags u8 | epoch u32 | seq u32 (0 for UNRELIABLE)
 *      | timestamp f64 | sender peer id | recipient peer id (u16-length-prefixed UTF-8) | u32 length | extra AAD
 *
 * So a changed header field, a frame redirected to another recipient, or a DATA frame replayed under
 * another seq fails the tag. `ack` is deliberately not bound: it is feedback for the reverse
 * direction, ACK frames carry it unauthenticated anyway, and binding it would forbid refreshing it.
 *
 * Open checks, in order (each failure its own error code; plaintext is released only after the tag
 * verified, and the partial output is zeroed on failure): Encrypted flag (E2EE_PLAINTEXT), length and
 * version (E2EE_FORGED), recipient hint (E2EE_WRONG_RECIPIENT), pair check (E2EE_KEY_MISMATCH), key
 * check (E2EE_ROOM_SECRET_MISMATCH), replay window for UNRELIABLE (E2EE_REPLAY), tag (E2EE_FORGED).
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { ErrorCode, RtcAgentError } from '../errors.js';
import { FrameFlag, FrameKind, type DataFrame, type UnreliableFrame } from '../protocol/frames.js';
import { CHECK_BYTES, type PairKeys } from './pairwise.js';
import type { ReplayWindow } from './replay-window.js';

export const SEAL_VERSION = 1;
export const GCM_TAG_BYTES = 16;
const PREFIX_BYTES = 1 + 3 * CHECK_BYTES;
const COUNTER_BYTES = 8;
/** Bytes a sealed DATA payload adds to the plaintext (chunk sizes must leave room for it). */
export const DATA_SEAL_OVERHEAD_BYTES = PREFIX_BYTES + GCM_TAG_BYTES;
/** Bytes a sealed UNRELIABLE payload adds to the plaintext. */
export const UNRELIABLE_SEAL_OVERHEAD_BYTES = PREFIX_BYTES + COUNTER_BYTES + GCM_TAG_BYTES;
/** Highest UNRELIABLE counter (JS safe integer; at 1e6 frames/s that is 285 years). */
export const MAX_UNRELIABLE_COUNTER = Number.MAX_SAFE_INTEGER;

/** The header fields of a DATA frame that a seal binds. A decoded DataFrame fits. */
export type DataHeader = Pick<DataFrame, 'flags' | 'epoch' | 'seq' | 'timestamp'>;
/** The header fields of an UNRELIABLE frame that a seal binds. A decoded UnreliableFrame fits. */
export type UnreliableHeader = Pick<UnreliableFrame, 'flags' | 'epoch' | 'timestamp'>;

export type SealTarget =
  | { kind: typeof FrameKind.Data; header: DataHeader }
  | { kind: typeof FrameKind.Unreliable; header: UnreliableHeader; counter: number };

function fail(code: ErrorCode, message: string, keys: PairKeys): RtcAgentError {
  return new RtcAgentError(code, message, { details: { peer: keys.peerId, room: keys.room } });
}

function u32(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff_ffff) throw new RtcAgentError(ErrorCode.INTERNAL, `${what} ${n} is not a u32`);
  return n;
}

function idField(id: string): Buffer {
  const bytes = Buffer.from(id, 'utf8');
  const out = Buffer.alloc(2 + bytes.length);
  out.writeUInt16BE(bytes.length);
  bytes.copy(out, 2);
  return out;
}

/** The 12-byte GCM nonce for a target (layout in the file comment). */
export function nonceFor(target: SealTarget): Buffer {
  const n = Buffer.alloc(12);
  if (target.kind === FrameKind.Data) {
    n.writeUInt32BE(1, 0);
    n.writeUInt32BE(u32(target.header.epoch, 'epoch'), 4);
    n.writeUInt32BE(u32(target.header.seq, 'seq'), 8);
  } else {
    n.writeUInt32BE(2, 0);
    writeCounter(n, 4, target.counter);
  }
  return n;
}

function writeCounter(buf: Buffer, at: number, counter: number): void {
  if (!Number.isSafeInteger(counter) || counter < 0) throw new RtcAgentError(ErrorCode.INTERNAL, `unreliable counter ${counter} out of range`);
  buf.writeUInt32BE(Math.floor(counter / 2 ** 32), at);
  buf.writeUInt32BE(counter >>> 0, at + 4);
}

function readCounter(buf: Uint8Array, at: number): number {
  const v = new DataView(buf.buffer, buf.byteOffset + at, 8);
  return v.getUint32(0) * 2 ** 32 + v.getUint32(4);
}

function aadFor(target: SealTarget, prefix: Uint8Array, sender: string, recipient: string, extra: Uint8Array | undefined): Buffer {
  const h = Buffer.alloc(1 + 1 + 4 + 4 + 8);
  h.writeUInt8(target.kind, 0);
  h.writeUInt8(target.header.flags & 0xff, 1);
  h.writeUInt32BE(u32(target.header.epoch, 'epoch'), 2);
  h.writeUInt32BE(target.kind === FrameKind.Data ? u32(target.header.seq, 'seq') : 0, 6);
  h.writeDoubleBE(target.header.timestamp, 10);
  const extraBytes = extra ?? new Uint8Array(0);
  const extraLen = Buffer.alloc(4);
  extraLen.writeUInt32BE(extraBytes.length);
  return Buffer.concat([prefix, h, idField(sender), idField(recipient), extraLen, extraBytes]);
}

/**
 * Seals `plaintext` for the peer of `keys` (self -> peer direction). The caller guarantees the
 * nonce is fresh (PeerCipher does); the header's flags must include FrameFlag.Encrypted.
 */
export function sealPayload(keys: PairKeys, target: SealTarget, plaintext: Uint8Array, extraAad?: Uint8Array): Uint8Array {
  if ((target.header.flags & FrameFlag.Encrypted) === 0) {
    throw new RtcAgentError(ErrorCode.INTERNAL, 'sealing a frame whose flags lack FrameFlag.Encrypted');
  }
  const unreliable = target.kind === FrameKind.Unreliable;
  const prefix = Buffer.alloc(PREFIX_BYTES + (unreliable ? COUNTER_BYTES : 0));
  prefix.writeUInt8(SEAL_VERSION, 0);
  keys.peerHint.copy(prefix, 1);
  keys.pairCheck.copy(prefix, 1 + CHECK_BYTES);
  keys.send.check.copy(prefix, 1 + 2 * CHECK_BYTES);
  if (unreliable) writeCounter(prefix, PREFIX_BYTES, target.counter);
  const cipher = createCipheriv('aes-256-gcm', keys.send.key, nonceFor(target), { authTagLength: GCM_TAG_BYTES });
  cipher.setAAD(aadFor(target, prefix, keys.selfId, keys.peerId, extraAad));
  const body = cipher.update(plaintext);
  const last = cipher.final();
  return Buffer.concat([prefix, body, last, cipher.getAuthTag()]);
}

/** What an UNRELIABLE sealed payload says its counter is (before authentication: untrusted). */
export function peekCounter(sealed: Uint8Array): number | undefined {
  return sealed.length >= PREFIX_BYTES + COUNTER_BYTES ? readCounter(sealed, PREFIX_BYTES) : undefined;
}

/**
 * Opens a payload sealed by the peer of `keys` for self. For UNRELIABLE frames pass the peer's
 * ReplayWindow: the counter is checked before and committed after authentication. Throws a
 * distinct RtcAgentError per failure (see the file comment); returns plaintext only on success.
 */
export function openPayload(
  keys: PairKeys,
  kind: typeof FrameKind.Data | typeof FrameKind.Unreliable,
  header: DataHeader | UnreliableHeader,
  sealed: Uint8Array,
  options: { replay?: ReplayWindow; extraAad?: Uint8Array } = {},
): Uint8Array {
  const from = `frame from peer ${keys.peerId}`;
  if ((header.flags & FrameFlag.Encrypted) === 0) {
    throw fail(ErrorCode.E2EE_PLAINTEXT, `unencrypted ${from} while E2EE is required; dropped`, keys);
  }
  const unreliable = kind === FrameKind.Unreliable;
  const prefixBytes = PREFIX_BYTES + (unreliable ? COUNTER_BYTES : 0);
  if (sealed.length < prefixBytes + GCM_TAG_BYTES) {
    throw fail(ErrorCode.E2EE_FORGED, `sealed ${from} is truncated (${sealed.length} bytes, need at least ${prefixBytes + GCM_TAG_BYTES})`, keys);
  }
  const buf = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  if (buf[0] !== SEAL_VERSION) throw fail(ErrorCode.E2EE_FORGED, `sealed ${from} has unknown format version ${buf[0]}`, keys);
  if (!buf.subarray(1, 1 + CHECK_BYTES).equals(keys.selfHint)) {
    throw fail(ErrorCode.E2EE_WRONG_RECIPIENT, `${from} was sealed for another recipient, not ${keys.selfId} (misrouted or redirected); dropped`, keys);
  }
  if (!buf.subarray(1 + CHECK_BYTES, 1 + 2 * CHECK_BYTES).equals(keys.pairCheck)) {
    throw fail(
      ErrorCode.E2EE_KEY_MISMATCH,
      `${from} was sealed with other public keys than this side knows for the pair: a substituted key (MITM?) or stale keys (an earlier session); compare fingerprints; dropped`,
      keys,
    );
  }
  if (!buf.subarray(1 + 2 * CHECK_BYTES, PREFIX_BYTES).equals(keys.recv.check)) {
    throw fail(
      ErrorCode.E2EE_ROOM_SECRET_MISMATCH,
      `${from} was sealed with a different room secret (this side has ${keys.roomSecret ? 'one' : 'none'}); dropped`,
      keys,
    );
  }
  let target: SealTarget;
  if (unreliable) {
    const counter = readCounter(buf, PREFIX_BYTES);
    if (counter > MAX_UNRELIABLE_COUNTER) throw fail(ErrorCode.E2EE_FORGED, `sealed ${from} has an impossible counter; dropped`, keys);
    const verdict = options.replay?.check(counter) ?? 'ok';
    if (verdict !== 'ok') {
      throw fail(
        ErrorCode.E2EE_REPLAY,
        verdict === 'replay' ? `${from} (counter ${counter}) was already received: replay; dropped` : `${from} (counter ${counter}) is too old to check for replay; dropped`,
        keys,
      );
    }
    target = { kind, header: header as UnreliableHeader, counter };
  } else {
    target = { kind: FrameKind.Data, header: header as DataHeader };
  }
  const tagAt = buf.length - GCM_TAG_BYTES;
  const decipher = createDecipheriv('aes-256-gcm', keys.recv.key, nonceFor(target), { authTagLength: GCM_TAG_BYTES });
  decipher.setAAD(aadFor(target, buf.subarray(0, prefixBytes), keys.peerId, keys.selfId, options.extraAad));
  decipher.setAuthTag(buf.subarray(tagAt));
  const out = decipher.update(buf.subarray(prefixBytes, tagAt));
  try {
    decipher.final();
  } catch {
    out.fill(0); // GCM's update() returns unauthenticated plaintext; never let it escape
    throw fail(ErrorCode.E2EE_FORGED, `${from} failed authentication (altered ciphertext, tag or header); dropped`, keys);
  }
  if (unreliable) options.replay?.commit((target as { counter: number }).counter);
  return out;
}
