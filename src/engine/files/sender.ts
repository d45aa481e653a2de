/**
 * The sending half of file transfer: offers a file, streams it in chunks through the room's
 * reliable, ordered delivery (so a transfer simply continues across a path switch or a hub
 * reconnect), announces its SHA-256, and waits for each receiver to confirm a verified copy.
 * The bytes come from the platform's FileSource (store.ts).
 */
import { randomId } from '../bytes.js';
import { ErrorCode, RtcAgentError } from '../../errors.js';
import { encodeChunk, isFileFailCode, remoteReason, type FileFailCode } from './file-wire.js';
import { FILE_CHUNK_BYTES, FILE_ID_BYTES, FILE_PROGRESS_STEP_BYTES } from './settings.js';
import type { FileSource, FileStore } from './store.js';
import type { Emit, FileRoom, FileSent } from './types.js';

/** Why a receiver did not confirm: the code for `file-failed`, and the error `send()` may throw. */
export interface NotDelivered {
  code: FileFailCode;
  error: RtcAgentError;
}

type Confirmation = true | NotDelivered;

export class FileSender {
  /** Per offer id, per receiver: who settles its confirmation. */
  private readonly waiters = new Map<string, Map<string, (result: Confirmation) => void>>();

  constructor(
    private readonly room: FileRoom,
    private readonly store: FileStore,
    private readonly confirmTimeoutMs: number,
    private readonly emit: Emit,
  ) {}

  /** Sends to `to` or everyone in the room; resolves once someone confirmed, else throws the first failure. */
  async send(source: unknown, options: { to?: string } = {}): Promise<FileSent> {
    const file = await this.store.openSource(source);
    try {
      return await this.sendOpen(file, options.to);
    } finally {
      await file.close().catch(() => undefined);
    }
  }

  private async sendOpen(file: FileSource, to: string | undefined): Promise<FileSent> {
    const { name, size } = file;
    const targets = to !== undefined ? [to] : this.room.peerIds();
    if (targets.length === 0) throw new RtcAgentError(ErrorCode.UNKNOWN_PEER, `nobody else is in room '${this.room.name}' to send ${name} to`);
    const id = randomId(FILE_ID_BYTES);
    const refused = new Set<string>();
    const confirmations = targets.map((peerId) => {
      const p = this.waitFor(id, peerId);
      // A refusal can arrive while we are still streaming: note it, and stop sending to nobody.
      void p.then((r) => r !== true && refused.add(peerId));
      return p;
    });
    const send = (data: unknown): Promise<void> => this.room.sendSystem(data, to);

    try {
      await send({ t: 'offer', id, name, size });
    } catch (err) {
      // Nothing went out: nobody will ever answer, so forget the confirmations.
      for (const peerId of targets) this.settle(id, peerId, { code: 'aborted', error: new RtcAgentError(ErrorCode.CLOSED, 'transfer aborted') });
      throw err;
    }
    let sent = 0;
    let sha256 = '';
    try {
      let lastProgress = 0;
      let complete = true;
      for await (const data of file.read(FILE_CHUNK_BYTES)) {
        // Everyone refused (or left): stop streaming bytes nobody will keep.
        if (refused.size === targets.length) {
          complete = false;
          break;
        }
        // sendSystem() resolves under the send window: the file streams at the pace the peers take it.
        await send(encodeChunk(id, data));
        sent += data.length;
        if (sent - lastProgress >= FILE_PROGRESS_STEP_BYTES || sent === size) {
          lastProgress = sent;
          for (const peerId of targets) this.emit('file-progress', { id, room: this.room.name, direction: 'send', peerId, name, bytes: sent, size });
        }
      }
      // The hash is only complete once the content was read to the end.
      if (complete) sha256 = await file.sha256();
    } catch (err) {
      await send({ t: 'abort', id, reason: 'the sender could not read the file' }).catch(() => undefined);
      for (const peerId of targets) this.settle(id, peerId, { code: 'aborted', error: new RtcAgentError(ErrorCode.CLOSED, 'transfer aborted') });
      throw err instanceof RtcAgentError ? err : new RtcAgentError(ErrorCode.BAD_REQUEST, `reading ${name} failed: ${(err as Error).message}`, { cause: err });
    }
    // Read to the end (or given up on): the file is not needed while the receivers verify.
    await file.close().catch(() => undefined);
    if (refused.size < targets.length) await send({ t: 'end', id, sha256, size: sent });
    // Receivers confirm once the last byte is verified; one that never answers fails on its own.
    const timer = setTimeout(() => {
      for (const peerId of targets) {
        const error = new RtcAgentError(ErrorCode.SEND_TIMEOUT, `${this.room.peerName(peerId)} did not confirm ${name} within ${this.confirmTimeoutMs} ms`);
        this.settle(id, peerId, { code: 'timeout', error });
      }
    }, this.confirmTimeoutMs);
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

  /** A receiver's `done`: a verified copy, or why it could not verify one. */
  onDone(from: string, id: string, msg: Record<string, unknown>): void {
    if (msg.ok === true) return this.settle(id, from, true);
    const error = new RtcAgentError(ErrorCode.PROTOCOL, `${this.room.peerName(from)} could not verify the file: ${remoteReason(msg.reason) || 'unknown'}`);
    this.settle(id, from, { code: isFileFailCode(msg.code) ? msg.code : 'corrupt', error });
  }

  /** A receiver's `reject`: it refused the offer or gave up on the transfer. */
  onReject(from: string, id: string, msg: Record<string, unknown>): void {
    const error = new RtcAgentError(ErrorCode.FORBIDDEN, `${this.room.peerName(from)} refused the file: ${remoteReason(msg.reason)}`);
    this.settle(id, from, { code: isFileFailCode(msg.code) ? msg.code : 'refused', error });
  }

  /** A peer left: sends waiting for it fail (`peer-left`). */
  peerGone(peerId: string): void {
    for (const id of [...this.waiters.keys()]) {
      this.settle(id, peerId, { code: 'peer-left', error: new RtcAgentError(ErrorCode.CLOSED, `${peerId} left before confirming`) });
    }
  }

  /** The room closed: every send waiting for a confirmation fails (`closed`). */
  close(): void {
    for (const [id, byPeer] of [...this.waiters]) {
      for (const peerId of [...byPeer.keys()]) this.settle(id, peerId, { code: 'closed', error: new RtcAgentError(ErrorCode.CLOSED, 'the room was closed') });
    }
  }

  private waitFor(id: string, peerId: string): Promise<Confirmation> {
    let byPeer = this.waiters.get(id);
    if (!byPeer) this.waiters.set(id, (byPeer = new Map()));
    const waiting = byPeer;
    return new Promise((resolve) => waiting.set(peerId, resolve));
  }

  /** Settles one receiver's confirmation, once; later answers for it are ignored. */
  private settle(id: string, peerId: string, result: Confirmation): void {
    const byPeer = this.waiters.get(id);
    const resolve = byPeer?.get(peerId);
    if (!byPeer || !resolve) return;
    byPeer.delete(peerId);
    if (byPeer.size === 0) this.waiters.delete(id);
    resolve(result);
  }
}
