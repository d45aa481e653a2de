/**
 * The receiving half of file transfer, built to hold up against a hostile sender: every offer is
 * checked (id, size, duplicates, per-peer and total limits) before anything is opened; a transfer
 * that stops sending is aborted after `idleTimeoutMs`; and every way a transfer can end discards
 * its sink *before* `file-failed` is emitted, so a listener can look at the download directory
 * right away. The platform's FileSink (store.ts) holds the bytes, hashes them and keeps the file
 * only when size and SHA-256 match.
 */
import type { EngineLogger } from '../log.js';
import { unref } from '../timers.js';
import { sanitizeFileName } from './file-name.js';
import { OFFER_ID_PATTERN, remoteReason, type FileFailCode } from './file-wire.js';
import type { IncomingFileSlot, IncomingFileSlots } from './incoming-file-slots.js';
import { FILE_PROGRESS_STEP_BYTES, RECENT_FILE_IDS_PER_PEER, type AcceptFile, type FileSettings } from './settings.js';
import { storeFailureOf, type FileSink, type FileStore } from './store.js';
import type { Emit, FileOffer, FileRoom } from './types.js';

/** Longest reason sent back for a malformed offer: it quotes the sender's value. */
const MAX_BAD_OFFER_REASON_CHARS = 200;

/**
 * receiving: taking chunks. ending: `end` arrived, waiting for the last writes. placing: being
 * verified and kept by the sink (nothing aborts it now). failed / received: over.
 */
type IncomingState = 'receiving' | 'ending' | 'placing' | 'failed' | 'received';

interface Incoming {
  readonly key: string;
  readonly offer: FileOffer;
  readonly slot: IncomingFileSlot;
  state: IncomingState;
  /** True until the application's acceptFile decision is in (no sink exists before). */
  deciding: boolean;
  /** Set once the store made it (it is ours to discard). */
  sink: FileSink | null;
  bytes: number;
  lastProgress: number;
  /** Creating the sink, then each chunk's write, in order. */
  writes: Promise<void>;
  idle: ReturnType<typeof setTimeout> | undefined;
  /** Resolves when the transfer is over, whichever way. */
  readonly over: Promise<void>;
  markOver(): void;
}

/** What the receiver tells the sender when a transfer fails: a refusal, a failed verification, or nothing (it cannot hear). */
type Tell = 'reject' | 'done' | 'none';

export interface FileReceiverDeps {
  room: FileRoom;
  store: FileStore;
  settings: Pick<FileSettings, 'maxFileBytes' | 'acceptFiles' | 'idleTimeoutMs'>;
  /** The agent's bound on incoming transfers in progress, shared by all its rooms. */
  slots: IncomingFileSlots;
  log: EngineLogger;
  emit: Emit;
  accept?: AcceptFile | undefined;
}

export class FileReceiver {
  private readonly incoming = new Map<string, Incoming>();
  private readonly recentIds = new Map<string, Set<string>>();
  /** Verified transfers being kept by their sink: close() waits for them. */
  private readonly placing = new Set<Incoming>();
  private closed = false;
  private readonly room: FileRoom;
  private readonly settings: FileReceiverDeps['settings'];
  private readonly log: EngineLogger;
  private readonly emit: Emit;

  constructor(private readonly deps: FileReceiverDeps) {
    this.room = deps.room;
    this.settings = deps.settings;
    this.log = deps.log;
    this.emit = deps.emit;
  }

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
    if (size < 0) {
      return this.refuse(offer, 'bad-offer', `malformed offer: size must be a whole number of bytes, got ${JSON.stringify(msg.size) ?? 'nothing'}`.slice(0, MAX_BAD_OFFER_REASON_CHARS));
    }
    if (!this.settings.acceptFiles) return this.refuse(offer, 'refused', 'this agent does not accept files');
    if (size > this.settings.maxFileBytes) return this.refuse(offer, 'too-large', `${size} bytes is over the ${this.settings.maxFileBytes}-byte limit`);
    const slot = this.deps.slots.acquire(from);
    if (!slot.ok) {
      const reason =
        slot.scope === 'peer'
          ? `too many files from this sender at once: ${slot.limit} already in progress (maxIncomingFilesPerPeer)`
          : `too many incoming files at once: ${slot.limit} already in progress from all peers (maxIncomingFiles)`;
      return this.refuse(offer, 'too-many', reason);
    }
    let markOver = (): void => undefined;
    const over = new Promise<void>((resolve) => (markOver = resolve));
    const entry: Incoming = { key, offer, slot, state: 'receiving', deciding: true, sink: null, bytes: 0, lastProgress: 0, writes: Promise.resolve(), idle: undefined, over, markOver };
    this.armIdle(entry);
    // Registered at once: chunks follow right behind the offer, and queue behind the sink's creation.
    this.incoming.set(key, entry);
    entry.writes = this.openSink(entry);
    this.emit('file-offer', offer);
  }

  /** (Re)starts the idle timer: any activity, on the wire or in the store, counts. */
  private armIdle(entry: Incoming): void {
    if (entry.idle !== undefined) clearTimeout(entry.idle);
    const ms = this.settings.idleTimeoutMs;
    entry.idle = setTimeout(() => void this.fail(entry, 'idle', `nothing received for ${ms} ms (fileIdleTimeoutMs)`, 'reject'), ms);
    // Never keeps a process alive: close() clears it, and a closing agent must exit promptly.
    unref(entry.idle);
  }

  /** Asks the application, then has the store create the sink; any failure ends the transfer. */
  private async openSink(entry: Incoming): Promise<void> {
    let accepted = true;
    let reason = 'refused by the application';
    if (this.deps.accept) {
      try {
        accepted = await this.deps.accept(entry.offer);
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
    const { id, name, size } = entry.offer;
    try {
      entry.sink = await this.deps.store.createSink({ id, name, size });
    } catch (err) {
      const failure = storeFailureOf(err, 'cannot store the file');
      void this.fail(entry, failure.code, failure.reason, 'reject');
    }
  }

  onChunk(from: string, id: string, data: Uint8Array): void {
    const entry = this.incoming.get(`${from}/${id}`);
    if (!entry || entry.state !== 'receiving') return;
    this.armIdle(entry);
    entry.bytes += data.length;
    if (entry.bytes > entry.offer.size) {
      void this.fail(entry, 'too-large', `more data than the ${entry.offer.size} bytes offered`, 'done');
      return;
    }
    const total = entry.bytes;
    entry.writes = entry.writes.then(() => this.write(entry, data, total));
  }

  /** One chunk into the sink; never rejects, so the chain of writes never breaks. */
  private async write(entry: Incoming, data: Uint8Array, total: number): Promise<void> {
    if (entry.state === 'failed' || !entry.sink) return;
    try {
      await entry.sink.write(data);
    } catch (err) {
      const failure = storeFailureOf(err, 'writing failed');
      void this.fail(entry, failure.code, failure.reason, 'done');
      return;
    }
    // Progress in the store counts as activity too: after `end`, a slow disk may still be catching up.
    if (entry.state === 'receiving' || entry.state === 'ending') this.armIdle(entry);
    if (total - entry.lastProgress < FILE_PROGRESS_STEP_BYTES && total !== entry.offer.size) return;
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
    const { sink, offer } = entry;
    if (!sink) return this.finishFailed(entry, 'io', 'the file was never opened', 'done');
    if (entry.bytes !== offer.size) return this.finishFailed(entry, 'corrupt', `got ${entry.bytes} of ${offer.size} bytes`, 'done');
    let kept: { location: string; sha256: string; blob?: unknown };
    try {
      kept = await sink.finish({ size: offer.size, sha256: typeof msg.sha256 === 'string' ? msg.sha256 : '' });
    } catch (err) {
      const failure = storeFailureOf(err, 'could not store the file');
      return this.finishFailed(entry, failure.code, failure.reason, 'done');
    }
    entry.sink = null;
    entry.state = 'received';
    this.release(entry);
    this.log.info({ from, name: offer.name, bytes: entry.bytes, path: kept.location }, 'file received');
    this.emit('file-received', { ...offer, path: kept.location, sha256: kept.sha256, ...(kept.blob !== undefined ? { blob: kept.blob } : {}) });
    await this.room.sendSystem({ t: 'done', id, ok: true, sha256: kept.sha256 }, from).catch(() => undefined);
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

  /** Ends a transfer that has not been verified yet; a no-op once it is over or being kept. */
  private async fail(entry: Incoming, code: FileFailCode, reason: string, tell: Tell): Promise<void> {
    if (entry.state !== 'receiving' && entry.state !== 'ending') return;
    entry.state = 'failed';
    this.retire(entry);
    // Pending writes go first (they are store-bound); an undecided acceptFile is not waited for,
    // since no sink is created after it (openSink sees the state).
    if (!entry.deciding) await entry.writes;
    await this.finishFailed(entry, code, reason, tell);
  }

  /** Discards what the sink holds, then reports: nothing is left when `file-failed` fires. */
  private async finishFailed(entry: Incoming, code: FileFailCode, reason: string, tell: Tell): Promise<void> {
    entry.state = 'failed';
    const sink = entry.sink;
    entry.sink = null;
    await sink?.discard().catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'discarding a partial file failed'));
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
    entry.idle = undefined;
    if (this.incoming.get(entry.key) !== entry) return;
    this.incoming.delete(entry.key);
    const from = entry.offer.from;
    let recent = this.recentIds.get(from);
    if (!recent) this.recentIds.set(from, (recent = new Set()));
    recent.add(entry.offer.id);
    if (recent.size > RECENT_FILE_IDS_PER_PEER) recent.delete(recent.values().next().value as string);
  }

  /** Gives the slot back once the sink is discarded or the file kept. */
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

  /** The room closed: every transfer is removed (or, if verified, kept) before this resolves. */
  async close(): Promise<void> {
    this.closed = true;
    const failing = [...this.incoming.values()].map((e) => this.fail(e, 'closed', 'the room was closed', 'none'));
    await Promise.all([...failing, ...[...this.placing].map((e) => e.over)]);
    this.recentIds.clear();
  }
}
