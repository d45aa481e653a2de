/**
 * File transfer over a room: chunked through the same reliable, ordered delivery as messages, so a
 * transfer simply continues across a path switch or a hub reconnect. SHA-256 verified end to end.
 * This module sends and routes the wire messages (see file-wire.ts); the receiving half, with its
 * limits against hostile senders, is file-receiver.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { decodeChunk, encodeChunk, isFileFailCode, remoteReason, type FileFailCode } from '../../engine/files/file-wire.js';
import type { IncomingFileSlots } from '../../engine/files/incoming-file-slots.js';
import type { Emit, FileOffer, FileRoom, FileSent, RoomFiles } from '../../engine/files/types.js';
import type { ReceivedMessage } from '../../engine/types.js';
import { ErrorCode, RtcAgentError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import { FileReceiver } from './file-receiver.js';

/** Bytes per chunk message: big enough to amortise headers, small enough to interleave with chat. */
export const FILE_CHUNK_BYTES = 64 * 1024;
/** Progress events at most every this many bytes (and at the end). */
const PROGRESS_STEP_BYTES = 256 * 1024;

export interface FileSettings {
  downloadDir: string;
  maxFileBytes: number;
  acceptFiles: boolean;
  /** How long the sender waits for receivers to confirm after the last chunk. */
  confirmTimeoutMs: number;
  /** An incoming transfer that receives nothing for this long is aborted. */
  idleTimeoutMs: number;
}

/** Why a receiver did not confirm: the code for `file-failed`, and the error `send()` may throw. */
interface NotDelivered {
  code: FileFailCode;
  error: RtcAgentError;
}

interface Waiter {
  settle(result: true | NotDelivered): void;
}

/** A room's file transfers on the file system (the engine's RoomFiles seam for Node). */
export class FileTransfers implements RoomFiles {
  private readonly waiters = new Map<string, Waiter>();
  private readonly receiver: FileReceiver;

  constructor(
    private readonly room: FileRoom,
    private readonly settings: FileSettings,
    log: Logger,
    private readonly emit: Emit,
    /** Lets an application decide per offer (after size and acceptFiles checks). */
    accept: ((offer: FileOffer) => boolean | Promise<boolean>) | undefined,
    /** The agent's bound on incoming transfers in progress, shared by all its rooms. */
    slots: IncomingFileSlots,
  ) {
    this.receiver = new FileReceiver(room, { ...settings }, slots, log, emit, accept);
  }

  // ------------------------------------------------------------------ sending

  async send(source: unknown, options: { to?: string } = {}): Promise<FileSent> {
    if (typeof source !== 'string') throw new RtcAgentError(ErrorCode.BAD_REQUEST, 'sendFile takes a file path (a string) in Node');
    const path = source;
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
      // A refusal can arrive while we are still streaming: note it, and stop sending to nobody.
      void p.then((r) => r !== true && refused.add(peerId));
      return p;
    });
    const send = (data: unknown): Promise<void> => this.room.sendSystem(data, options.to);

    await send({ t: 'offer', id, name, size });
    const hash = createHash('sha256');
    let sent = 0;
    let lastProgress = 0;
    try {
      for await (const piece of createReadStream(path, { highWaterMark: FILE_CHUNK_BYTES })) {
        // Everyone refused (or left): stop streaming bytes nobody will keep.
        if (refused.size === targets.length) break;
        const data = piece as Buffer;
        hash.update(data);
        // send() resolves under the send window: the file streams at the pace the peers take it.
        await send(encodeChunk(id, data));
        sent += data.length;
        if (sent - lastProgress >= PROGRESS_STEP_BYTES || sent === size) {
          lastProgress = sent;
          for (const peerId of targets) this.emit('file-progress', { id, room: this.room.name, direction: 'send', peerId, name, bytes: sent, size });
        }
      }
    } catch (err) {
      await send({ t: 'abort', id, reason: 'the sender could not read the file' }).catch(() => undefined);
      for (const peerId of targets) this.settle(id, peerId, { code: 'aborted', error: new RtcAgentError(ErrorCode.CLOSED, 'transfer aborted') });
      throw err instanceof RtcAgentError ? err : new RtcAgentError(ErrorCode.BAD_REQUEST, `reading ${path} failed: ${(err as Error).message}`, { cause: err });
    }
    const sha256 = hash.digest('hex');
    if (refused.size < targets.length) await send({ t: 'end', id, sha256, size: sent });
    // Receivers confirm once the last byte is verified; one that never answers fails on its own.
    const timer = setTimeout(() => {
      for (const peerId of targets) {
        const error = new RtcAgentError(ErrorCode.SEND_TIMEOUT, `${this.room.peerName(peerId)} did not confirm ${name} within ${this.settings.confirmTimeoutMs} ms`);
        this.settle(id, peerId, { code: 'timeout', error });
      }
    }, this.settings.confirmTimeoutMs);
    const results = await Promise.all(confirmations);
    clearTimeout(timer);
    const deliveredTo = targets.filter((_, i) => results[i] === true);
    let first: NotDelivered | undefined;
    for (const [i, r] of results.entries()) {
      if (r === true) continue;
      first ??= r;
      this.emit('file-failed', { id, room: this.room.name, direction: 'send', peerId: targets[i] as string, name, code: r.code, reason: r.error.message });
    }
    if (deliveredTo.length === 0) throw first?.error ?? new RtcAgentError(ErrorCode.SEND_TIMEOUT, `no peer confirmed ${name}`);
    return { id, name, size: sent, sha256, deliveredTo };
  }

  private waitFor(id: string, peerId: string): Promise<true | NotDelivered> {
    return new Promise((resolve) => {
      this.waiters.set(`${id}/${peerId}`, { settle: resolve });
    });
  }

  private settle(id: string, peerId: string, result: true | NotDelivered): void {
    const key = `${id}/${peerId}`;
    const waiter = this.waiters.get(key);
    if (!waiter) return;
    this.waiters.delete(key);
    waiter.settle(result);
  }

  // ------------------------------------------------------------------ routing

  onSystemMessage(m: ReceivedMessage): void {
    if (m.kind === 'binary') {
      const chunk = decodeChunk(m.data as Uint8Array);
      if (chunk) this.receiver.onChunk(m.from, chunk.id, chunk.data);
      return;
    }
    if (m.kind !== 'json' || typeof m.data !== 'object' || m.data === null) return;
    const msg = m.data as Record<string, unknown>;
    const id = typeof msg.id === 'string' ? msg.id : '';
    const peer = this.room.peerName(m.from);
    switch (msg.t) {
      case 'offer':
        this.receiver.onOffer(m.from, msg);
        return;
      case 'end':
        void this.receiver.onEnd(m.from, id, msg);
        return;
      case 'abort':
        this.receiver.onAbort(m.from, id, msg);
        return;
      case 'done': {
        if (msg.ok === true) return this.settle(id, m.from, true);
        const error = new RtcAgentError(ErrorCode.PROTOCOL, `${peer} could not verify the file: ${remoteReason(msg.reason) || 'unknown'}`);
        this.settle(id, m.from, { code: isFileFailCode(msg.code) ? msg.code : 'corrupt', error });
        return;
      }
      case 'reject': {
        const error = new RtcAgentError(ErrorCode.FORBIDDEN, `${peer} refused the file: ${remoteReason(msg.reason)}`);
        this.settle(id, m.from, { code: isFileFailCode(msg.code) ? msg.code : 'refused', error });
        return;
      }
    }
  }

  /** A peer left: its incoming transfers are removed, and sends waiting for it fail. */
  peerGone(peerId: string): void {
    this.receiver.peerGone(peerId);
    for (const key of [...this.waiters.keys()]) {
      const [id, peer] = key.split('/') as [string, string];
      if (peer === peerId) this.settle(id, peer, { code: 'peer-left', error: new RtcAgentError(ErrorCode.CLOSED, `${peerId} left before confirming`) });
    }
  }

  /** The room closed: everything in flight is removed; resolves once no temporary file is left. */
  async close(): Promise<void> {
    for (const key of [...this.waiters.keys()]) {
      const [id, peer] = key.split('/') as [string, string];
      this.settle(id, peer, { code: 'closed', error: new RtcAgentError(ErrorCode.CLOSED, 'the room was closed') });
    }
    await this.receiver.close();
  }
}
