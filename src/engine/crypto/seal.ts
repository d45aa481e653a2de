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
 * verified): Encrypted flag (E2EE_PLAINTEXT), length and version (E2EE_FORGED), recipient hint
 * (E2EE_WRONG_RECIPIENT), pair check (E2EE_KEY_MISMATCH), key check (E2EE_ROOM_SECRET_MISMATCH),
 * replay window for UNRELIABLE (E2EE_REPLAY), tag (E2EE_FORGED).
 *
 * Sync or async: everything up to the AEAD call runs at call time and throws; what the AEAD
 * decides (the tag, then the replay commit) comes back the way the AEAD returns — a value, or a
 * Promise that rejects.
 */
import { ErrorCode, RtcAgentError } from '../../errors.js';
import { getU32, putF64, putU32 } from '../../protocol/big-endian.js';
import { FrameFlag, FrameKind, type DataFrame, type UnreliableFrame } from '../../protocol/frames.js';
import { bytesEqual } from '../bytes.js';
import { isPromise, type MaybePromise } from '../maybe-promise.js';
import { GCM_TAG_BYTES } from './aead.js';
import { CHECK_BYTES, type PairKeys } from './pairwise.js';
import type { ReplayWindow } from './replay-window.js';

export { GCM_TAG_BYTES };
export const SEAL_VERSION = 1;
const PREFIX_BYTES = 1 + 3 * CHECK_BYTES;
const COUNTER_BYTES = 8;
const NONCE_BYTES = 12;
/** kind u8 | flags u8 | epoch u32 | seq u32 | timestamp f64 */
const HEADER_AAD_BYTES = 18;
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

export type { MaybePromise } from '../maybe-promise.js';

function fail(code: ErrorCode, message: string, keys: PairKeys): RtcAgentError {
  return new RtcAgentError(code, message, { details: { peer: keys.peerId, room: keys.room } });
}

function u32(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff_ffff) throw new RtcAgentError(ErrorCode.INTERNAL, `${what} ${n} is not a u32`);
  return n;
}

// Every frame's nonce, prefix and AAD are written byte by byte (protocol/big-endian.ts): a
// DataView over a small fresh array moved it off V8's heap, an ArrayBuffer per frame.

function writeCounter(out: Uint8Array, at: number, counter: number): void {
  if (!Number.isSafeInteger(counter) || counter < 0) throw new RtcAgentError(ErrorCode.INTERNAL, `unreliable counter ${counter} out of range`);
  putU32(out, at, Math.floor(counter / 2 ** 32));
  putU32(out, at + 4, counter >>> 0);
}

function readCounter(bytes: Uint8Array, at: number): number {
  return getU32(bytes, at) * 2 ** 32 + getU32(bytes, at + 4);
}

/** The 12-byte GCM nonce for a target (layout in the file comment). */
export function nonceFor(target: SealTarget): Uint8Array {
  const n = new Uint8Array(NONCE_BYTES);
  if (target.kind === FrameKind.Data) {
    putU32(n, 0, 1);
    putU32(n, 4, u32(target.header.epoch, 'epoch'));
    putU32(n, 8, u32(target.header.seq, 'seq'));
  } else {
    putU32(n, 0, 2);
    writeCounter(n, 4, target.counter);
  }
  return n;
}

/**
 * Where every AAD is built: an AEAD reads its inputs before seal()/open() return (Aead's
 * contract), so one buffer serves every frame instead of an ArrayBuffer per frame. Grown on demand.
 */
let aadScratch = new Uint8Array(256);

/** The AAD (layout in the file comment), valid until the next call: it is on every frame's path. */
function aadFor(target: SealTarget, prefix: Uint8Array, ids: Uint8Array, extra: Uint8Array | undefined): Uint8Array {
  const extraBytes = extra?.length ?? 0;
  const length = prefix.length + HEADER_AAD_BYTES + ids.length + 4 + extraBytes;
  if (aadScratch.length < length) aadScratch = new Uint8Array(Math.max(length, 2 * aadScratch.length));
  const out = aadScratch.subarray(0, length);
  out.set(prefix, 0);
  let at = prefix.length;
  out[at] = target.kind;
  out[at + 1] = target.header.flags & 0xff;
  putU32(out, at + 2, u32(target.header.epoch, 'epoch'));
  putU32(out, at + 6, target.kind === FrameKind.Data ? u32(target.header.seq, 'seq') : 0);
  putF64(out, at + 10, target.header.timestamp);
  at += HEADER_AAD_BYTES;
  out.set(ids, at);
  at += ids.length;
  putU32(out, at, extraBytes);
  if (extra !== undefined) out.set(extra, at + 4);
  return out;
}

/**
 * Seals `plaintext` for the peer of `keys` (self -> peer direction). The caller guarantees the
 * nonce is fresh (PeerCipher does); the header's flags must include FrameFlag.Encrypted.
 * `headroom` bytes (zeros) come first in the result, for the caller's frame header: the sealed
 * payload is then written straight into the frame, not copied into it afterwards.
 * Throws INTERNAL for a bad header; returns what the AEAD returns.
 */
export function sealPayload(keys: PairKeys, target: SealTarget, plaintext: Uint8Array, extraAad?: Uint8Array, headroom = 0): MaybePromise<Uint8Array> {
  if ((target.header.flags & FrameFlag.Encrypted) === 0) {
    throw new RtcAgentError(ErrorCode.INTERNAL, 'sealing a frame whose flags lack FrameFlag.Encrypted');
  }
  const unreliable = target.kind === FrameKind.Unreliable;
  const front = new Uint8Array(headroom + PREFIX_BYTES + (unreliable ? COUNTER_BYTES : 0));
  const prefix = headroom === 0 ? front : front.subarray(headroom);
  prefix[0] = SEAL_VERSION;
  prefix.set(keys.peerHint, 1);
  prefix.set(keys.pairCheck, 1 + CHECK_BYTES);
  prefix.set(keys.send.check, 1 + 2 * CHECK_BYTES);
  if (unreliable) writeCounter(prefix, PREFIX_BYTES, target.counter);
  const nonce = nonceFor(target);
  const aad = aadFor(target, prefix, keys.sendIds, extraAad);
  return keys.aead.seal(keys.send.key, nonce, aad, plaintext, front);
}

/** What an UNRELIABLE sealed payload says its counter is (before authentication: untrusted). */
export function peekCounter(sealed: Uint8Array): number | undefined {
  return sealed.length >= PREFIX_BYTES + COUNTER_BYTES ? readCounter(sealed, PREFIX_BYTES) : undefined;
}

/**
 * Opens a payload sealed by the peer of `keys` for self. For UNRELIABLE frames pass the peer's
 * ReplayWindow: the counter is checked before and committed only after authentication. Throws a
 * distinct RtcAgentError per failure found before the AEAD (see the file comment); the tag's
 * verdict (E2EE_FORGED) and the replay commit (E2EE_REPLAY) come back the AEAD's way.
 */
export function openPayload(
  keys: PairKeys,
  kind: typeof FrameKind.Data | typeof FrameKind.Unreliable,
  header: DataHeader | UnreliableHeader,
  sealed: Uint8Array,
  options: { replay?: ReplayWindow | undefined; extraAad?: Uint8Array | undefined } = {},
): MaybePromise<Uint8Array> {
  const from = `frame from peer ${keys.peerId}`;
  if ((header.flags & FrameFlag.Encrypted) === 0) throw fail(ErrorCode.E2EE_PLAINTEXT, `unencrypted ${from} while E2EE is required; dropped`, keys);
  const unreliable = kind === FrameKind.Unreliable;
  const prefixBytes = PREFIX_BYTES + (unreliable ? COUNTER_BYTES : 0);
  if (sealed.length < prefixBytes + GCM_TAG_BYTES) {
    throw fail(ErrorCode.E2EE_FORGED, `sealed ${from} is truncated (${sealed.length} bytes, need at least ${prefixBytes + GCM_TAG_BYTES})`, keys);
  }
  if (sealed[0] !== SEAL_VERSION) throw fail(ErrorCode.E2EE_FORGED, `sealed ${from} has unknown format version ${sealed[0]}`, keys);
  if (!bytesEqual(sealed.subarray(1, 1 + CHECK_BYTES), keys.selfHint)) {
    throw fail(ErrorCode.E2EE_WRONG_RECIPIENT, `${from} was sealed for another recipient, not ${keys.selfId} (misrouted or redirected); dropped`, keys);
  }
  if (!bytesEqual(sealed.subarray(1 + CHECK_BYTES, 1 + 2 * CHECK_BYTES), keys.pairCheck)) {
    throw fail(
      ErrorCode.E2EE_KEY_MISMATCH,
      `${from} was sealed with other public keys than this side knows for the pair: a substituted key (MITM?) or stale keys (an earlier session); compare fingerprints; dropped`,
      keys,
    );
  }
  if (!bytesEqual(sealed.subarray(1 + 2 * CHECK_BYTES, PREFIX_BYTES), keys.recv.check)) {
    throw fail(
      ErrorCode.E2EE_ROOM_SECRET_MISMATCH,
      `${from} was sealed with a different room secret (this side has ${keys.roomSecret ? 'one' : 'none'}); dropped`,
      keys,
    );
  }
  let target: SealTarget;
  let counter = 0;
  const replay = unreliable ? options.replay : undefined;
  if (unreliable) {
    counter = readCounter(sealed, PREFIX_BYTES);
    if (counter > MAX_UNRELIABLE_COUNTER) throw fail(ErrorCode.E2EE_FORGED, `sealed ${from} has an impossible counter; dropped`, keys);
    const verdict = replay?.check(counter) ?? 'ok';
    if (verdict !== 'ok') {
      throw fail(
        ErrorCode.E2EE_REPLAY,
        verdict === 'replay' ? `${from} (counter ${counter}) was already received: replay; dropped` : `${from} (counter ${counter}) is too old to check for replay; dropped`,
        keys,
      );
    }
    target = { kind: FrameKind.Unreliable, header: header as UnreliableHeader, counter };
  } else {
    target = { kind: FrameKind.Data, header: header as DataHeader };
  }
  const aad = aadFor(target, sealed.subarray(0, prefixBytes), keys.recvIds, options.extraAad);
  const finish = (plaintext: Uint8Array | null): Uint8Array => {
    if (plaintext === null) throw fail(ErrorCode.E2EE_FORGED, `${from} failed authentication (altered ciphertext, tag or header); dropped`, keys);
    // With an async AEAD, opens of one counter may overlap: the commit, not the check, decides.
    if (replay !== undefined && !replay.commit(counter)) {
      plaintext.fill(0);
      throw fail(ErrorCode.E2EE_REPLAY, `${from} (counter ${counter}) was already received: replay; dropped`, keys);
    }
    return plaintext;
  };
  const opened = keys.aead.open(keys.recv.key, nonceFor(target), aad, sealed.subarray(prefixBytes));
  return isPromise(opened) ? opened.then(finish) : finish(opened);
}
