/**
 * Node's FileStore (the engine's file-storage seam, src/engine/files/store.ts): files are sent
 * from a path and received into the download directory. An incoming file is written to a `.part`
 * file under a random name (ids come from the sender, and two rooms may share the directory),
 * hashed as it is written, and moved to the name the engine sanitised, never over an existing
 * file, only when size and SHA-256 match; every failure removes the `.part` file.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, mkdir, open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { fileStoreFailure, type FileSink, type FileSource, type FileStore } from '../../engine/files/store.js';
import { ErrorCode, RtcAgentError } from '../../errors.js';
import { numberedName, pathInside } from '../../util/file-names.js';

/** How many numbered names (`a (1).txt` …) are tried before giving up on a free one. */
const MAX_NAME_CANDIDATES = 1000;

export class FsFileStore implements FileStore {
  constructor(private readonly downloadDir: string) {}

  async openSource(source: unknown): Promise<FileSource> {
    if (typeof source !== 'string') throw new RtcAgentError(ErrorCode.BAD_REQUEST, 'sendFile takes a file path (a string) in Node');
    const path = source;
    let info;
    try {
      info = await stat(path);
    } catch (err) {
      throw new RtcAgentError(ErrorCode.BAD_REQUEST, `cannot read ${path}: ${(err as Error).message}`, { cause: err });
    }
    if (!info.isFile()) throw new RtcAgentError(ErrorCode.BAD_REQUEST, `${path} is not a regular file`);
    return new PathSource(path, info.size);
  }

  async createSink(offer: { id: string; name: string; size: number }): Promise<FileSink> {
    const dir = this.downloadDir;
    try {
      await mkdir(dir, { recursive: true });
      // A random name: ids come from the sender, and two rooms may share the directory.
      const tempPath = pathInside(dir, `.rtc-agent-${randomBytes(8).toString('hex')}.part`);
      const file = await open(tempPath, 'wx', 0o600);
      // The engine sanitised the name (engine/files/file-name.ts), so the file gets exactly the name
      // `file-offer` showed; pathInside() still refuses one that would leave the directory.
      return new PartFileSink(file, tempPath, dir, offer.name);
    } catch (err) {
      throw fileStoreFailure('io', `cannot write to the download directory: ${(err as Error).message}`, err);
    }
  }
}

/** A regular file read once, front to back, hashed on the way. */
class PathSource implements FileSource {
  readonly name: string;
  private readonly hash: Hash = createHash('sha256');
  private digest: Promise<string>;
  private resolveDigest!: (hex: string) => void;
  private stream: ReturnType<typeof createReadStream> | null = null;

  constructor(
    private readonly path: string,
    readonly size: number,
  ) {
    this.name = basename(path);
    this.digest = new Promise((resolve) => (this.resolveDigest = resolve));
  }

  async *read(chunkBytes: number): AsyncIterable<Uint8Array> {
    if (this.stream) throw new RtcAgentError(ErrorCode.INTERNAL, 'a file source is read once');
    const stream = createReadStream(this.path, { highWaterMark: chunkBytes });
    this.stream = stream;
    try {
      for await (const piece of stream) {
        const data = piece as Buffer;
        this.hash.update(data);
        yield data;
      }
    } catch (err) {
      throw new RtcAgentError(ErrorCode.BAD_REQUEST, `reading ${this.path} failed: ${(err as Error).message}`, { cause: err });
    }
    this.resolveDigest(this.hash.digest('hex'));
  }

  sha256(): Promise<string> {
    return this.digest;
  }

  /** Resolves once the descriptor is closed (destroy() alone closes it a little later). */
  async close(): Promise<void> {
    const stream = this.stream;
    if (!stream || stream.closed) return;
    // Not events.once(): it rejects on the AbortError an early break leaves on the stream.
    const closed = new Promise<void>((resolve) => stream.once('close', () => resolve()));
    // An iteration given up early (break) already destroyed it; destroy() is idempotent.
    stream.destroy();
    await closed;
  }
}

/**
 * receiving → finishing → kept | discarded. `file` is null once closed, `tempPath` empty once the
 * `.part` file is gone (renamed or removed).
 */
class PartFileSink implements FileSink {
  private readonly hash: Hash = createHash('sha256');
  private bytes = 0;
  private file: FileHandle | null;
  private discarding: Promise<void> | null = null;

  constructor(
    file: FileHandle,
    private tempPath: string,
    private readonly dir: string,
    private readonly name: string,
  ) {
    this.file = file;
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (!this.file) throw fileStoreFailure('io', 'writing failed: the file is closed');
    this.hash.update(bytes);
    this.bytes += bytes.length;
    try {
      await this.file.write(bytes);
    } catch (err) {
      throw fileStoreFailure('io', `writing failed: ${(err as Error).message}`, err);
    }
  }

  async finish(expected: { size: number; sha256: string }): Promise<{ location: string; sha256: string }> {
    const file = this.file;
    this.file = null;
    try {
      await file?.close();
    } catch (err) {
      await this.discard();
      throw fileStoreFailure('io', `writing failed: ${(err as Error).message}`, err);
    }
    const sha256 = this.hash.digest('hex');
    if (this.bytes !== expected.size) {
      await this.discard();
      throw fileStoreFailure('corrupt', `got ${this.bytes} of ${expected.size} bytes`);
    }
    if (expected.sha256 !== sha256) {
      await this.discard();
      throw fileStoreFailure('corrupt', 'SHA-256 mismatch: the file is corrupt');
    }
    try {
      const location = await placeFile(this.tempPath, this.dir, this.name);
      this.tempPath = '';
      return { location, sha256 };
    } catch (err) {
      await this.discard();
      throw fileStoreFailure('io', `could not store the file: ${(err as Error).message}`, err);
    }
  }

  discard(): Promise<void> {
    this.discarding ??= this.removeAll();
    return this.discarding;
  }

  private async removeAll(): Promise<void> {
    const file = this.file;
    this.file = null;
    await file?.close().catch(() => undefined);
    if (this.tempPath) await unlink(this.tempPath).catch(() => undefined);
    this.tempPath = '';
  }
}

/** Moves the finished temp file to a free sanitised name in `dir`, never replacing an existing file. */
async function placeFile(tempPath: string, dir: string, name: string): Promise<string> {
  for (let n = 0; n < MAX_NAME_CANDIDATES; n++) {
    const target = pathInside(dir, numberedName(name, n));
    try {
      // link() fails if the target exists: an atomic "rename without overwrite".
      await link(tempPath, target);
      await unlink(tempPath);
      return target;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') continue;
      if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EXDEV') {
        // File systems without hard links: check, then rename (a small race).
        if (await stat(target).then(() => true, () => false)) continue;
        await rename(tempPath, target);
        return target;
      }
      throw err;
    }
  }
  throw new Error(`no free name for ${name} in ${dir}`);
}
