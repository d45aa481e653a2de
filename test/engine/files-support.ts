/**
 * For the engine's file-protocol tests (files-*.test.ts): an in-memory FileStore that keeps count
 * of what it holds and can be told to fail or hold at each step, and a small network of rooms that
 * carries System messages between the engine's FileTransfers in order, the way a room session does.
 * A peer without FileTransfers is a hostile sender: the test speaks the wire for it.
 *
 * Platform-neutral (no Node APIs): runs under Node and inside Chromium.
 */
import { concatBytes, toHex, utf8Encode } from '../../src/engine/bytes.js';
import { sha256 as digest } from '../../src/engine/crypto/subtle.js';
import { encodeChunk, type FileFailCode } from '../../src/engine/files/file-wire.js';
import { FileTransfers } from '../../src/engine/files/file-transfers.js';
import { IncomingFileSlots } from '../../src/engine/files/incoming-file-slots.js';
import type { FileSettings } from '../../src/engine/files/settings.js';
import { fileStoreFailure, type FileSink, type FileSource, type FileStore } from '../../src/engine/files/store.js';
import type { FileEvents, FileFailed, FileOffer, FileProgress, FileReceived } from '../../src/engine/files/types.js';
import { silentEngineLogger } from '../../src/engine/log.js';
import type { ReceivedMessage } from '../../src/engine/types.js';
import { ErrorCode, RtcAgentError } from '../../src/errors.js';
import { waitUntil } from '../helpers/wait.js';

export const KiB = 1024;

export const SETTINGS: FileSettings = { maxFileBytes: 1024 * KiB * KiB, acceptFiles: true, confirmTimeoutMs: 30_000, idleTimeoutMs: 5_000 };

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return toHex(await digest(bytes));
}

/** Deterministic content: byte i is i mod 251 (a prime, so chunk boundaries never line up with it). */
export function content(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = i % 251;
  return out;
}

/** A step of the memory store that a test holds until it calls `open()`. */
export class Gate {
  private opened!: () => void;
  readonly passed = new Promise<void>((resolve) => (this.opened = resolve));
  open(): void {
    this.opened();
  }
}

/** What a test makes a store do; each hook runs at that step and may throw or wait. */
export interface StoreFaults {
  createSink?: (offer: { id: string; name: string }) => Promise<void> | void;
  /** n counts the sink's writes from 1. */
  write?: (n: number) => Promise<void> | void;
  finish?: () => Promise<void> | void;
  /** Runs before a discard drops the bytes (a slow disk): file-failed must still come after. */
  discard?: () => Promise<void> | void;
  /** A source that fails after this many pieces. */
  readFailsAfter?: number;
}

export class MemorySink implements FileSink {
  readonly pieces: Uint8Array[] = [];
  state: 'open' | 'kept' | 'discarded' = 'open';
  private writes = 0;
  constructor(
    private readonly store: MemoryFileStore,
    readonly offer: { id: string; name: string; size: number },
  ) {}

  async write(bytes: Uint8Array): Promise<void> {
    await this.store.faults.write?.(++this.writes);
    if (this.state !== 'open') throw fileStoreFailure('io', 'writing failed: the sink is closed');
    this.pieces.push(bytes.slice());
  }

  async finish(expected: { size: number; sha256: string }): Promise<{ location: string; sha256: string; blob: Uint8Array }> {
    try {
      await this.store.faults.finish?.();
    } catch (err) {
      await this.discard();
      throw err;
    }
    const bytes = concatBytes(this.pieces);
    const hash = await sha256Hex(bytes);
    if (bytes.length !== expected.size || hash !== expected.sha256) {
      await this.discard();
      throw fileStoreFailure('corrupt', bytes.length !== expected.size ? `got ${bytes.length} of ${expected.size} bytes` : 'SHA-256 mismatch: the file is corrupt');
    }
    this.state = 'kept';
    const location = `memory:${this.offer.name}#${this.store.kept.size}`;
    this.store.kept.set(location, bytes);
    return { location, sha256: hash, blob: bytes };
  }

  async discard(): Promise<void> {
    if (this.state !== 'open') return;
    await this.store.faults.discard?.();
    this.pieces.length = 0;
    this.state = 'discarded';
  }
}

/** Sources are names registered with {@link addFile}; kept files are in `kept` by location. */
export class MemoryFileStore implements FileStore {
  readonly files = new Map<string, Uint8Array>();
  readonly sinks: MemorySink[] = [];
  readonly kept = new Map<string, Uint8Array>();
  readonly sourcesClosed: string[] = [];
  faults: StoreFaults = {};

  addFile(name: string, bytes: Uint8Array): string {
    this.files.set(name, bytes);
    return name;
  }

  /** Sinks holding bytes of a transfer that is not over: the "partial files". */
  partial(): MemorySink[] {
    return this.sinks.filter((s) => s.state === 'open');
  }

  async openSource(source: unknown): Promise<FileSource> {
    const bytes = typeof source === 'string' ? this.files.get(source) : undefined;
    if (!bytes) throw new RtcAgentError(ErrorCode.BAD_REQUEST, `no file ${String(source)} in the memory store`);
    const name = source as string;
    const store = this;
    let hash: Promise<string> | null = null;
    let consumed!: () => void;
    const done = new Promise<void>((resolve) => (consumed = resolve));
    return {
      name,
      size: bytes.length,
      async *read(chunkBytes: number) {
        let pieces = 0;
        for (let at = 0; at < bytes.length; at += chunkBytes) {
          if (store.faults.readFailsAfter !== undefined && pieces === store.faults.readFailsAfter) throw new Error('EIO: the disk went away');
          pieces++;
          yield bytes.slice(at, at + chunkBytes);
        }
        consumed();
      },
      sha256: () => (hash ??= done.then(() => sha256Hex(bytes))),
      close: async () => {
        if (!store.sourcesClosed.includes(name)) store.sourcesClosed.push(name);
      },
    };
  }

  async createSink(offer: { id: string; name: string; size: number }): Promise<FileSink> {
    await this.faults.createSink?.(offer);
    const sink = new MemorySink(this, offer);
    this.sinks.push(sink);
    return sink;
  }
}

/** Every file event one side emitted, in order, with a check at the moment each is emitted. */
export class FileRecorder {
  readonly all: { event: keyof FileEvents; value: unknown }[] = [];
  /** Runs inside emit(), before anything else happens: for "already cleaned up when it fires". */
  onEvent: ((event: keyof FileEvents, value: unknown) => void) | null = null;
  of<K extends keyof FileEvents>(event: K): FileEvents[K][0][] {
    return this.all.filter((e) => e.event === event).map((e) => e.value as FileEvents[K][0]);
  }
  get offers(): FileOffer[] {
    return this.of('file-offer');
  }
  get failed(): FileFailed[] {
    return this.of('file-failed');
  }
  get received(): FileReceived[] {
    return this.of('file-received');
  }
  get progress(): FileProgress[] {
    return this.of('file-progress');
  }
}

export interface Sent {
  from: string;
  to: string;
  data: unknown;
}

export interface Side {
  readonly id: string;
  readonly files: FileTransfers;
  readonly store: MemoryFileStore;
  readonly events: FileRecorder;
}

/**
 * Rooms on one network: each System message goes to `to` (or every other member) one microtask
 * later, in order. `intercept` may drop (return null) or change what passes.
 */
export class FileNet {
  readonly sent: Sent[] = [];
  readonly members = new Map<string, Side | null>();
  intercept: ((m: Sent) => unknown) | null = null;
  /** Awaited before each message goes out: lets a test hold a sender at an exact point. */
  hold: ((m: Sent) => Promise<void> | void) | null = null;

  /** A peer running the engine's FileTransfers on a memory store. */
  side(id: string, options: { settings?: Partial<FileSettings>; slots?: IncomingFileSlots; accept?: (offer: FileOffer) => boolean | Promise<boolean>; store?: MemoryFileStore } = {}): Side {
    const store = options.store ?? new MemoryFileStore();
    const events = new FileRecorder();
    const room = { name: 'lobby', sendSystem: (data: unknown, to?: string) => this.send(id, data, to), peerIds: () => this.others(id), peerName: (p: string) => `name-of-${p}` };
    const emit = (event: keyof FileEvents, value: unknown): void => {
      events.all.push({ event, value });
      events.onEvent?.(event, value);
    };
    const files = new FileTransfers(room, emit as never, {
      store,
      settings: { ...SETTINGS, ...options.settings },
      slots: options.slots ?? new IncomingFileSlots({ maxPerPeer: 8, maxTotal: 32 }),
      log: silentEngineLogger(),
      accept: options.accept,
    });
    const side = { id, files, store, events };
    this.members.set(id, side);
    return side;
  }

  /** A member the test speaks for (a hostile sender): what it is sent is only recorded. */
  peer(id: string): HostileSender {
    this.members.set(id, null);
    return new HostileSender(this, id);
  }

  /** Replies sent to `to` (JSON messages), in order. */
  repliesTo(to: string): { t: string; id: string; ok?: boolean; code?: FileFailCode; reason?: string; sha256?: string }[] {
    return this.sent.filter((m) => m.to === to && !(m.data instanceof Uint8Array)).map((m) => m.data as never);
  }

  others(id: string): string[] {
    return [...this.members.keys()].filter((p) => p !== id);
  }

  /** Leaves: every other side hears peerGone. */
  leave(id: string): void {
    this.members.delete(id);
    for (const side of this.members.values()) side?.files.peerGone(id);
  }

  async send(from: string, data: unknown, to?: string): Promise<void> {
    for (const target of to !== undefined ? [to] : this.others(from)) {
      const m: Sent = { from, to: target, data: data instanceof Uint8Array ? data.slice() : data };
      const passed = this.intercept ? this.intercept(m) : m.data;
      if (passed === null) continue;
      await this.hold?.(m);
      this.sent.push({ ...m, data: passed });
      await Promise.resolve();
      const side = this.members.get(target);
      side?.files.onSystemMessage(message(from, passed));
    }
  }
}

function message(from: string, data: unknown): ReceivedMessage {
  const binary = data instanceof Uint8Array;
  return { id: `m-${from}`, room: 'lobby', from, name: `name-of-${from}`, timestamp: 0, kind: binary ? 'binary' : 'json', data, path: 'relay', reliable: true, encrypted: false };
}

/** The wire, spoken directly for a peer that does not run our code. */
export class HostileSender {
  constructor(
    private readonly net: FileNet,
    readonly id: string,
  ) {}

  offer(to: string, id: unknown, name: unknown, size: unknown): Promise<void> {
    return this.net.send(this.id, { t: 'offer', id, name, size }, to);
  }

  async chunks(to: string, id: string, bytes: Uint8Array, step = 64 * KiB): Promise<void> {
    for (let at = 0; at < bytes.length; at += step) await this.net.send(this.id, encodeChunk(id, bytes.subarray(at, at + step)), to);
  }

  async end(to: string, id: string, bytes: Uint8Array, sha256?: string): Promise<void> {
    await this.net.send(this.id, { t: 'end', id, sha256: sha256 ?? (await sha256Hex(bytes)), size: bytes.length }, to);
  }

  abort(to: string, id: string, reason: unknown): Promise<void> {
    return this.net.send(this.id, { t: 'abort', id, reason }, to);
  }

  /** Raw bytes as a System message (e.g. a chunk with a bad tag). */
  raw(to: string, data: unknown): Promise<void> {
    return this.net.send(this.id, data, to);
  }
}

/** Waits (on the real clock, so it also works under fake timers) until `condition` holds. */
export function until<T>(condition: () => T, what: string): Promise<T> {
  return waitUntil(condition, { what }) as Promise<T>;
}

/** Offer ids of the form honest senders use. */
let nextId = 0;
export function offerId(): string {
  return `offer-id-${String(++nextId).padStart(4, '0')}`;
}

export const text = (s: string): Uint8Array => utf8Encode(s);
