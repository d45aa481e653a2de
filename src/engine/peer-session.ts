/**
 * Everything about one remote peer in one room: its P2P link (negotiation, ICE timeout, retry with
 * backoff) as one explicit state machine, the path in use (p2p, else relay), reliable delivery
 * across path switches, heartbeats and RTT. Messages to a peer whose P2P link is still connecting
 * go over the relay at once; the session moves to P2P when the link opens and back when it fails.
 *
 * Platform-neutral: links come from a {@link PeerLinkFactory}, the hub is a {@link RoomSignaling},
 * ciphers come through {@link PeerE2ee}.
 */
import { ErrorCode, RtcAgentError } from '../errors.js';
import { BUNDLE_ENTRY_OVERHEAD_BYTES, DATA_HEADER_BYTES, FrameFlag, FrameKind, NackReason, encodeFrame } from '../protocol/frames.js';
import type { IceServer, Participant, SignalPayload } from '../protocol/room-contract.js';
import { randomUint32 } from './bytes.js';
import {
  DEFAULT_CHUNK_BYTES,
  DEFAULT_MAX_INCOMING_MESSAGE_BYTES,
  DEFAULT_P2P_BUFFERED_HIGH_BYTES,
  DEFAULT_P2P_RESEND_MS,
  DEFAULT_RELAY_RESEND_MS,
  DEFAULT_SEND_WINDOW_BYTES,
  HEARTBEAT_MISSES,
} from './constants.js';
import type { EngineLogger } from './log.js';
import { NACK_MEANING, PeerE2ee, isPromise, type FrameCipher, type RoomE2ee } from './peer-e2ee.js';
import { PeerInbound } from './peer-inbound.js';
import { P2PNegotiator } from './p2p-negotiator.js';
import { BufferedBound } from './buffered-bound.js';
import type { LinkChannel, PeerLinkFactory } from './peer-link.js';
import { p2pView, type P2PState, type PeerPath } from './peer-path.js';
import { MessageAssembler, ReliableReceiver, ReliableSender, chunk, type Unacked } from './reliable.js';
import { RelayOutbox } from './relay-outbox.js';
import type { RoomSignaling } from './signaling.js';
import type { PeerInfo, ReceivedMessage } from './types.js';
import { Waiters } from './waiters.js';

/** Floor for a chunk's payload: a hub whose limit leaves less cannot relay data anyway. */
const MIN_CHUNK_PAYLOAD_BYTES = 256;

/** Sequence numbers, unacked frames and partial messages: what must outlive a dropped session. */
export interface DeliveryState {
  sender: ReliableSender;
  receiver: ReliableReceiver;
  assembler: MessageAssembler;
}

/** Where a session's news goes (its room). */
export interface PeerSink {
  message(message: ReceivedMessage): void;
  /** Messages with the System flag (file transfer), never shown to the application. */
  system(message: ReceivedMessage): void;
  pathChanged(peer: PeerSession, from: PeerPath, to: PeerPath, reason: string): void;
  /** The peer told us, end to end, that it refused what we sent (NACK). */
  refused(peer: PeerSession, code: ErrorCode, reason: string): void;
  error(err: RtcAgentError): void;
}

/** What the room gives each of its peer sessions. */
export interface PeerContext {
  room: string;
  selfId: string;
  log: EngineLogger;
  /** Null when this agent cannot do P2P (no binding, no RTCPeerConnection): every link is relayed. */
  links: PeerLinkFactory | null;
  iceServers: IceServer[];
  allowRelay: boolean;
  iceConnectionTimeoutMs: number;
  hub: RoomSignaling;
  /** Largest relay bundle now (the hub's limit may change on a rejoin). */
  relayBundleBytes(): number;
  /** The agent's E2EE for this room; undefined: off. */
  e2ee: RoomE2ee | undefined;
  /** A peer's E2EE identity became known (trust on first use is the agent's business). */
  peerKey(participant: Participant, fingerprint: string): void;
  sink: PeerSink;
}

const NOOP = (): void => undefined;

export class PeerSession {
  participant: Participant;
  readonly e2ee: PeerE2ee;
  /** This session's sequence space (random, so a peer can tell when our numbering restarted). */
  readonly epoch: number;
  private readonly p2p: P2PNegotiator;
  private pathValue: PeerPath = 'none';
  private readonly sender: ReliableSender;
  private readonly receiver: ReliableReceiver;
  private readonly assembler: MessageAssembler;
  private readonly relay: RelayOutbox;
  /** Woken when the window, the P2P buffer or the path may have changed. */
  private readonly writable = new Waiters();
  private readonly inbound: PeerInbound;
  /** Refusal reasons already reported since the peer last accepted something. */
  private readonly reportedRefusals = new Set<number>();
  private lastHeard = Date.now();
  private pingNonce = 0;
  private lastPingAt = 0;
  private closed = false;
  private readonly log: EngineLogger;
  private readonly counters = { bytesSent: 0, bytesReceived: 0, messagesSent: 0, messagesReceived: 0, p2pFailures: 0 };

  constructor(
    participant: Participant,
    private readonly ctx: PeerContext,
    /** Delivery state kept from an earlier session with the same peer (it vanished and came back). */
    resumed?: DeliveryState,
  ) {
    this.participant = participant;
    this.log = ctx.log.child({ peer: participant.peerId });
    this.epoch = resumed?.sender.epoch ?? randomUint32();
    this.sender = resumed?.sender ?? new ReliableSender(this.epoch);
    this.receiver = resumed?.receiver ?? new ReliableReceiver();
    this.assembler = resumed?.assembler ?? new MessageAssembler(DEFAULT_MAX_INCOMING_MESSAGE_BYTES);
    this.e2ee = new PeerE2ee(ctx.e2ee, participant, (err) => ctx.sink.error(err), (p, fingerprint) => ctx.peerKey(p, fingerprint));
    this.inbound = new PeerInbound(
      {
        peerId: participant.peerId,
        room: ctx.room,
        name: () => this.participant.name,
        live: () => !this.closed,
        heard: () => (this.lastHeard = Date.now()),
        acked: (ack, epoch) => {
          if ((epoch !== undefined && epoch !== this.epoch) || this.sender.onAck(ack) === 0) return;
          this.reportedRefusals.clear(); // it accepts again: a later refusal is news
          this.writable.wake();
        },
        refused: (nack) => {
          if (nack.epoch !== this.epoch || this.reportedRefusals.has(nack.reason)) return;
          this.reportedRefusals.add(nack.reason);
          const meaning = NACK_MEANING[nack.reason as NackReason] ?? NACK_MEANING[NackReason.Unknown];
          this.log.warn({ code: meaning.code, seq: nack.seq }, `peer refused what we sent: ${meaning.reason}`);
          ctx.sink.refused(this, meaning.code, meaning.reason);
        },
        transmit: (bytes, channel) => this.transmit(bytes, channel),
        sink: ctx.sink,
        counters: this.counters,
      },
      this.receiver,
      this.assembler,
      this.e2ee,
      this.log,
    );
    this.relay = new RelayOutbox(
      (bundle) => ctx.hub.relay(this.peerId, bundle),
      () => ctx.relayBundleBytes(),
      (err) => this.log.debug({ err: (err as Error).message }, 'relay send failed; the resend timer will retry'),
    );
    this.p2p = new P2PNegotiator(
      {
        isOfferer: this.isOfferer,
        p2pPossible: () => this.p2pPossible,
        signal: (signal) => ctx.hub.signal(this.peerId, signal).catch((err: unknown) => this.log.debug({ err: (err as Error).message }, 'signal not sent')),
        changed: (reason) => this.updatePath(reason),
        linkOpened: () => {
          this.lastPingAt = Date.now();
          this.sendPing(this.lastPingAt);
        },
        linkFailed: () => this.counters.p2pFailures++,
        message: (data, channel) => this.inbound.onFrame(data, 'p2p', channel),
        bufferedLow: () => this.writable.wake(),
      },
      ctx.links,
      ctx.iceServers,
      ctx.iceConnectionTimeoutMs,
      this.log,
    );
    this.updatePath('joined');
    this.p2p.maybeStart();
  }

  get peerId(): string {
    return this.participant.peerId;
  }

  get path(): PeerPath {
    return this.pathValue;
  }

  get hasOpenP2P(): boolean {
    return this.p2p.state.kind === 'open';
  }

  /** The P2P state machine's current state (for tests and diagnostics). */
  get p2pState(): P2PState['kind'] {
    return this.p2p.state.kind;
  }

  /** The lower peer id offers: deterministic, so a pair negotiates exactly once. */
  get isOfferer(): boolean {
    return this.ctx.selfId < this.participant.peerId;
  }

  private get p2pPossible(): boolean {
    return this.ctx.links !== null && this.participant.capabilities.native === true && !this.closed;
  }

  /** Messages can go to this peer: both sides do E2EE, or neither does. */
  get canSend(): boolean {
    return this.e2ee.canSend;
  }

  info(): PeerInfo {
    const stats = this.p2p.openLink?.stats();
    return {
      peerId: this.peerId,
      name: this.participant.name,
      userId: this.participant.userId,
      native: this.participant.capabilities.native === true,
      path: this.pathValue,
      p2p: p2pView(this.p2p.state),
      rttMs: this.inbound.rttMs,
      unackedBytes: this.sender.unackedBytes,
      lastHeardMs: Date.now() - this.lastHeard,
      ...this.counters,
      fingerprint: this.e2ee.fingerprint,
      e2ee: this.e2ee.state === 'ready',
      e2eeState: this.e2ee.state,
      e2eeDropped: this.e2ee.dropped,
      canSend: this.e2ee.canSend,
      cannotSendReason: this.e2ee.cannotSendReason,
      candidates: stats?.localCandidateType && stats.remoteCandidateType ? { local: stats.localCandidateType, remote: stats.remoteCandidateType } : undefined,
    };
  }

  /** The peer re-announced itself (rejoin, capabilities changed). */
  update(participant: Participant): void {
    const wasNative = this.participant.capabilities.native === true;
    this.participant = participant;
    this.e2ee.update(participant);
    if (!wasNative && participant.capabilities.native === true) this.p2p.becameNative();
  }

  // ------------------------------------------------------------------ the P2P side

  /** The negotiator changed state: the data path follows from it. */
  private updatePath(reason: string): void {
    if (this.closed) {
      this.pathValue = 'none';
      return;
    }
    const next: PeerPath = this.p2p.state.kind === 'open' ? 'p2p' : this.ctx.allowRelay ? 'relay' : 'none';
    if (next === this.pathValue) return;
    const previous = this.pathValue;
    this.pathValue = next;
    // Starting on the relay is how every peer begins: not a change worth announcing.
    if (previous !== 'none' || next !== 'relay' || reason !== 'joined') this.ctx.sink.pathChanged(this, previous, next, reason);
    if (next !== 'none') this.resendAll();
    this.writable.wake();
  }

  /**
   * Drops the current P2P link (traffic moves to the relay at once) and negotiates a new one now.
   * For an operator who suspects a bad path, and for tests of path switching.
   */
  restartP2P(): void {
    if (!this.closed) this.p2p.restart();
  }

  /** This session re-admits a peer we had given up on (see P2PNegotiator.resumed). */
  resumed(): void {
    if (!this.closed) this.p2p.resumed();
  }

  handleSignal(signal: SignalPayload): void {
    if (this.closed) return;
    // The hub only relays signals of members: whatever it is, the peer is alive.
    this.lastHeard = Date.now();
    if (signal.type === 'probe') this.ctx.hub.signal(this.peerId, { type: 'probe-ack' }).catch(() => undefined);
    else if (signal.type !== 'probe-ack') this.p2p.handleSignal(signal);
  }

  // ------------------------------------------------------------------ transmitting

  /** Everything not yet acked goes again on the current path; the receiver drops the copies. */
  private resendAll(): void {
    const now = Date.now();
    for (const entry of this.sender.all()) if (entry.bytes && this.transmit(entry.bytes, 'reliable')) entry.sentAt = now;
  }

  /** After a hub reconnect: what the relay had in flight may be lost; P2P needs nothing. */
  resendUnacked(): void {
    if (!this.closed && this.pathValue === 'relay') this.resendAll();
  }

  /** Sends frame bytes on the current path; false when there is none. */
  private transmit(bytes: Uint8Array, channel: LinkChannel): boolean {
    const link = this.p2p.openLink;
    if (link) {
      try {
        link.send(channel, bytes);
        if (channel === 'reliable') this.buffered.sent(link, bytes.length);
        return true;
      } catch (err) {
        this.log.debug({ err: (err as Error).message }, 'p2p send failed');
        return false;
      }
    }
    if (this.pathValue === 'relay' && this.ctx.hub.connected) {
      this.relay.push(bytes);
      return true;
    }
    return false;
  }

  /** Periodic work from the room's ticker: resend stale frames, ping, detect a dead peer. */
  tick(now: number, heartbeatMs: number): 'alive' | 'dead' {
    // With no path to the peer on our side (hub down, no P2P), silence says nothing about the peer.
    if (this.pathValue !== 'p2p' && !this.ctx.hub.connected) this.lastHeard = now;
    const resendBefore = now - (this.pathValue === 'p2p' ? DEFAULT_P2P_RESEND_MS : DEFAULT_RELAY_RESEND_MS);
    for (const entry of this.sender.stale(resendBefore)) if (entry.bytes && this.transmit(entry.bytes, 'reliable')) entry.sentAt = now;
    if (now - this.lastPingAt >= heartbeatMs) {
      this.lastPingAt = now;
      // No data path (P2P down and relay not allowed): the heartbeat goes as a signal instead.
      if (this.pathValue === 'none') {
        if (this.ctx.hub.connected) this.ctx.hub.signal(this.peerId, { type: 'probe' }).catch(() => undefined);
      } else this.sendPing(now);
    }
    return now - this.lastHeard > heartbeatMs * HEARTBEAT_MISSES ? 'dead' : 'alive';
  }

  private sendPing(now: number): void {
    this.pingNonce = (this.pingNonce + 1) >>> 0;
    this.transmit(encodeFrame({ kind: FrameKind.Ping, nonce: this.pingNonce, timestamp: now }), 'unreliable');
  }

  // ------------------------------------------------------------------ sending

  /**
   * Queues a reliable message (chunked). Returns nothing when it was accepted at once, or a promise
   * that settles once it is accepted under the send window (backpressure). Fails with SEND_TIMEOUT
   * if no path appears, BUFFER_FULL if the window stays full for `timeoutMs`.
   */
  sendReliable(flags: number, payload: Uint8Array, timeoutMs: number): void | Promise<void> {
    if (this.closed) throw new RtcAgentError(ErrorCode.CLOSED, `peer ${this.peerId} is gone`);
    const cipher = this.e2ee.cipherForSending();
    if (this.waitingSends === 0 && !isPromise(cipher) && this.canWrite()) {
      this.enqueue(flags, payload, cipher);
      return;
    }
    // Behind every earlier send still waiting: sends keep their call order (a reply sent from a
    // message handler must not overtake a send that was waiting for the window).
    const deadline = Date.now() + timeoutMs;
    this.waitingSends++;
    const turn = this.sendTail.then(() => this.sendWhenWritable(flags, payload, timeoutMs, deadline, cipher));
    this.sendTail = turn.then(NOOP, NOOP);
    return turn;
  }

  /** Sends that wait (for a path, the window, or the keys), in call order. */
  private waitingSends = 0;
  private sendTail: Promise<void> = Promise.resolve();

  private async sendWhenWritable(
    flags: number,
    payload: Uint8Array,
    timeoutMs: number,
    deadline: number,
    pending: FrameCipher | null | Promise<FrameCipher | null>,
  ): Promise<void> {
    // Counted down as soon as this send is through (not a promise hop later), so the next send
    // may take the fast path at once.
    try {
      const cipher = isPromise(pending) ? await pending : pending;
      while (!this.canWrite()) {
        if (this.closed) throw new RtcAgentError(ErrorCode.CLOSED, `peer ${this.peerId} is gone`);
        const left = deadline - Date.now();
        if (left <= 0) {
          if (this.pathValue === 'none') throw new RtcAgentError(ErrorCode.SEND_TIMEOUT, `no P2P link to peer ${this.peerId} within ${timeoutMs} ms and relay is disabled`);
          throw new RtcAgentError(ErrorCode.BUFFER_FULL, `${this.sender.unackedBytes} bytes to peer ${this.peerId} still unacknowledged after ${timeoutMs} ms (buffer full)`);
        }
        await this.writable.wait(left);
      }
      if (this.closed) throw new RtcAgentError(ErrorCode.CLOSED, `peer ${this.peerId} is gone`);
      this.enqueue(flags, payload, cipher);
    } finally {
      this.waitingSends--;
    }
  }

  private canWrite(): boolean {
    return this.pathValue !== 'none' && this.sender.unackedBytes < DEFAULT_SEND_WINDOW_BYTES && !this.p2pCongested();
  }

  /** Numbers, seals (if E2EE), keeps and transmits the chunks of one message. */
  private enqueue(flags: number, payload: Uint8Array, cipher: FrameCipher | null): void {
    const now = Date.now();
    this.counters.messagesSent++;
    this.counters.bytesSent += payload.length;
    const overhead = cipher ? this.e2ee.overheadBytes : 0;
    // Any frame may have to go over the relay (now, or on a resend after a switch): it must fit
    // one of the hub's Relay invocations, whatever its limit.
    const frameBytes = Math.min(DEFAULT_CHUNK_BYTES, this.ctx.relayBundleBytes() - BUNDLE_ENTRY_OVERHEAD_BYTES);
    const room = Math.max(MIN_CHUNK_PAYLOAD_BYTES, frameBytes - DATA_HEADER_BYTES - overhead);
    const pieces = chunk(payload, room);
    const last = pieces.length - 1;
    for (let i = 0; i <= last; i++) {
      const piece = pieces[i] as Uint8Array;
      const pieceFlags = flags | (i < last ? FrameFlag.More : 0);
      if (!cipher) {
        const entry = this.sender.push(pieceFlags, piece, now, this.inbound.cumulativeAck);
        if (this.transmit(entry.bytes as Uint8Array, 'reliable')) entry.sentAt = now;
        continue;
      }
      const { entry, header } = this.sender.reserve(pieceFlags | FrameFlag.Encrypted, now, DATA_HEADER_BYTES + piece.length + overhead);
      const sealed = cipher.sealDataFrame(header, piece);
      if (isPromise(sealed)) {
        sealed.then(
          (bytes) => {
            this.sender.fill(entry, header, bytes, this.inbound.cumulativeAck);
            this.transmitReady();
          },
          (err: unknown) => this.ctx.sink.error(err instanceof RtcAgentError ? err : new RtcAgentError(ErrorCode.INTERNAL, `sealing failed: ${(err as Error).message}`)),
        );
      } else {
        this.sender.fill(entry, header, sealed, this.inbound.cumulativeAck);
        if (this.transmitInOrder(entry)) entry.sentAt = now;
      }
    }
    this.inbound.piggybacked(); // the piggybacked ack told the peer
  }

  /** Transmits `entry` unless an earlier frame is still being sealed (it then goes with that one). */
  private transmitInOrder(entry: Unacked): boolean {
    return this.sender.inOrder(entry) && this.transmit(entry.bytes as Uint8Array, 'reliable');
  }

  /** Sends, in order, every sealed frame not sent yet, up to the first still being sealed. */
  private transmitReady(): void {
    const now = Date.now();
    for (const e of this.sender.all()) {
      if (e.bytes === null) return;
      if (e.sentAt === 0 && this.transmit(e.bytes, 'reliable')) e.sentAt = now;
    }
  }

  /** Sends an unreliable message: unordered, no retransmits on P2P, best effort on relay. */
  sendUnreliable(flags: number, payload: Uint8Array): void {
    if (this.closed) return;
    const cipher = this.e2ee.cipherForSending();
    if (isPromise(cipher)) return; // keys not derived yet: unreliable means it may be lost
    const timestamp = Date.now();
    const header = { flags: flags | (cipher ? FrameFlag.Encrypted : 0), epoch: this.epoch, timestamp };
    this.counters.messagesSent++;
    this.counters.bytesSent += payload.length;
    const send = (body: Uint8Array): void => {
      this.transmit(encodeFrame({ kind: FrameKind.Unreliable, ...header, payload: body }), 'unreliable');
    };
    if (!cipher) return send(payload);
    const sealed = cipher.sealUnreliable(header, payload);
    if (isPromise(sealed)) sealed.then(send, () => undefined);
    else send(sealed);
  }

  /** The P2P channel has more queued than it should (it wakes writers on bufferedLow). */
  private p2pCongested(): boolean {
    const link = this.p2p.openLink;
    return link !== undefined && this.buffered.above(link, DEFAULT_P2P_BUFFERED_HIGH_BYTES);
  }

  private readonly buffered = new BufferedBound();

  /** Resolves when everything sent so far has been acknowledged (or the timeout passes). */
  async flush(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.sender.unackedCount > 0 && !this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      await this.writable.wait(left);
    }
    return this.sender.unackedCount === 0;
  }

  // ------------------------------------------------------------------ receiving

  /** A relayed bundle of frames from the hub. */
  onRelayed(bundle: Uint8Array): void {
    this.inbound.onRelayed(bundle);
  }

  // ------------------------------------------------------------------ lifecycle

  /** The delivery state, for a later session with the same peer to continue from. */
  get delivery(): DeliveryState {
    return { sender: this.sender, receiver: this.receiver, assembler: this.assembler };
  }

  /** Ends the session (peer left or room closed). Idempotent. */
  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.inbound.close();
    this.relay.clear();
    this.p2p.close(reason);
    this.writable.dispose();
    this.log.debug({ reason }, 'peer session closed');
  }
}
