/**
 * A room's file transfers on any platform: the engine's RoomFiles, made by the platform for each
 * room with its FileStore (Node: src/node/files/fs-store.ts; browsers: Blobs). It routes the wire
 * messages (file-wire.ts) to the sending half (sender.ts) and the receiving half, with its limits
 * against hostile senders (receiver.ts).
 */
import type { EngineLogger } from '../log.js';
import type { ReceivedMessage } from '../types.js';
import { decodeChunk } from './file-wire.js';
import type { IncomingFileSlots } from './incoming-file-slots.js';
import { FileReceiver } from './receiver.js';
import { FileSender } from './sender.js';
import type { AcceptFile, FileSettings } from './settings.js';
import type { FileStore } from './store.js';
import type { Emit, FileRoom, FileSent, RoomFiles } from './types.js';

export interface FileTransfersOptions {
  /** Where the bytes come from and go to. */
  store: FileStore;
  settings: FileSettings;
  /** The agent's bound on incoming transfers in progress: one instance shared by all its rooms. */
  slots: IncomingFileSlots;
  log: EngineLogger;
  /** Lets the application decide per offer (after the size and acceptFiles checks). */
  accept?: AcceptFile | undefined;
}

export class FileTransfers implements RoomFiles {
  private readonly sender: FileSender;
  private readonly receiver: FileReceiver;

  constructor(room: FileRoom, emit: Emit, options: FileTransfersOptions) {
    const { store, settings, slots, log, accept } = options;
    this.sender = new FileSender(room, store, settings.confirmTimeoutMs, emit);
    this.receiver = new FileReceiver({ room, store, settings, slots, log, emit, accept });
  }

  send(source: unknown, options: { to?: string } = {}): Promise<FileSent> {
    return this.sender.send(source, options);
  }

  onSystemMessage(m: ReceivedMessage): void {
    if (m.kind === 'binary') {
      const chunk = m.data instanceof Uint8Array ? decodeChunk(m.data) : null;
      if (chunk) this.receiver.onChunk(m.from, chunk.id, chunk.data);
      return;
    }
    if (m.kind !== 'json' || typeof m.data !== 'object' || m.data === null) return;
    const msg = m.data as Record<string, unknown>;
    const id = typeof msg.id === 'string' ? msg.id : '';
    switch (msg.t) {
      case 'offer':
        return this.receiver.onOffer(m.from, msg);
      case 'end':
        void this.receiver.onEnd(m.from, id, msg);
        return;
      case 'abort':
        return this.receiver.onAbort(m.from, id, msg);
      case 'done':
        return this.sender.onDone(m.from, id, msg);
      case 'reject':
        return this.sender.onReject(m.from, id, msg);
    }
  }

  /** A peer left: its incoming transfers are removed, and sends waiting for it fail. */
  peerGone(peerId: string): void {
    this.receiver.peerGone(peerId);
    this.sender.peerGone(peerId);
  }

  /** The room closed: everything in flight fails; resolves once no partial file is left. */
  async close(): Promise<void> {
    this.sender.close();
    await this.receiver.close();
  }
}
