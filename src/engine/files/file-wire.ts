/**
 * The file-transfer wire format, and the stable failure codes both ends use. Pure: no I/O.
 *
 * Wire (System messages, invisible to the application):
 *   {"t":"offer","id","name","size"}   then binary chunks   [0x01][idLen u8][id][bytes]
 *   {"t":"end","id","sha256"}          the receiver answers {"t":"done","id","ok",…} or {"t":"reject","id","reason","code"}
 *   {"t":"abort","id","reason"}        the sender gave up
 */

import { utf8Decode, utf8Encode } from '../bytes.js';

const CHUNK_TAG = 0x01;

/** Offer ids: honest senders use 9 random bytes in base64url (12 characters); anything else is dropped unanswered. */
export const OFFER_ID_PATTERN = /^[A-Za-z0-9_-]{8,32}$/;

/** Longest text taken from a peer's `reason`: enough for any message of ours, too short to flood a log or a terminal. */
const MAX_REMOTE_REASON_CHARS = 200;

/**
 * Why a transfer failed, machine-readable and stable (the CLI and daemon print them; never reuse one
 * for another meaning). See {@link FileFailCode}.
 */
export const FILE_FAIL_CODES = ['duplicate', 'too-many', 'idle', 'too-large', 'refused', 'bad-offer', 'corrupt', 'aborted', 'peer-left', 'closed', 'io', 'timeout'] as const;

/**
 * - `duplicate`: the offer reused the id of a transfer from the same sender that is in progress or
 *   just finished; it is refused and that transfer goes on untouched.
 * - `too-many`: the sender already has `maxIncomingFilesPerPeer` transfers in progress to this
 *   agent, or the agent has `maxIncomingFiles` in all; refused before any file is opened.
 * - `idle`: no data arrived for `fileIdleTimeoutMs`.
 * - `too-large`: offered over `maxFileBytes`, or more bytes arrived than were offered.
 * - `refused`: `acceptFiles` is false or the `acceptFile` callback said no (on the sending side,
 *   also a receiver's refusal without a known code).
 * - `bad-offer`: an offer with an invalid size.
 * - `corrupt`: the bytes did not match the announced size or SHA-256.
 * - `aborted`: the sender gave up (e.g. it could not read the file).
 * - `peer-left`: the other side left the room.
 * - `closed`: the room or the agent was closed.
 * - `io`: the download directory could not be written (mkdir, open, write, rename).
 * - `timeout`: (sending) a receiver did not confirm within `sendTimeoutMs`.
 */
export type FileFailCode = (typeof FILE_FAIL_CODES)[number];

export function isFileFailCode(value: unknown): value is FileFailCode {
  return typeof value === 'string' && (FILE_FAIL_CODES as readonly string[]).includes(value);
}

/** A reason string from a peer, made safe to log and show: a string, and short. */
export function remoteReason(value: unknown): string {
  const text = typeof value === 'string' ? value : '';
  return text.length > MAX_REMOTE_REASON_CHARS ? `${text.slice(0, MAX_REMOTE_REASON_CHARS)}…` : text;
}

/** One chunk message: tag, id length, id, bytes. */
export function encodeChunk(id: string, data: Uint8Array): Uint8Array {
  const idBytes = utf8Encode(id);
  const chunk = new Uint8Array(2 + idBytes.length + data.length);
  chunk[0] = CHUNK_TAG;
  chunk[1] = idBytes.length;
  chunk.set(idBytes, 2);
  chunk.set(data, 2 + idBytes.length);
  return chunk;
}

/** The id and bytes of a chunk message, or null for anything that is not one. */
export function decodeChunk(bytes: Uint8Array): { id: string; data: Uint8Array } | null {
  if (bytes.length < 2 || bytes[0] !== CHUNK_TAG) return null;
  const idLen = bytes[1] as number;
  if (bytes.length < 2 + idLen) return null;
  const id = utf8Decode(bytes.subarray(2, 2 + idLen));
  return { id, data: bytes.subarray(2 + idLen) };
}
