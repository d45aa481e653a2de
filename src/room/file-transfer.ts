/**
 * File transfer over a room: chunked through the same reliable, ordered delivery as messages, so a
 * transfer simply continues across a path switch or a hub reconnect. SHA-256 verified end to end;
 * the receiver writes into its download directory under a sanitised name, through a temporary file
 * renamed on success, and removes anything incomplete or corrupt.
 *
 * Wire (System messages, invisible to the application):
 *   {"t":"offer","id","name","size"}   then binary chunks   [0x01][idLen u8][id][bytes]
 *   {"t":"end","id","sha256"}          the receiver answers {"t":"done","id","ok",…} or {"t":"reject","id","reason"}
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, mkdir, open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { ErrorCode, RtcAgentError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { numberedName, pathInside, sanitizeFileName } from '../util/file-names.js';
import type { ReceivedMessage } from './peer-session.js';

/** Bytes per chunk message: big enough to amortise headers, small enough to interleave with chat. */
export const FILE_CHUNK_BYTES = 64 * 1024;
/** Progress events at most every this many bytes (and at the end). */
const PROGRESS_STEP_BYTES = 256 * 1024;
const CHUNK_TAG = 0x01;

export interface FileSettings {
  downloadDir: string;
  maxFileBytes: number;
  acceptFiles: boolean;
  /** How long the sender waits for receivers to confirm after the last chunk. */
  confirmTimeoutMs: number;
}

export interface FileOffer {
  id: string;
  room: string;
  from: string;
  fromName: string;
  /** Sanitised name the file will get. */
  name: string;
  size: number;
}

export interface FileProgress {
  id: string;
  room: string;
  direction: 'send' | 'receive';
  peerId: string;
  name: string;
  bytes: number;
  size: number;
}

export interface FileReceived extends FileOffer {
  path: string;
  sha256: string;
}

export interface FileFailed {
  id: string;
  room: string;
  direction: 'send' | 'receive';
  peerId: string;
  name: string;
  reason: string;
}

export interface FileSent {
  id: string;
  name: string;
  size: number;
  sha256: string;
  /** Peers that confirmed a verified copy. */
  deliveredTo: string[];
}

export interface FileEvents {
  'file-offer': [offer: FileOffer];
  'file-progress': [progress: FileProgress];
  'file-received': [file: FileReceived];
  'file-failed': [failure: FileFailed];
}

/** What the file module needs from its room. */
export interface FileRoom {
  readonly name: string;
  sendSystem(data: unknown, to?: string): Promise<void>;
  peerIds(): string[];
  peerName(peerId: string): string;
}

interface Incoming {
  offer: FileOffer;
  tempPath: string;
  file: FileHandle | null;
  hash: Hash;
  bytes: number;
  lastProgress: number;
  /** Writes happen in order; each chunk waits for the one before it. */
  writes: Promise<void>;
  failed: string | null;
}

interface Waiter {
  resolve(ok: true): void;
  reject(err: RtcAgentError): void;
}

type Emit = <K extends keyof FileEvents>(event: K, ...args: FileEvents[K]) => void;

export class FileTransfers {
  private readonly incoming = new Map<string, Incoming>();
  private readonly waiters = new Map<string, Waiter>();

  constructor(
    private readonly room: FileRoom,
    private readonly settings: FileSettings,
    private readonly log: Logger,
    private readonly emit: Emit,
    /** Lets an application decide per offer (after size and acceptFiles checks). */
    private readonly accept: ((offer: FileOffer) => boolean | Promise<boolean>) | undefined,
  ) {}

  // ------------------------------------------------------------------ sending

  async send(path: string, options: { to?: string } = {}): Promise<FileSent> {
    let info;
    try {
      info = await stat(path);
    } catch (err) {
      throw new RtcAgentError(ErrorCode.BAD_REQUEST, `cannot read ${path}: ${(err as Error).message}`, { cause: err });
    }
    if (!info.isFile()) throw new RtcAgentError(ErrorCode.BAD_REQUEST, `${path} is not a regular file`);
    const targets = options.to !== undefined ? [options.to] : this.room.peerIds();
    if (targets.length === 0) throw new RtcAgentError(ErrorCode.UNKNOWN_PEER, `nobody else is in room '${this.room.name}' to send ${basename(path)} to`);
    const id = randomBytes(9).toString('base64url');
    const name = basename(path);
    const size = info.size;
    const refused = new Set<string>();
    const confirmations = targets.map((peerId) => {
      const p = this.waitFor(id, peerId);
      // A refusal can arrive while we are still streaming: note it (and keep it from going unhandled).
      p.catch(() => refused.add(peerId));
      return p;
    });
    const send = (data: unknown): Promise<void> => this.room.sendSystem(data, options.to);

    await send({ t: 'offer', id, name, size });
    const hash = createHash('sha256');
    const idBytes = Buffer.from(id);
    let sent = 0;
    let lastProgress = 0;
    try {
      for await (const piece of createReadStream(path, { highWaterMark: FILE_CHUNK_BYTES })) {
        // Everyone refused (or left): stop streaming bytes nobody will keep.
        if (refused.size === targets.length) break;
        const data = piece as Buffer;
        hash.update(data);
        const chunk = Buffer.allocUnsafe(2 + idBytes.length + data.length);
        chunk[0] = CHUNK_TAG;
        chunk[1] = idBytes.length;
        idBytes.copy(chunk, 2);
        data.copy(chunk, 2 + idBytes.length);
        // send() resolves under the send window: the file streams at the pace the peers take it.
        await send(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));
        sent += data.length;
        if (sent - lastProgress >= PROGRESS_STEP_BYTES || sent === size) {
          lastProgress = sent;
          for (const peerId of targets) this.emit('file-progress', { id, room: this.room.name, direction: 'send', peerId, name, bytes: sent, size });
        }
      }
    } catch (err) {
      await send({ t: 'abort', id, reason: 'the sender could not read the file' }).catch(() => undefined);
      for (const peerId of targets) this.settle(id, peerId, new RtcAgentError(ErrorCode.CLOSED, 'transfer aborted'));
      throw err instanceof RtcAgentError ? err : new RtcAgentError(ErrorCode.BAD_REQUEST, `reading ${path} failed: ${(err as Error).message}`, { cause: err });
    }
    const sha256 = hash.digest('hex');
    if (refused.size < targets.length) await send({ t: 'end', id, sha256, size: sent });
    // Receivers confirm once the last byte is verified; one that never answers fails on its own.
    const timer = setTimeout(() => {
      for (const peerId of targets) this.settle(id, peerId, new RtcAgentError(ErrorCode.SEND_TIMEOUT, `${this.room.peerName(peerId)} did not confirm ${name} within ${this.settings.confirmTimeoutMs} ms`));
    }, this.settings.confirmTimeoutMs);
    const results = await Promise.allSettled(confirmations);
    clearTimeout(timer);
    const deliveredTo = targets.filter((_, i) => results[i]?.status === 'fulfilled');
    for (const [i, r] of results.entries()) {
      if (r.status === 'rejected') {
        const reason = (r.reason as Error).message;
        this.emit('file-failed', { id, room: this.room.name, direction: 'send', peerId: targets[i] as string, name, reason });
      }
    }
    if (deliveredTo.length === 0) {
      const first = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
      throw first?.reason instanceof RtcAgentError ? first.reason : new RtcAgentError(ErrorCode.SEND_TIMEOUT, `no peer confirmed ${name}`);
    }
    return { id, name, size: sent, sha256, deliveredTo };
  }

  private waitFor(id: string, peerId: string): Promise<true> {
    return new Promise<true>((resolve, reject) => {
      this.waiters.set(`${id}/${peerId}`, { resolve, reject });
    });
  }

  private settle(id: string, peerId: string, result: true | RtcAgentError): void {
    const key = `${id}/${peerId}`;
    const waiter = this.waiters.get(key);
    if (!waiter) return;
    this.waiters.delete(key);
    if (result === true) waiter.resolve(true);
    else waiter.reject(result);
  }

  // ------------------------------------------------------------------ receiving

  onSystemMessage(m: ReceivedMessage): void {
    if (m.kind === 'binary') {
      this.onChunk(m.from, m.data as Uint8Array);
      return;
    }
    if (m.kind !== 'json' || typeof m.data !== 'object' || m.data === null) return;
    const msg = m.data as Record<string, unknown>;
    const id = typeof msg.id === 'string' ? msg.id : '';
    switch (msg.t) {
      case 'offer':
        void this.onOffer(m.from, id, msg);
        return;
      case 'end':
        void this.onEnd(m.from, id, msg);
        return;
      case 'abort':
        void this.fail(this.incoming.get(`${m.from}/${id}`), `the sender aborted: ${String(msg.reason ?? '')}`, false);
        return;
      case 'done':
        this.settle(id, m.from, msg.ok === true ? true : new RtcAgentError(ErrorCode.PROTOCOL, `${this.room.peerName(m.from)} could not verify the file: ${String(msg.reason ?? 'unknown')}`));
        return;
      case 'reject':
        this.settle(id, m.from, new RtcAgentError(ErrorCode.FORBIDDEN, `${this.room.peerName(m.from)} refused the file: ${String(msg.reason ?? '')}`));
        return;
    }
  }

  private async onOffer(from: string, id: string, msg: Record<string, unknown>): Promise<void> {
    const size = typeof msg.size === 'number' && Number.isSafeInteger(msg.size) && msg.size >= 0 ? msg.size : -1;
    const rawName = typeof msg.name === 'string' ? msg.name : '';
    if (!/^[A-Za-z0-9_-]{8,32}$/.test(id) || size < 0) {
      this.log.debug({ from }, 'malformed file offer ignored');
      return;
    }
    const offer: FileOffer = { id, room: this.room.name, from, fromName: this.room.peerName(from), name: sanitizeFileName(rawName), size };
    const refuse = (reason: string): void => {
      this.emit('file-failed', { id, room: this.room.name, direction: 'receive', peerId: from, name: offer.name, reason });
      void this.room.sendSystem({ t: 'reject', id, reason }, from).catch(() => undefined);
    };
    if (!this.settings.acceptFiles) return refuse('this agent does not accept files');
    if (size > this.settings.maxFileBytes) return refuse(`${size} bytes is over the ${this.settings.maxFileBytes}-byte limit`);
    const entry: Incoming = {
      offer,
      tempPath: '',
      file: null,
      hash: createHash('sha256'),
      bytes: 0,
      lastProgress: 0,
      writes: Promise.resolve(),
      failed: null,
    };
    // Register at once: chunks follow right behind the offer, and queue behind the opening below.
    this.incoming.set(`${from}/${id}`, entry);
    entry.writes = (async () => {
      if (this.accept && !(await this.accept(offer))) throw new Error('refused by the application');
      await mkdir(this.settings.downloadDir, { recursive: true });
      entry.tempPath = pathInside(this.settings.downloadDir, `.rtc-agent-${id}.part`);
      entry.file = await open(entry.tempPath, 'wx', 0o600);
    })();
    entry.writes.catch((err: unknown) => {
      const reason = (err as Error).message;
      this.incoming.delete(`${from}/${id}`);
      refuse(reason);
    });
    this.emit('file-offer', offer);
  }

  private onChunk(from: string, bytes: Uint8Array): void {
    if (bytes.length < 2 || bytes[0] !== CHUNK_TAG) return;
    const idLen = bytes[1] as number;
    const id = Buffer.from(bytes.subarray(2, 2 + idLen)).toString();
    const entry = this.incoming.get(`${from}/${id}`);
    if (!entry || entry.failed) return;
    const data = bytes.subarray(2 + idLen);
    entry.bytes += data.length;
    if (entry.bytes > entry.offer.size || entry.bytes > this.settings.maxFileBytes) {
      void this.fail(entry, `more data than the ${entry.offer.size} bytes offered`, true);
      return;
    }
    entry.hash.update(data);
    const total = entry.bytes;
    entry.writes = entry.writes.then(async () => {
      if (entry.file) await entry.file.write(data);
      if (total - entry.lastProgress >= PROGRESS_STEP_BYTES || total === entry.offer.size) {
        entry.lastProgress = total;
        this.emit('file-progress', { id, room: this.room.name, direction: 'receive', peerId: from, name: entry.offer.name, bytes: total, size: entry.offer.size });
      }
    });
    entry.writes.catch(() => undefined);
  }

  private async onEnd(from: string, id: string, msg: Record<string, unknown>): Promise<void> {
    const key = `${from}/${id}`;
    const entry = this.incoming.get(key);
    if (!entry || entry.failed) return;
    try {
      await entry.writes;
      await entry.file?.close();
      entry.file = null;
    } catch (err) {
      await this.fail(entry, `writing failed: ${(err as Error).message}`, true);
      return;
    }
    const sha256 = entry.hash.digest('hex');
    if (entry.bytes !== entry.offer.size || msg.sha256 !== sha256) {
      await this.fail(entry, entry.bytes !== entry.offer.size ? `got ${entry.bytes} of ${entry.offer.size} bytes` : 'SHA-256 mismatch: the file is corrupt', true);
      return;
    }
    this.incoming.delete(key);
    let finalPath: string;
    try {
      finalPath = await placeFile(entry.tempPath, this.settings.downloadDir, entry.offer.name);
    } catch (err) {
      await this.fail(entry, `could not store the file: ${(err as Error).message}`, true);
      return;
    }
    this.log.info({ from, name: entry.offer.name, bytes: entry.bytes, path: finalPath }, 'file received');
    this.emit('file-received', { ...entry.offer, path: finalPath, sha256 });
    await this.room.sendSystem({ t: 'done', id, ok: true, sha256 }, from).catch(() => undefined);
  }

  /** Removes a transfer's temporary file and reports it; tells the sender when it may still listen. */
  private async fail(entry: Incoming | undefined, reason: string, tellSender: boolean): Promise<void> {
    if (!entry || entry.failed) return;
    entry.failed = reason;
    this.incoming.delete(`${entry.offer.from}/${entry.offer.id}`);
    await entry.writes.catch(() => undefined);
    await entry.file?.close().catch(() => undefined);
    entry.file = null;
    if (entry.tempPath) await unlink(entry.tempPath).catch(() => undefined);
    this.log.warn({ from: entry.offer.from, name: entry.offer.name, reason }, 'file transfer failed; partial file removed');
    this.emit('file-failed', { id: entry.offer.id, room: this.room.name, direction: 'receive', peerId: entry.offer.from, name: entry.offer.name, reason });
    if (tellSender) await this.room.sendSystem({ t: 'done', id: entry.offer.id, ok: false, reason }, entry.offer.from).catch(() => undefined);
  }

  /** A peer left: its incoming transfers are removed, and sends waiting for it fail. */
  peerGone(peerId: string): void {
    for (const entry of [...this.incoming.values()]) if (entry.offer.from === peerId) void this.fail(entry, 'the sender left', false);
    for (const key of [...this.waiters.keys()]) {
      const [id, peer] = key.split('/') as [string, string];
      if (peer === peerId) this.settle(id, peer, new RtcAgentError(ErrorCode.CLOSED, `${peerId} left before confirming`));
    }
  }

  /** The room closed: everything in flight is removed. */
  async close(): Promise<void> {
    await Promise.all([...this.incoming.values()].map((e) => this.fail(e, 'the room was closed', false)));
    for (const key of [...this.waiters.keys()]) {
      const [id, peer] = key.split('/') as [string, string];
      this.settle(id, peer, new RtcAgentError(ErrorCode.CLOSED, 'the room was closed'));
    }
  }
}

/** Moves the finished temp file to a free sanitised name in `dir`, never replacing an existing file. */
async function placeFile(tempPath: string, dir: string, name: string): Promise<string> {
  for (let n = 0; n < 1000; n++) {
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
        // File systems without hard links: check, then rename (a small race, logged by the caller).
        if (await stat(target).then(() => true, () => false)) continue;
        await rename(tempPath, target);
        return target;
      }
      throw err;
    }
  }
  throw new Error(`no free name for ${name} in ${dir}`);
}
