/**
 * What a room's file transfers are configured with, and the protocol's fixed sizes. The platform
 * fills FileSettings from its own settings (Node: maxFileBytes, acceptFiles, sendTimeoutMs,
 * fileIdleTimeoutMs).
 */
import type { FileOffer } from './types.js';

/** Bytes per chunk message: big enough to amortise headers, small enough to interleave with chat. */
export const FILE_CHUNK_BYTES = 64 * 1024;

/** Progress events at most every this many bytes (and at the end), on both sides. */
export const FILE_PROGRESS_STEP_BYTES = 256 * 1024;

/**
 * Ids of finished transfers remembered per sender, so a re-offer of one is refused as a duplicate.
 * Honest senders never reuse an id (9 random bytes), so this only has to catch replays of recent
 * ones; bounded so a peer cycling through ids cannot grow it without limit.
 */
export const RECENT_FILE_IDS_PER_PEER = 256;

/** Random bytes in an offer id: 12 base64url characters, well inside OFFER_ID_PATTERN. */
export const FILE_ID_BYTES = 9;

export interface FileSettings {
  /** Offers over this are refused (`too-large`), as is more data than was offered. */
  maxFileBytes: number;
  /** False: every offer is refused (`refused`). */
  acceptFiles: boolean;
  /** How long the sender waits for receivers to confirm after the last chunk (`timeout`). */
  confirmTimeoutMs: number;
  /** An incoming transfer that receives nothing for this long is aborted (`idle`). */
  idleTimeoutMs: number;
}

/** Lets an application decide per offer (after the size and acceptFiles checks). */
export type AcceptFile = (offer: FileOffer) => boolean | Promise<boolean>;
