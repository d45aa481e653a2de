/**
 * The engine's file store for browsers (the seam in src/engine/files/store.ts): a file to send is
 * a Blob or File, read slice by slice; an incoming file is kept in memory until its size and
 * SHA-256 check out, then handed over as a Blob with an object URL. Nothing touches the disk: a
 * page saves a received file when its user asks (e.g. a download link to the URL).
 */
import { ErrorCode, RtcAgentError } from '../errors.js';
import { fileStoreFailure, type FileSink, type FileSource, type FileStore } from '../engine/files/store.js';
import { Sha256 } from './sha256.js';

/** The offered name of a Blob that is not a File (a File has its own). */
export const UNNAMED_BLOB_NAME = 'blob';

export class BlobFileStore implements FileStore {
  /** A Blob or File. Rejects with RTC_ERR_BAD_REQUEST for anything else. */
  async openSource(source: unknown): Promise<FileSource> {
    if (typeof Blob !== 'function' || !(source instanceof Blob)) {
      throw new RtcAgentError(ErrorCode.BAD_REQUEST, 'sendFile() in a browser takes a Blob or a File (e.g. from <input type="file">)');
    }
    const name = typeof File === 'function' && source instanceof File && source.name !== '' ? source.name : UNNAMED_BLOB_NAME;
    return new BlobSource(source, name);
  }

  async createSink(offer: { id: string; name: string; size: number }): Promise<FileSink> {
    return new MemorySink(offer.name);
  }
}

class BlobSource implements FileSource {
  readonly size: number;
  readonly #hash = new Sha256();
  #digest: { resolve(hex: string): void; reject(err: Error): void } | undefined;
  readonly #digestPromise: Promise<string>;
  #closed = false;

  constructor(
    private readonly blob: Blob,
    readonly name: string,
  ) {
    this.size = blob.size;
    this.#digestPromise = new Promise((resolve, reject) => (this.#digest = { resolve, reject }));
    // Nobody may be waiting yet; a close() before the end must not surface as an unhandled rejection.
    this.#digestPromise.catch(() => undefined);
  }

  async *read(chunkBytes: number): AsyncIterable<Uint8Array> {
    for (let at = 0; at < this.size; at += chunkBytes) {
      if (this.#closed) return;
      let piece: Uint8Array;
      try {
        piece = new Uint8Array(await this.blob.slice(at, Math.min(this.size, at + chunkBytes)).arrayBuffer());
      } catch (err) {
        // A File whose underlying file changed or went away since it was picked.
        const failure = fileStoreFailure('io', `cannot read ${this.name}: ${(err as Error).message}`, err);
        this.#digest?.reject(failure);
        throw failure;
      }
      this.#hash.update(piece);
      yield piece;
    }
    this.#digest?.resolve(this.#hash.hex());
  }

  sha256(): Promise<string> {
    return this.#digestPromise;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#digest?.reject(new Error(`${this.name} was closed before it was read to the end`));
  }
}

class MemorySink implements FileSink {
  #parts: Uint8Array[] = [];
  #bytes = 0;
  readonly #hash = new Sha256();
  #over = false;

  constructor(private readonly name: string) {}

  async write(bytes: Uint8Array): Promise<void> {
    if (this.#over) throw fileStoreFailure('io', `${this.name}: the transfer is over`);
    // A copy: the engine's chunk may be a view into a larger frame buffer that would stay alive.
    const copy = bytes.slice();
    this.#parts.push(copy);
    this.#bytes += copy.length;
    this.#hash.update(copy);
  }

  async finish(expected: { size: number; sha256: string }): Promise<{ location: string; sha256: string; blob: Blob }> {
    if (this.#over) throw fileStoreFailure('io', `${this.name}: the transfer is over`);
    this.#over = true;
    const parts = this.#parts;
    this.#parts = [];
    if (this.#bytes !== expected.size) throw fileStoreFailure('corrupt', `size mismatch: got ${this.#bytes} bytes, the sender announced ${expected.size}: the file is corrupt`);
    const sha256 = this.#hash.hex();
    if (sha256 !== expected.sha256.toLowerCase()) throw fileStoreFailure('corrupt', 'SHA-256 mismatch: the file is corrupt');
    const blob = new Blob(parts as Uint8Array<ArrayBuffer>[]);
    return { location: URL.createObjectURL(blob), sha256, blob };
  }

  async discard(): Promise<void> {
    this.#over = true;
    this.#parts = [];
  }
}
