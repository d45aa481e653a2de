/**
 * The receiving half of file transfer, built to hold up against a hostile sender: every offer is
 * checked (id, size, duplicates, per-peer and total limits) before anything is opened; a transfer
 * that stops sending is aborted after `idleTimeoutMs`; and every way a transfer can end closes its
 * file and removes its temporary file *before* `file-failed` is emitted, so a listener can look at
 * the download directory right away. Bytes are hashed as they are written to a temporary file that
 * is renamed (never over an existing file) only when size and SHA-256 match.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { link, mkdir, open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { OFFER_ID_PATTERN, remoteReason, type FileFailCode } from '../../engine/files/file-wire.js';
import type { IncomingFileSlot, IncomingFileSlots } from '../../engine/files/incoming-file-slots.js';
import type { Emit, FileOffer, FileRoom } from '../../engine/files/types.js';
import type { Logger } from '../../log/logger.js';
import { numberedName, pathInside, sanitizeFileName } from '../../util/file-names.js';

/** Progress events at most every this many bytes (and at the end). */
const PROGRESS_STEP_BYTES = 256 * 1024;
/**
 * Ids of finished transfers remembered per sender, so a re-offer of one is refused as a duplicate.
 * Honest senders never reuse an id (9 random bytes), so this only has to catch replays of recent
 * ones; bounded so a peer cycling through ids cannot grow it without limit.
 */
const RECENT_IDS_PER_PEER = 256;

export interface ReceiverSettings {
  downloadDir: string;
  maxFileBytes: number;
  acceptFiles: boolean;
  /** A transfer that receives nothing for this long is aborted. */
  idleTimeoutMs: number;
}

/**
 * receiving: taking chunks. ending: `end` arrived, waiting for the last writes. placing: verified,
 * being moved into place (nothing aborts it now). failed / received: over.
 */
type IncomingState = 'receiving' | 'ending' | 'placing' | 'failed' | 'received';

interface Incoming {
  readonly key: string;
  readonly offer: FileOffer;
  readonly slot: IncomingFileSlot;
  state: IncomingState;
  /** True until the application's acceptFile decision is in (no file is open before). */
  deciding: boolean;
  /** Set once the temporary file exists (it is ours to remove). */
  tempPath: string;
  file: FileHandle | null;
  hash: Hash;
  bytes: number;
  lastProgress: number;
  /** Opening, then each chunk's write, in order. */
  writes: Promise<void>;
  idle: NodeJS.Timeout;
  /** Resolves when the transfer is over, whichever way. */
  readonly over: Promise<void>;
  markOver(): void;
}

/** What the receiver tells the sender when a transfer fails: a refusal, a failed verification, or nothing (it cannot hear). */
type Tell = 'reject' | 'done' | 'none';

export class FileReceiver {
  private readonly incoming = new Map<string, Incoming>();
  private readonly recentIds = new Map<string, Set<string>>();
  /** Verified transfers being moved into place: close() waits for them. */
  private readonly placing = new Set<Incoming>();
  private closed = false;

  constructor(
    private readonly room: FileRoom,
    private readonly settings: ReceiverSettings,
    private readonly slots: IncomingFileSlots,
    private readonly log: Logger,
    private readonly emit: Emit,
    private readonly accept: ((offer: FileOffer) => boolean | Promise<boolean>) | undefined,
  ) {}

  onOffer(from: string, msg: Record<string, unknown>): void {
    const id = typeof msg.id === 'string' ? msg.id : '';
    if (!OFFER_ID_PATTERN.test(id)) {
      // Nothing to answer to: a reject must name the id.
      this.log.debug({ from }, 'file offer with a malformed id ignored');
      return;
    }
    if (this.closed) return;
    const size = typeof msg.size === 'number' && Number.isSafeInteger(msg.size) && msg.size >= 0 ? msg.size : -1;
    const offer: FileOffer = {
      id,
      room: this.room.name,
      from,
      fromName: this.room.peerName(from),
      name: sanitizeFileName(typeof msg.name === 'string' ? msg.name : ''),
      size: Math.max(size, 0),
    };
    const key = `${from}/${id}`;
    if (this.incoming.has(key) || this.recentIds.get(from)?.has(id)) {
      return this.refuse(offer, 'duplicate', `duplicate offer id ${id}: a transfer with this id from this sender is in progress or just finished`);
    }
    if (size < 0) return this.refuse(offer, 'bad-offer', `malformed offer: size must be a whole number of bytes, got ${JSON.stringify(msg.size) ?? 'nothing'}`.slice(0, 200));
    if (!this.settings.acceptFiles) return this.refuse(offer, 'refused', 'this agent does not accept files');
    if (size > this.settings.maxFileBytes) return this.refuse(offer, 'too-large', `${size} bytes is over the ${this.settings.maxFileBytes}-byte limit`);
    const slot = this.slots.acquire(from);
    if (!slot.ok) {
      const reason =
        slot.scope === 'peer'
          ? `too many files from this sender at once: ${slot.limit} already in progress (maxIncomingFilesPerPeer)`
          : `too many incoming files at once: ${slot.limit} already in progress from all peers (maxIncomingFiles)`;
      return this.refuse(offer, 'too-many', reason);
    }
    let markOver = (): void => undefined;
    const over = new Promise<void>((resolve) => (markOver = resolve));
    const entry: Incoming = {
      key,
      offer,
      slot,
      state: 'receiving',
      deciding: true,
      tempPath: '',
      file: null,
      hash: createHash('sha256'),
      bytes: 0,
      lastProgress: 0,
      writes: Promise.resolve(),
      idle: setTimeout(() => void this.fail(entry, 'idle', `nothing received for ${this.settings.idleTimeoutMs} ms (fileIdleTimeoutMs)`, 'reject'), this.settings.idleTimeoutMs),
      over,
      markOver,
    };
    // Never keeps the process alive: close() clears it, and a closing agent must exit promptly.
    entry.idle.unref();
    // Registered at once: chunks follow right behind the offer, and queue behind the opening.
    this.incoming.set(key, entry);
    entry.writes = this.openFile(entry);
    this.emit('file-offer', offer);
  }

  /** Asks the application, then creates the temporary file; any failure ends the transfer. */
  private async openFile(entry: Incoming): Promise<void> {
    let accepted = true;
    let reason = 'refused by the application';
    if (this.accept) {
      try {
        accepted = await this.accept(entry.offer);
      } catch (err) {
        accepted = false;
        reason = `the application's acceptFile failed: ${(err as Error).message}`;
      }
    }
    entry.deciding = false;
    if (entry.state !== 'receiving' && entry.state !== 'ending') return;
    if (!accepted) {
      void this.fail(entry, 'refused', reason, 'reject');
      return;
    }
    try {
      await mkdir(this.settings.downloadDir, { recursive: true });
      // A random name: ids come from the sender, and two rooms may share the directory.
      const tempPath = pathInside(this.settings.downloadDir, `.rtc-agent-${randomBytes(8).toString('hex')}.part`);
      entry.file = await open(tempPath, 'wx', 0o600);
      entry.tempPath = tempPath;
    } catch (err) {
      void this.fail(entry, 'io', `cannot write to the download directory: ${(err as Error).message}`, 'reject');
    }
  }

  onChunk(from: string, id: string, data: Uint8Array): void {
    const entry = this.incoming.get(`${from}/${id}`);
    if (!entry || entry.state !== 'receiving') return;
    entry.idle.refresh();
    entry.bytes += data.length;
    if (entry.bytes > entry.offer.size) {
      void this.fail(entry, 'too-large', `more data than the ${entry.offer.size} bytes offered`, 'done');
      return;
    }
    entry.hash.update(data);
    const total = entry.bytes;
    entry.writes = entry.writes.then(() => this.write(entry, data, total));
  }

  /** One chunk to disk; never rejects, so the chain of writes never breaks. */
  private async write(entry: Incoming, data: Uint8Array, total: number): Promise<void> {
    if (entry.state === 'failed' || !entry.file) return;
    try {
      await entry.file.write(data);
    } catch (err) {
      void this.fail(entry, 'io', `writing failed: ${(err as Error).message}`, 'done');
      return;
    }
    // Progress on disk counts as activity too: after `end`, a slow disk may still be catching up.
    if (entry.state === 'receiving' || entry.state === 'ending') entry.idle.refresh();
    if (total - entry.lastProgress < PROGRESS_STEP_BYTES && total !== entry.offer.size) return;
    entry.lastProgress = total;
    const { offer } = entry;
    try {
      this.emit('file-progress', { id: offer.id, room: this.room.name, direction: 'receive', peerId: offer.from, name: offer.name, bytes: total, size: offer.size });
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'a file-progress listener threw');
    }
  }

  async onEnd(from: string, id: string, msg: Record<string, unknown>): Promise<void> {
    const entry = this.incoming.get(`${from}/${id}`);
    if (!entry || entry.state !== 'receiving') return;
    entry.state = 'ending';
    await entry.writes;
    // Failed meanwhile (write error, sender left, idle while the application decided): already cleaned up.
    if (entry.state !== 'ending') return;
    // Verified or not, only local work is left: out of the table, so nothing aborts it any more.
    entry.state = 'placing';
    this.retire(entry);
    this.placing.add(entry);
    const file = entry.file;
    entry.file = null;
    try {
      await file?.close();
    } catch (err) {
      return this.finishFailed(entry, 'io', `writing failed: ${(err as Error).message}`, 'done');
    }
    const sha256 = entry.hash.digest('hex');
    if (entry.bytes !== entry.offer.size) return this.finishFailed(entry, 'corrupt', `got ${entry.bytes} of ${entry.offer.size} bytes`, 'done');
    if (msg.sha256 !== sha256) return this.finishFailed(entry, 'corrupt', 'SHA-256 mismatch: the file is corrupt', 'done');
    let finalPath: string;
    try {
      finalPath = await placeFile(entry.tempPath, this.settings.downloadDir, entry.offer.name);
    } catch (err) {
      return this.finishFailed(entry, 'io', `could not store the file: ${(err as Error).message}`, 'done');
    }
    entry.state = 'received';
    this.release(entry);
    this.log.info({ from, name: entry.offer.name, bytes: entry.bytes, path: finalPath }, 'file received');
    this.emit('file-received', { ...entry.offer, path: finalPath, sha256 });
    await this.room.sendSystem({ t: 'done', id, ok: true, sha256 }, from).catch(() => undefined);
  }

  onAbort(from: string, id: string, msg: Record<string, unknown>): void {
    const entry = this.incoming.get(`${from}/${id}`);
    if (entry) void this.fail(entry, 'aborted', `the sender aborted: ${remoteReason(msg.reason)}`, 'none');
  }

  /** Refuses an offer before anything was opened: the sender hears `reject`, the application `file-failed`. */
  private refuse(offer: FileOffer, code: FileFailCode, reason: string): void {
    this.log.info({ from: offer.from, id: offer.id, code, reason }, 'file offer refused');
    this.emit('file-failed', { id: offer.id, room: this.room.name, direction: 'receive', peerId: offer.from, name: offer.name, code, reason });
    void this.room.sendSystem({ t: 'reject', id: offer.id, reason, code }, offer.from).catch(() => undefined);
  }

  /** Ends a transfer that has not been verified yet; a no-op once it is over or being put in place. */
  private async fail(entry: Incoming, code: FileFailCode, reason: string, tell: Tell): Promise<void> {
    if (entry.state !== 'receiving' && entry.state !== 'ending') return;
    entry.state = 'failed';
    this.retire(entry);
    // Pending writes go first (they are disk-bound); an undecided acceptFile is not waited for,
    // since no file is opened after it (openFile sees the state).
    if (!entry.deciding) await entry.writes;
    await this.finishFailed(entry, code, reason, tell);
  }

  /** Closes and removes the temporary file, then reports: the directory is clean when `file-failed` fires. */
  private async finishFailed(entry: Incoming, code: FileFailCode, reason: string, tell: Tell): Promise<void> {
    entry.state = 'failed';
    const file = entry.file;
    entry.file = null;
    await file?.close().catch(() => undefined);
    if (entry.tempPath) await unlink(entry.tempPath).catch(() => undefined);
    this.release(entry);
    const { offer } = entry;
    this.log.warn({ from: offer.from, name: offer.name, code, reason }, 'file transfer failed; partial file removed');
    this.emit('file-failed', { id: offer.id, room: this.room.name, direction: 'receive', peerId: offer.from, name: offer.name, code, reason });
    if (tell === 'reject') await this.room.sendSystem({ t: 'reject', id: offer.id, reason, code }, offer.from).catch(() => undefined);
    if (tell === 'done') await this.room.sendSystem({ t: 'done', id: offer.id, ok: false, reason, code }, offer.from).catch(() => undefined);
  }

  /**
   * Takes a transfer out of the table at the moment it stops taking data, and remembers its id so a
   * re-offer is a duplicate. Synchronous, so peerGone() can forget the peer's ids right after.
   */
  private retire(entry: Incoming): void {
    clearTimeout(entry.idle);
    if (this.incoming.get(entry.key) !== entry) return;
    this.incoming.delete(entry.key);
    const from = entry.offer.from;
    let recent = this.recentIds.get(from);
    if (!recent) this.recentIds.set(from, (recent = new Set()));
    recent.add(entry.offer.id);
    if (recent.size > RECENT_IDS_PER_PEER) recent.delete(recent.values().next().value as string);
  }

  /** Gives the slot back once the file is closed (and placed or removed). */
  private release(entry: Incoming): void {
    entry.slot.release();
    this.placing.delete(entry);
    entry.markOver();
  }

  /** A peer left: its transfers are removed (it cannot hear about it), and its ids forgotten. */
  peerGone(peerId: string): void {
    for (const entry of [...this.incoming.values()]) if (entry.offer.from === peerId) void this.fail(entry, 'peer-left', 'the sender left', 'none');
    this.recentIds.delete(peerId);
  }

  /** The room closed: every transfer is removed (or, if verified, put in place) before this resolves. */
  async close(): Promise<void> {
    this.closed = true;
    const failing = [...this.incoming.values()].map((e) => this.fail(e, 'closed', 'the room was closed', 'none'));
    await Promise.all([...failing, ...[...this.placing].map((e) => e.over)]);
    this.recentIds.clear();
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
