/**
 * The receiving half of a peer session: frames from either path are decoded, opened (E2EE, in
 * arrival order even when opening is asynchronous), handed to the reliable layer, reassembled and
 * delivered; acks and pongs go back. A frame that fails to decode or open never reaches the
 * reliable layer.
 */
import { ErrorCode, RtcAgentError } from '../errors.js';
import { FrameFlag, FrameKind, decodeBundle, decodeFrame, encodeFrame, type DataFrame, type Frame, type NackFrame } from '../protocol/frames.js';
import { ACK_EVERY_FRAMES, DEFAULT_ACK_DELAY_MS } from './constants.js';
import type { EngineLogger } from './log.js';
import { decodeMessageInto } from './message-codec.js';
import { isDropped, isPromise, type Dropped, type PeerE2ee } from './peer-e2ee.js';
import { unref } from './timers.js';
import type { LinkChannel, LinkPath } from './peer-link.js';
import type { PeerSink } from './peer-session.js';
import type { AssembledMessage, MessageAssembler, ReliableReceiver } from './reliable.js';
import type { ReceivedMessage } from './types.js';

/** NACKs go out at most this often per reason: the sender learns it once, and resends anyway. */
const NACK_INTERVAL_MS = 1_000;

/** What the receiving half needs from its session. */
export interface InboundHost {
  readonly peerId: string;
  readonly room: string;
  name(): string;
  live(): boolean;
  /** Anything arrived: the peer is alive. */
  heard(): void;
  /** The peer refused one of our frames (a NACK; not authenticated, see frames.ts). */
  refused(nack: NackFrame): void;
  /**
   * A cumulative ack for the sending half. An ACK frame names the sequence space it acks (`epoch`,
   * ignored when it is not ours); an ack piggybacked on DATA has none.
   */
  acked(ack: number, epoch?: number): void;
  transmit(bytes: Uint8Array, channel: LinkChannel): boolean;
  sink: PeerSink;
  counters: { bytesReceived: number; messagesReceived: number };
}

export class PeerInbound {
  private framesSinceAck = 0;
  private ackTimer: ReturnType<typeof setTimeout> | null = null;
  /** When the oldest DATA frame not yet answered by an ack arrived (ms); null: none owed. */
  private ackOwedSince: number | null = null;
  /** Sealed DATA frames being opened asynchronously: later ones wait, to reach the reliable layer in order. */
  private openChain: Promise<void> | null = null;
  private rtt: number | undefined;
  /** The epoch whose id prefix (`hex-`) is made, and the prefix: made once per epoch, not per message. */
  private idEpoch: number | undefined;
  private idPrefix = '';

  constructor(
    private readonly host: InboundHost,
    private readonly receiver: ReliableReceiver,
    private readonly assembler: MessageAssembler,
    private readonly e2ee: PeerE2ee,
    private readonly log: EngineLogger,
  ) {}

  get rttMs(): number | undefined {
    return this.rtt;
  }

  /** Our cumulative ack of the peer's frames, to piggyback on DATA we send. */
  get cumulativeAck(): number {
    return this.receiver.cumulativeAck;
  }

  /**
   * DATA we sent carried our cumulative ack: no separate ACK needed for it — unless acks must be
   * authenticated (E2EE), since the peer then believes only sealed ACK frames.
   */
  piggybacked(): void {
    if (this.e2ee.enabled || !this.receiver.ackDue) return;
    this.receiver.markAcked();
    // The pending ACK would only repeat what that DATA said: a request/response exchange then
    // costs no ACK frame per message. The timer is left to run and finds nothing owed: clearing
    // and re-arming it for every message cost more than the rest of the ack logic.
    this.framesSinceAck = 0;
    this.ackOwedSince = null;
  }

  /** A relayed bundle of frames from the hub. */
  onRelayed(bundle: Uint8Array): void {
    let frames: Uint8Array[];
    try {
      frames = decodeBundle(bundle);
    } catch (err) {
      this.host.sink.error(err as RtcAgentError);
      return;
    }
    for (const f of frames) this.onFrame(f, 'relay', 'reliable');
  }

  onFrame(bytes: Uint8Array, path: LinkPath, channel: LinkChannel): void {
    if (!this.host.live()) return;
    let frame: Frame;
    try {
      frame = decodeFrame(bytes);
    } catch (err) {
      this.log.debug({ err: (err as Error).message, path }, 'dropped a bad frame');
      this.host.sink.error(err as RtcAgentError);
      return;
    }
    this.host.heard();
    switch (frame.kind) {
      case FrameKind.Data:
        this.onDataFrame(frame, path);
        return;
      case FrameKind.Unreliable: {
        const opened = this.e2ee.open(frame);
        const deliver = (payload: Uint8Array | Dropped): void => {
          if (!isDropped(payload) && this.host.live()) this.emitMessage({ flags: frame.flags, payload, timestamp: frame.timestamp, firstSeq: 0 }, path, false);
        };
        if (isPromise(opened)) void opened.then(deliver);
        else deliver(opened);
        return;
      }
      case FrameKind.Ack: {
        const trusted = this.e2ee.trustAck(frame);
        const apply = (ok: boolean): void => {
          if (ok && this.host.live()) this.host.acked(frame.ack, frame.epoch);
          else if (!ok) this.log.debug({ ack: frame.ack, sealed: frame.auth !== undefined }, 'ack not authenticated; ignored');
        };
        if (isPromise(trusted)) void trusted.then(apply);
        else apply(trusted);
        return;
      }
      case FrameKind.Nack:
        this.host.refused(frame);
        return;
      case FrameKind.Ping:
        this.host.transmit(encodeFrame({ kind: FrameKind.Pong, nonce: frame.nonce, timestamp: frame.timestamp }), channel === 'reliable' && path === 'p2p' ? 'reliable' : 'unreliable');
        return;
      case FrameKind.Pong:
        this.rtt = Math.max(0, Date.now() - frame.timestamp);
        return;
    }
  }

  /** Opens (if sealed) and hands a DATA frame to the reliable layer, in arrival order. */
  private onDataFrame(frame: DataFrame, path: LinkPath): void {
    if (this.openChain) {
      const chain = this.openChain.then(() => this.openAndAccept(frame, path));
      this.openChain = chain;
      void chain.then(() => {
        if (this.openChain === chain) this.openChain = null;
      });
      return;
    }
    const done = this.openAndAccept(frame, path);
    if (done) {
      this.openChain = done;
      void done.then(() => {
        if (this.openChain === done) this.openChain = null;
      });
    }
  }

  private openAndAccept(frame: DataFrame, path: LinkPath): Promise<void> | undefined {
    const opened = this.e2ee.open(frame);
    if (!isPromise(opened)) {
      if (isDropped(opened)) this.nack(frame, opened);
      else this.onData(opened === frame.payload ? frame : { ...frame, payload: opened }, path);
      return undefined;
    }
    return opened.then((payload) => {
      if (!this.host.live()) return;
      if (isDropped(payload)) this.nack(frame, payload);
      else this.onData({ ...frame, payload }, path);
    });
  }

  /**
   * Tells the sender, end to end, that we refused its frame (and why), so it can report it rather
   * than resend into silence. At most one per reason per {@link NACK_INTERVAL_MS}: the sender resends.
   */
  private nack(frame: DataFrame, dropped: Dropped): void {
    const now = Date.now();
    if (now - (this.lastNackAt.get(dropped.reason) ?? Number.NEGATIVE_INFINITY) < NACK_INTERVAL_MS) return;
    this.lastNackAt.set(dropped.reason, now);
    this.host.transmit(encodeFrame({ kind: FrameKind.Nack, epoch: frame.epoch, seq: frame.seq, reason: dropped.reason }), 'reliable');
  }

  private readonly lastNackAt = new Map<number, number>();

  private onData(frame: DataFrame, path: LinkPath): void {
    // With E2EE only sealed ACK frames count (the DATA header's ack is not authenticated).
    if (frame.ack > 0 && !this.e2ee.enabled) this.host.acked(frame.ack);
    // null: the frame was the next one expected, to be delivered alone (nothing allocated for it).
    let deliver: DataFrame[] | null = null;
    if (!this.receiver.acceptNext(frame)) {
      const accepted = this.receiver.accept(frame);
      if (accepted.reset) {
        // Chunks of a message from the old sequence space must not be joined to the new one's.
        this.assembler.reset();
        this.log.info('peer restarted its sequence (new epoch)');
      }
      deliver = accepted.deliver;
    }
    // Owed before delivery, so that a reply sent from the message handler settles it by piggyback;
    // owed even for a duplicate: the peer resent because our ack was lost, and a new one heals it.
    this.framesSinceAck++;
    this.ackOwedSince ??= Date.now();
    if (deliver === null) this.deliver(frame, path);
    else for (const f of deliver) this.deliver(f, path);
    if (this.ackOwedSince === null || !this.host.live()) return;
    if (this.framesSinceAck >= ACK_EVERY_FRAMES) this.sendAck();
    else if (!this.ackTimer) this.armAckTimer(DEFAULT_ACK_DELAY_MS);
  }

  /** One in-order frame to the assembler, and the message it completes (if any) to the application. */
  private deliver(frame: DataFrame, path: LinkPath): void {
    let message: AssembledMessage | undefined;
    try {
      message = this.assembler.add(frame);
    } catch (err) {
      this.host.sink.error(new RtcAgentError(ErrorCode.MESSAGE_TOO_LARGE, `peer ${this.host.peerId}: ${(err as Error).message}`));
      return;
    }
    if (message) this.emitMessage(message, path, true);
  }

  private armAckTimer(ms: number): void {
    this.ackTimer = setTimeout(() => this.onAckTimer(), ms);
    unref(this.ackTimer);
  }

  /** The delayed ACK: sent unless a piggybacked ack said it meanwhile; waits again for a younger debt. */
  private onAckTimer(): void {
    this.ackTimer = null;
    if (this.ackOwedSince === null || !this.host.live()) return;
    const left = this.ackOwedSince + DEFAULT_ACK_DELAY_MS - Date.now();
    if (left > 1) this.armAckTimer(left);
    else this.sendAck();
  }

  private sendAck(): void {
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = null;
    this.framesSinceAck = 0;
    this.ackOwedSince = null;
    const epoch = this.receiver.peerEpoch;
    if (epoch === undefined || !this.host.live()) return;
    // Acks are tiny and idempotent: send them even when nothing new, it heals a lost one.
    const ack = this.receiver.cumulativeAck;
    this.receiver.markAcked();
    const auth = this.e2ee.sealAck(epoch, ack);
    if (auth === null) {
      this.host.transmit(encodeFrame({ kind: FrameKind.Ack, epoch, ack }), 'reliable');
      return;
    }
    const send = (bytes: Uint8Array): void => {
      if (this.host.live()) this.host.transmit(encodeFrame({ kind: FrameKind.Ack, epoch, ack, auth: bytes }), 'reliable');
    };
    if (isPromise(auth)) auth.then(send, () => undefined);
    else send(auth);
  }

  private emitMessage(m: AssembledMessage, path: LinkPath, reliable: boolean): void {
    this.host.counters.messagesReceived++;
    this.host.counters.bytesReceived += m.payload.length;
    const message: ReceivedMessage = {
      id: reliable ? this.reliableId(m.firstSeq) : `u-${m.timestamp}-${Math.random().toString(36).slice(2, 8)}`,
      room: this.host.room,
      from: this.host.peerId,
      name: this.host.name(),
      timestamp: m.timestamp,
      kind: 'binary',
      data: m.payload,
      path,
      reliable,
      encrypted: (m.flags & FrameFlag.Encrypted) !== 0,
    };
    // Bytes are the message as they are; text and JSON are decoded into it (no object in between).
    if (m.flags & (FrameFlag.Text | FrameFlag.Json)) {
      try {
        decodeMessageInto(message, m.flags, m.payload);
      } catch {
        this.host.sink.error(new RtcAgentError(ErrorCode.PROTOCOL, `peer ${this.host.peerId} sent invalid JSON`));
        return;
      }
    }
    if (m.flags & FrameFlag.System) this.host.sink.system(message);
    else this.host.sink.message(message);
  }

  /** A reliable message's id, `epoch-seq` (hex epoch): stable across resends, unique per peer. */
  private reliableId(firstSeq: number): string {
    const epoch = this.receiver.peerEpoch ?? 0;
    if (epoch !== this.idEpoch) {
      this.idEpoch = epoch;
      this.idPrefix = `${epoch.toString(16)}-`;
    }
    return this.idPrefix + firstSeq;
  }

  /** Stops the ack timer (the session closed). */
  close(): void {
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = null;
  }
}
