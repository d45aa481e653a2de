/**
 * The file-storage seam: the only part of file transfer that touches bytes at rest. The engine's
 * FileTransfers (file-transfers.ts) runs the protocol and its limits; a platform's FileStore opens
 * what the program passed to sendFile() and writes incoming files until they are verified (Node:
 * src/node/files/fs-store.ts, the download directory; browsers: Blobs in memory).
 */
import type { FileFailCode } from './file-wire.js';

/** What a sender reads: the platform opens it from what the program passed to sendFile(). */
export interface FileSource {
  /** The name to offer (a base name; the receiver sanitises it anyway). */
  readonly name: string;
  readonly size: number;
  /** The content in order, at most `chunkBytes` per piece. Call once. */
  read(chunkBytes: number): AsyncIterable<Uint8Array>;
  /** SHA-256 (lower-case hex) of the content; resolves once read() has been consumed. */
  sha256(): Promise<string>;
  /** Releases the source (closes a file); idempotent. */
  close(): Promise<void>;
}

/** Where a receiver writes an incoming file until it is verified. */
export interface FileSink {
  write(bytes: Uint8Array): Promise<void>;
  /**
   * Everything arrived: checks the size and SHA-256 the sender announced and keeps the file.
   * Resolves with where it is now (Node: the final path; browsers: an object URL) and its hash;
   * rejects with a code 'corrupt' | 'io' error and leaves nothing behind.
   */
  finish(expected: { size: number; sha256: string }): Promise<{ location: string; sha256: string; blob?: unknown }>;
  /** Drops what was written (every failure path); idempotent; resolves once nothing is left. */
  discard(): Promise<void>;
}

export interface FileStore {
  /** Node: a path; browsers: a Blob or File. Rejects with RTC_ERR_BAD_REQUEST for anything else. */
  openSource(source: unknown): Promise<FileSource>;
  /**
   * Node: a `.part` file in downloadDir under a sanitised name; browsers: memory. The engine has
   * already sanitised `name` (file-name.ts) and checked `size` against maxFileBytes.
   */
  createSink(offer: { id: string; name: string; size: number }): Promise<FileSink>;
}

/** The FileFailed codes a store's rejection may carry. */
export type FileStoreFailCode = Extract<FileFailCode, 'corrupt' | 'io'>;

/**
 * How a store rejects (createSink, write, finish): an Error whose `code` says which FileFailed code
 * it means and whose message is the reason the application sees, naming the cause (e.g. "SHA-256
 * mismatch: the file is corrupt", "cannot write to the download directory: ENOTDIR …"). It never
 * leaves the engine: it becomes a `file-failed` event and the sender's `done`/`reject`.
 */
export interface FileStoreFailure extends Error {
  readonly code: FileStoreFailCode;
}

export function fileStoreFailure(code: FileStoreFailCode, message: string, cause?: unknown): FileStoreFailure {
  return Object.assign(new Error(message, cause === undefined ? undefined : { cause }), { code });
}

/**
 * The code and reason of anything a store rejected with. A rejection that is not a
 * {@link FileStoreFailure} counts as `io`, its message prefixed with what was being done.
 */
export function storeFailureOf(err: unknown, doing: string): { code: FileStoreFailCode; reason: string } {
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'corrupt' || code === 'io') return { code, reason: message };
  return { code: 'io', reason: `${doing}: ${message}` };
}
