/**
 * Everything about one remote peer in one room: its P2P link (negotiation, ICE timeout, retry
 * with backoff), the path in use (p2p, else relay), reliable delivery across path switches,
 * heartbeats and RTT. Messages to a peer whose P2P link is still connecting go over the relay at
 * once; the session upgrades to P2P when the link opens and falls back when it fails.
 */
import { randomBytes } from 'node:crypto';
import { ErrorCode, RtcAgentError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import {
  FrameFlag,
  FrameKind,
  decodeBundle,
  decodeFrame,
  encodeFrame,
  DATA_HEADER_BYTES,
  type DataFrame,
  type Frame,
} from '../protocol/frames.js';
import type { Participant, SignalPayload } from '../protocol/room-contract.js';
import { DATA_SEAL_OVERHEAD_BYTES, peerE2eeKeys, type E2eeSession, type PeerCipher, type RoomKey } from '../crypto/index.js';
import type { AvailableNativeBinding } from '../transport/native/index.js';
import { NativeLink } from '../transport/native/index.js';
import type { LinkChannel, LinkPath } from '../transport/peer-link.js';
import { RelayOutbox } from '../transport/relay/relay-outbox.js';
import { MessageAssembler, ReliableReceiver, ReliableSender, chunk, type AssembledMessage } from './reliable.js';

/**
 * Largest frame (header and E2EE seal included). 32 KiB: a 16 KiB application message still fits
 * one frame (half the per-frame costs of 16 KiB frames), every WebRTC stack accepts it (the SDP
 * default max-message-size is 64 KiB, browsers allow 256 KiB), and it fits one hub relay message.
 */
export const DEFAULT_CHUNK_BYTES = 32 * 1024;
/**
 * Bytes queued in the P2P DataChannel above which send() waits for it to drain (to the link's low
 * threshold): keeps acks, pings and chat from queueing behind seconds of bulk data.
 */
export const DEFAULT_P2P_BUFFERED_HIGH_BYTES = 1024 * 1024;
/** Unacked bytes per peer above which send() waits: keeps ~1 s of relay traffic in flight. */
export const DEFAULT_SEND_WINDOW_BYTES = 4 * 1024 * 1024;
/** Largest message an agent accepts from a peer (reassembled). */
export const DEFAULT_MAX_INCOMING_MESSAGE_BYTES = 64 * 1024 * 1024;
/** Acks go out after this many frames or this long, whichever comes first. */
const ACK_EVERY_FRAMES = 16;
const ACK_DELAY_MS = 20;
/** Resend an unacked frame after this long on the relay path (the hub may lose it on restart). */
export const DEFAULT_RELAY_RESEND_MS = 2_000;
/** On P2P the DataChannel is reliable; resend only if it silently stalls this long. */
export const DEFAULT_P2P_RESEND_MS = 5_000;
/** First P2P retry delay after a failure; doubles up to the cap. */
export const DEFAULT_P2P_RETRY_BASE_MS = 1_000;
export const DEFAULT_P2P_RETRY_MAX_MS = 60_000;

export type PeerPath = LinkPath | 'none';

export interface ReceivedMessage {
  /** Unique per sender: `<epoch hex>-<seq of the first chunk>`, or `u-…` for unreliable ones. */
  id: string;
  room: string;
  from: string;
  name: string;
  /** Sender's clock, ms since the epoch. */
  timestamp: number;
  kind: 'text' | 'json' | 'binary';
  /** What was sent: a string, the parsed JSON value, or bytes. */
  data: unknown;
  /** The text, for text and JSON messages. */
  text?: string;
  path: LinkPath;
  reliable: boolean;
  encrypted: boolean;
}

/** Sequence numbers, unacked frames and partial messages: what must outlive a dropped session. */
export interface DeliveryState {
  sender: ReliableSender;
  receiver: ReliableReceiver;
  assembler: MessageAssembler;
}

export interface PeerInfo {
  peerId: string;
  name: string;
  userId: string | null;
  /** The peer can do P2P at all (its native binding loaded). */
  native: boolean;
  path: PeerPath;
  p2p: 'none' | 'connecting' | 'open' | 'waiting-retry';
  rttMs: number | undefined;
  unackedBytes: number;
  lastHeardMs: number;
  /** Application payload bytes and messages, both directions, whatever the path. */
  bytesSent: number;
  bytesReceived: number;
  messagesSent: number;
  messagesReceived: number;
  /** P2P attempts that did not open or failed later (each one a fallback to relay). */
  p2pFailures: number;
  /** The peer's E2EE identity fingerprint, when it announced one. */
  fingerprint: string | undefined;
  /** Messages to and from this peer are sealed end to end. */
  e2ee: boolean;
  /** The selected ICE candidate pair of the open P2P link: `host`, `srflx`, `prflx` or `relay` (TURN). */
  candidates: { local: string; remote: string } | undefined;
}

/** What the room gives each peer session. */
export interface PeerEnv {
  room: string;
  selfId: string;
  log: Logger;
  native: AvailableNativeBinding | null;
  /** Set when this agent does E2EE: every payload to and from the peer is sealed end to end. */
  e2ee: { session: E2eeSession; roomKey: RoomKey | undefined } | undefined;
  /** A peer's E2EE identity became known (trust on first use is the agent's business). */
  peerKey(participant: Participant, fingerprint: string): void;
  allowRelay: boolean;
  iceServers: { urls: string | string[]; username?: string; credential?: string }[];
  iceBindAddress: string | undefined;
  icePortRange: { begin: number; end: number } | undefined;
  iceTransportPolicy: 'all' | 'relay';
  iceConnectionTimeoutMs: number;
  relayBundleBytes: () => number;
  hubSignal(to: string, signal: SignalPayload): Promise<void>;
  hubRelay(to: string, payloadBase64: string): Promise<void>;
  hubConnected(): boolean;
  deliver(message: ReceivedMessage): void;
  /** Messages with the System flag (file transfer) go here instead of to the application. */
  deliverSystem(message: ReceivedMessage): void;
  pathChanged(peerId: string, from: PeerPath, to: PeerPath, reason: string): void;
  error(err: RtcAgentError): void;
}

function newSessionId(): string {
  return randomBytes(6).toString('base64url');
}

export class PeerSession {
  participant: Participant;
  private link: NativeLink | null = null;
  private linkOpen = false;
  private iceTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryAttempt = 0;
  private pathValue: PeerPath = 'none';
  private readonly sender: ReliableSender;
  private readonly receiver: ReliableReceiver;
  private readonly assembler: MessageAssembler;
  private readonly relay: RelayOutbox;
  private framesSinceAck = 0;
  private ackTimer: NodeJS.Timeout | null = null;
  private writableWaiters: (() => void)[] = [];
  private pathWaiters: (() => void)[] = [];
  private lastHeard = Date.now();
  private pingNonce = 0;
  private lastPingAt = 0;
  private rtt: number | undefined;
  private closed = false;
  private readonly log: Logger;
  private readonly counters = { bytesSent: 0, bytesReceived: 0, messagesSent: 0, messagesReceived: 0, p2pFailures: 0 };
  private cipher: PeerCipher | null = null;
  private plaintextWarned = false;
  /**
   * This session's sequence space. Random per delivery state, so a peer that meets us again after
   * our state was dropped can tell the numbering restarted (and late frames of the old one are ignored).
   */
  readonly epoch: number;

  constructor(
    participant: Participant,
    private readonly env: PeerEnv,
    /** Delivery state kept from an earlier session with the same peer (it lost the hub and came back). */
    resumed?: DeliveryState,
  ) {
    this.participant = participant;
    this.log = env.log.child({ peer: participant.peerId });
    this.epoch = resumed?.sender.epoch ?? randomBytes(4).readUInt32BE(0);
    this.sender = resumed?.sender ?? new ReliableSender(this.epoch);
    this.receiver = resumed?.receiver ?? new ReliableReceiver();
    this.assembler = resumed?.assembler ?? new MessageAssembler(DEFAULT_MAX_INCOMING_MESSAGE_BYTES);
    if (resumed) this.log.debug({ unacked: this.sender.unackedCount }, 'resuming delivery state');
    this.setupCipher();
    this.relay = new RelayOutbox(
      (payload) => env.hubRelay(participant.peerId, payload),
      env.relayBundleBytes(),
      (err) => this.log.debug({ err: (err as Error).message }, 'relay send failed; the resend timer will retry'),
    );
    this.updatePath('joined');
    this.maybeStartP2P();
  }

  get peerId(): string {
    return this.participant.peerId;
  }

  get hasOpenP2P(): boolean {
    return this.linkOpen;
  }

  get path(): PeerPath {
    return this.pathValue;
  }

  /** We offer; the other side answers. Deterministic, so a pair negotiates exactly once. */
  private get isOfferer(): boolean {
    return this.env.selfId < this.participant.peerId;
  }

  private get p2pPossible(): boolean {
    return this.env.native !== null && this.participant.capabilities.native === true && !this.closed;
  }

  info(): PeerInfo {
    return {
      peerId: this.peerId,
      name: this.participant.name,
      userId: this.participant.userId,
      native: this.participant.capabilities.native === true,
      path: this.pathValue,
      p2p: this.linkOpen ? 'open' : this.link ? 'connecting' : this.retryTimer ? 'waiting-retry' : 'none',
      rttMs: this.rtt,
      unackedBytes: this.sender.unackedBytes,
      lastHeardMs: Date.now() - this.lastHeard,
      ...this.counters,
      fingerprint: this.cipher?.peerFingerprint,
      e2ee: this.cipher !== null,
      candidates: this.selectedCandidates(),
    };
  }

  private selectedCandidates(): { local: string; remote: string } | undefined {
    if (!this.linkOpen || !this.link) return undefined;
    const stats = this.link.stats();
    return stats.localCandidateType && stats.remoteCandidateType ? { local: stats.localCandidateType, remote: stats.remoteCandidateType } : undefined;
  }

  /** Derives the pairwise E2EE cipher from the peer's announced keys (none if either side lacks E2EE). */
  private setupCipher(): void {
    const e2ee = this.env.e2ee;
    if (!e2ee) return;
    try {
      const keys = peerE2eeKeys(this.participant.capabilities);
      if (!keys) {
        this.cipher = null;
        return;
      }
      this.cipher = e2ee.session.cipherFor({ room: this.env.room, roomKey: e2ee.roomKey, selfId: this.env.selfId, peerId: this.peerId, peerKeys: keys });
      this.env.peerKey(this.participant, this.cipher.peerFingerprint);
    } catch (err) {
      this.cipher = null;
      this.env.error(err as RtcAgentError);
    }
  }

  /** The peer re-announced itself (rejoin, capabilities changed). */
  update(participant: Participant): void {
    const wasNative = this.participant.capabilities.native === true;
    const oldKeys = JSON.stringify([this.participant.capabilities.e2eePublicKey, this.participant.capabilities.e2eeSessionKey]);
    this.participant = participant;
    if (oldKeys !== JSON.stringify([participant.capabilities.e2eePublicKey, participant.capabilities.e2eeSessionKey])) this.setupCipher();
    if (!wasNative && participant.capabilities.native === true) this.maybeStartP2P();
  }

  // ------------------------------------------------------------------ P2P

  private maybeStartP2P(): void {
    if (!this.p2pPossible || !this.isOfferer || this.link || this.retryTimer) return;
    this.openLink('offerer', newSessionId());
  }

  private openLink(role: 'offerer' | 'answerer', sessionId: string): NativeLink | null {
    const native = this.env.native;
    if (!native || !native.available) return null;
    let link: NativeLink;
    try {
      link = new NativeLink({
        binding: native,
        role,
        sessionId,
        iceServers: this.env.iceServers,
        bindAddress: this.env.iceBindAddress,
        portRange: this.env.icePortRange,
        iceTransportPolicy: this.env.iceTransportPolicy,
        log: this.log,
      });
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not create a peer connection; staying on relay');
      this.scheduleRetry();
      return null;
    }
    this.link = link;
    this.linkOpen = false;
    link.on('signal', (signal) => {
      this.env.hubSignal(this.peerId, signal).catch((err: unknown) => this.log.debug({ err: (err as Error).message }, 'signal not sent'));
    });
    link.on('open', () => {
      if (this.link !== link) return;
      this.clearIceTimer();
      this.linkOpen = true;
      this.retryAttempt = 0;
      this.log.info({ role }, 'P2P link open');
      this.updatePath('p2p link opened');
      this.lastPingAt = Date.now();
      this.sendPing(this.lastPingAt);
    });
    link.on('message', (data, channel) => this.onFrameBytes(data, 'p2p', channel));
    link.on('bufferedLow', () => this.releaseWriters());
    link.on('close', (reason) => {
      if (this.link !== link) return;
      const wasOpen = this.linkOpen;
      this.link = null;
      this.linkOpen = false;
      this.clearIceTimer();
      this.log.info({ reason, wasOpen }, 'P2P link closed');
      this.counters.p2pFailures++;
      this.updatePath(wasOpen ? `p2p link failed: ${reason}` : `p2p link did not open: ${reason}`);
      if (this.closed) return;
      if (this.isOfferer) this.scheduleRetry();
      else if (wasOpen) this.env.hubSignal(this.peerId, { type: 'restart' }).catch(() => undefined);
    });
    this.iceTimer = setTimeout(() => {
      this.iceTimer = null;
      if (this.link === link && !this.linkOpen) {
        this.log.info({ timeoutMs: this.env.iceConnectionTimeoutMs }, 'P2P link did not open in time; using relay');
        link.close();
      }
    }, this.env.iceConnectionTimeoutMs);
    this.iceTimer.unref();
    if (role === 'offerer') {
      try {
        link.start();
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'could not start P2P negotiation');
        link.close();
      }
    }
    return link;
  }

  private clearIceTimer(): void {
    if (this.iceTimer) clearTimeout(this.iceTimer);
    this.iceTimer = null;
  }

  private scheduleRetry(): void {
    if (this.closed || this.retryTimer || !this.p2pPossible) return;
    const delay = Math.min(DEFAULT_P2P_RETRY_MAX_MS, DEFAULT_P2P_RETRY_BASE_MS * 2 ** this.retryAttempt);
    this.retryAttempt++;
    this.log.debug({ delay, attempt: this.retryAttempt }, 'P2P retry scheduled');
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.maybeStartP2P();
    }, delay);
    this.retryTimer.unref();
  }

  /**
   * Drops the current P2P link (traffic moves to the relay at once) and negotiates a new one now.
   * For an operator who suspects a bad path, and for tests of path switching.
   */
  restartP2P(): void {
    if (this.closed || !this.p2pPossible) return;
    this.dropLink('p2p restart requested');
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.retryAttempt = 0;
    if (this.isOfferer) this.maybeStartP2P();
    else this.env.hubSignal(this.peerId, { type: 'restart' }).catch(() => undefined);
  }

  /**
   * This session re-admits a peer we had given up on. The peer may still hold the P2P link we closed
   * (it was frozen, it did not see us go): as the offerer, our fresh session offers anew anyway; as
   * the answerer, ask the offerer for a new negotiation.
   */
  resumed(): void {
    if (this.closed || !this.p2pPossible || this.isOfferer) return;
    this.env.hubSignal(this.peerId, { type: 'restart' }).catch(() => undefined);
  }

  /** Detaches the current link before closing it, so its close event triggers no retry or restart. */
  private dropLink(reason: string): void {
    const old = this.link;
    if (!old) return;
    this.link = null;
    this.linkOpen = false;
    this.clearIceTimer();
    old.close();
    this.updatePath(reason);
  }

  handleSignal(signal: SignalPayload): void {
    if (this.closed) return;
    // The hub only relays signals of members: whatever it is, the peer is alive.
    this.lastHeard = Date.now();
    switch (signal.type) {
      case 'probe':
        this.env.hubSignal(this.peerId, { type: 'probe-ack' }).catch(() => undefined);
        return;
      case 'probe-ack':
        return;
      case 'description':
        if (signal.sdpType === 'offer') {
          if (this.isOfferer && this.link) return; // we are the offerer of this pair; a stray offer is ignored
          if (!this.p2pPossible) return;
          if (!this.link || this.link.sessionId !== signal.sessionId) {
            // A new negotiation replaces the old link quietly (no "restart" back: that would loop).
            this.dropLink('peer started a new negotiation');
            this.openLink('answerer', signal.sessionId ?? newSessionId());
          }
        }
        this.link?.handleSignal(signal);
        return;
      case 'candidate':
        this.link?.handleSignal(signal);
        return;
      case 'restart':
        // The answerer lost a link we may not have noticed yet: negotiate afresh, now. A link still
        // connecting is already the fresh negotiation the answerer will get.
        if (this.isOfferer && !(this.link && !this.linkOpen)) {
          if (this.retryTimer) clearTimeout(this.retryTimer);
          this.retryTimer = null;
          this.retryAttempt = 0;
          this.dropLink('peer asked for a new P2P link');
          this.maybeStartP2P();
        }
        return;
      case 'bye':
        this.dropLink('peer said bye');
        return;
    }
  }

  // ------------------------------------------------------------------ paths

  private updatePath(reason: string): void {
    const next: PeerPath = this.linkOpen ? 'p2p' : this.env.allowRelay ? 'relay' : 'none';
    if (next === this.pathValue) return;
    const previous = this.pathValue;
    this.pathValue = next;
    if (previous !== 'none' || next !== 'relay' || reason !== 'joined') this.env.pathChanged(this.peerId, previous, next, reason);
    if (next !== 'none') {
      for (const w of this.pathWaiters.splice(0)) w();
      this.resendAll();
    }
    this.releaseWriters();
  }

  /** After a hub reconnect: what the relay had in flight may be lost; P2P needs nothing. */
  resendUnacked(): void {
    if (this.closed || this.pathValue !== 'relay') return;
    this.resendAll();
  }

  /** A path switch: everything not yet acked goes again on the new path; the receiver drops copies. */
  private resendAll(): void {
    for (const entry of this.sender.all()) this.transmit(entry.bytes, 'reliable') && (entry.sentAt = Date.now());
  }

  /** Sends frame bytes on the current path; false when there is none. */
  private transmit(bytes: Uint8Array, channel: LinkChannel): boolean {
    if (this.pathValue === 'p2p' && this.link) {
      try {
        this.link.send(channel, bytes);
        return true;
      } catch (err) {
        this.log.debug({ err: (err as Error).message }, 'p2p send failed');
        return false;
      }
    }
    if (this.pathValue === 'relay' && this.env.hubConnected()) {
      this.relay.push(bytes);
      return true;
    }
    return false;
  }

  /** Periodic work from the room's ticker: resend stale frames, ping, detect a dead peer. */
  tick(now: number, heartbeatMs: number): 'alive' | 'dead' {
    // With no path to the peer on our side (hub down, no P2P), silence says nothing about the peer.
    if (this.pathValue !== 'p2p' && !this.env.hubConnected()) this.lastHeard = now;
    const resendAfter = this.pathValue === 'p2p' ? DEFAULT_P2P_RESEND_MS : DEFAULT_RELAY_RESEND_MS;
    for (const entry of this.sender.stale(now - resendAfter)) {
      if (this.transmit(entry.bytes, 'reliable')) entry.sentAt = now;
    }
    if (now - this.lastPingAt >= heartbeatMs) {
      this.lastPingAt = now;
      // No data path (P2P down and relay not allowed): the heartbeat goes as a signal instead.
      if (this.pathValue === 'none') {
        if (this.env.hubConnected()) this.env.hubSignal(this.peerId, { type: 'probe' }).catch(() => undefined);
      } else this.sendPing(now);
    }
    return now - this.lastHeard > heartbeatMs * 3 ? 'dead' : 'alive';
  }

  private sendPing(now: number): void {
    this.pingNonce = (this.pingNonce + 1) >>> 0;
    this.transmit(encodeFrame({ kind: FrameKind.Ping, nonce: this.pingNonce, timestamp: now }), 'unreliable');
  }

  // ------------------------------------------------------------------ sending

  /**
   * Queues a reliable message (chunked) and resolves once it is accepted under the send window.
   * Rejects with SEND_TIMEOUT if no path appears or the window stays full for `timeoutMs`.
   */
  async sendReliable(flags: number, payload: Uint8Array, timeoutMs: number): Promise<void> {
    if (this.closed) throw new RtcAgentError(ErrorCode.CLOSED, `peer ${this.peerId} is gone`);
    const deadline = Date.now() + timeoutMs;
    await this.waitFor(() => this.pathValue !== 'none', this.pathWaiters, deadline, () => `no P2P link to peer ${this.peerId} within ${timeoutMs} ms and relay is disabled`);
    await this.waitFor(() => this.sender.unackedBytes < DEFAULT_SEND_WINDOW_BYTES && !this.p2pCongested(), this.writableWaiters, deadline, () =>
      `${this.sender.unackedBytes} bytes to peer ${this.peerId} still unacknowledged after ${timeoutMs} ms (buffer full)`,
    );
    const cipher = this.requireCipher();
    const now = Date.now();
    this.counters.messagesSent++;
    this.counters.bytesSent += payload.length;
    const room = cipher ? DEFAULT_CHUNK_BYTES - DATA_HEADER_BYTES - DATA_SEAL_OVERHEAD_BYTES : DEFAULT_CHUNK_BYTES - DATA_HEADER_BYTES;
    const pieces = chunk(payload, room);
    const seal = cipher ? (h: { flags: number; epoch: number; seq: number; timestamp: number }, p: Uint8Array) => cipher.sealData(h, p) : undefined;
    const sealedFlag = cipher ? FrameFlag.Encrypted : 0;
    for (let i = 0; i < pieces.length; i++) {
      const more = i < pieces.length - 1 ? FrameFlag.More : 0;
      const entry = this.sender.push(flags | more | sealedFlag, pieces[i] as Uint8Array, now, this.receiver.cumulativeAck, seal);
      if (this.transmit(entry.bytes, 'reliable')) entry.sentAt = now;
    }
    if (this.receiver.ackDue) this.receiver.markAcked(); // the piggybacked ack told the peer
  }

  /**
   * With E2EE on, the cipher for this peer; throws E2EE_PLAINTEXT if the peer cannot do E2EE (we
   * never fall back to plaintext). Without E2EE, null.
   */
  private requireCipher(): PeerCipher | null {
    if (!this.env.e2ee) {
      // A peer that announces E2EE keys drops plaintext; sending it some would only be resent forever.
      if (this.peerRequiresE2ee) {
        throw new RtcAgentError(
          ErrorCode.E2EE_PLAINTEXT,
          `peer ${this.participant.name} (${this.peerId}) requires end-to-end encryption; turn it on (--e2ee) to talk to it`,
        );
      }
      return null;
    }
    if (this.cipher) return this.cipher;
    throw new RtcAgentError(
      ErrorCode.E2EE_PLAINTEXT,
      `peer ${this.participant.name} (${this.peerId}) does not support end-to-end encryption; refusing to send it plaintext`,
    );
  }

  /** The peer does E2EE and so refuses plaintext. */
  get peerRequiresE2ee(): boolean {
    const caps = this.participant.capabilities;
    return typeof caps.e2eePublicKey === 'string' && caps.e2eePublicKey.length > 0;
  }

  /** Messages can go to this peer: both sides do E2EE, or neither does. */
  get canSend(): boolean {
    return this.env.e2ee ? this.cipher !== null : !this.peerRequiresE2ee;
  }

  /** Sends an unreliable message: unordered, no retransmits on P2P, best effort on relay. */
  sendUnreliable(flags: number, payload: Uint8Array): boolean {
    if (this.closed) return false;
    const cipher = this.requireCipher();
    const timestamp = Date.now();
    const header = { flags: flags | (cipher ? FrameFlag.Encrypted : 0), epoch: this.epoch, timestamp };
    const body = cipher ? cipher.sealUnreliable(header, payload) : payload;
    const bytes = encodeFrame({ kind: FrameKind.Unreliable, ...header, payload: body });
    this.counters.messagesSent++;
    this.counters.bytesSent += payload.length;
    return this.transmit(bytes, 'unreliable');
  }

  private async waitFor(ready: () => boolean, waiters: (() => void)[], deadline: number, why: () => string): Promise<void> {
    while (!ready()) {
      if (this.closed) throw new RtcAgentError(ErrorCode.CLOSED, `peer ${this.peerId} is gone`);
      const left = deadline - Date.now();
      if (left <= 0) throw new RtcAgentError(this.pathValue === 'none' ? ErrorCode.SEND_TIMEOUT : ErrorCode.BUFFER_FULL, why());
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The P2P channel has more queued than it should (it releases writers on bufferedLow). */
  private p2pCongested(): boolean {
    if (this.pathValue !== 'p2p' || !this.link) return false;
    try {
      return this.link.bufferedAmount('reliable') > DEFAULT_P2P_BUFFERED_HIGH_BYTES;
    } catch {
      return false;
    }
  }

  private releaseWriters(): void {
    for (const w of this.writableWaiters.splice(0)) w();
  }

  /** Resolves when everything sent so far has been acknowledged (or the timeout passes). */
  async flush(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.sender.unackedCount > 0 && !this.closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(50, Math.max(1, deadline - Date.now())));
        this.writableWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.sender.unackedCount === 0;
  }

  // ------------------------------------------------------------------ receiving

  /** A Relayed payload from the hub: a bundle of frames. */
  onRelayed(payloadBase64: string): void {
    let frames: Uint8Array[];
    try {
      frames = decodeBundle(Buffer.from(payloadBase64, 'base64'));
    } catch (err) {
      this.env.error(err as RtcAgentError);
      return;
    }
    for (const f of frames) this.onFrameBytes(f, 'relay', 'reliable');
  }

  private onFrameBytes(bytes: Uint8Array, path: LinkPath, channel: LinkChannel): void {
    if (this.closed) return;
    let frame: Frame;
    try {
      frame = decodeFrame(bytes);
    } catch (err) {
      this.log.debug({ err: (err as Error).message, path }, 'dropped a bad frame');
      this.env.error(err as RtcAgentError);
      return;
    }
    this.lastHeard = Date.now();
    switch (frame.kind) {
      case FrameKind.Data: {
        const payload = this.openPayload(frame, () => this.cipher?.openData(frame));
        if (payload) this.onData({ ...frame, payload }, path);
        return;
      }
      case FrameKind.Unreliable: {
        const payload = this.openPayload(frame, () => this.cipher?.openUnreliable(frame));
        if (payload) this.emitMessage({ flags: frame.flags, payload, timestamp: frame.timestamp, firstSeq: 0 }, path, false);
        return;
      }
      case FrameKind.Ack:
        if (frame.epoch === this.epoch && this.sender.onAck(frame.ack) > 0) this.releaseWriters();
        return;
      case FrameKind.Ping:
        this.transmit(encodeFrame({ kind: FrameKind.Pong, nonce: frame.nonce, timestamp: frame.timestamp }), channel === 'reliable' && path === 'p2p' ? 'reliable' : 'unreliable');
        return;
      case FrameKind.Pong:
        this.rtt = Math.max(0, Date.now() - frame.timestamp);
        return;
    }
  }

  /**
   * The plaintext of a DATA/UNRELIABLE frame, or undefined if it must be dropped: with E2EE on, a
   * frame that is not sealed, or does not open, never reaches the application (or the reliable
   * layer: a forged frame must not advance sequence numbers).
   */
  private openPayload(frame: { flags: number; payload: Uint8Array }, open: () => Uint8Array | undefined): Uint8Array | undefined {
    const sealed = (frame.flags & FrameFlag.Encrypted) !== 0;
    if (!this.env.e2ee) {
      if (!sealed) return frame.payload;
      if (!this.plaintextWarned) {
        this.plaintextWarned = true;
        this.env.error(new RtcAgentError(ErrorCode.E2EE_PLAINTEXT, `peer ${this.participant.name} sends end-to-end encrypted messages; turn on E2EE (--e2ee) to read them`));
      }
      return undefined;
    }
    if (!sealed) {
      if (!this.plaintextWarned) {
        this.plaintextWarned = true;
        this.env.error(new RtcAgentError(ErrorCode.E2EE_PLAINTEXT, `dropped unencrypted messages from ${this.participant.name}: this agent requires E2EE`));
      }
      return undefined;
    }
    try {
      const plaintext = open();
      if (plaintext === undefined) throw new RtcAgentError(ErrorCode.E2EE_KEY_MISMATCH, `no E2EE keys for ${this.participant.name} to open its message`);
      return plaintext;
    } catch (err) {
      const error = err instanceof RtcAgentError ? err : new RtcAgentError(ErrorCode.E2EE_FORGED, (err as Error).message);
      this.log.warn({ code: error.code, reason: error.message }, 'dropped a frame that failed to open');
      this.env.error(new RtcAgentError(error.code, `from ${this.participant.name}: ${error.message}`));
      return undefined;
    }
  }

  private onData(frame: DataFrame, path: LinkPath): void {
    if (frame.ack > 0 && this.sender.onAck(frame.ack) > 0) this.releaseWriters();
    const { deliver, reset } = this.receiver.accept(frame);
    if (reset) {
      // Chunks of a message from the old sequence space must not be joined to the new one's.
      this.assembler.reset();
      this.log.info('peer restarted its sequence (new epoch)');
    }
    for (const f of deliver) {
      let message: AssembledMessage | undefined;
      try {
        message = this.assembler.add(f);
      } catch (err) {
        this.env.error(new RtcAgentError(ErrorCode.MESSAGE_TOO_LARGE, `peer ${this.peerId}: ${(err as Error).message}`));
        continue;
      }
      if (message) this.emitMessage(message, path, true);
    }
    this.framesSinceAck++;
    if (this.framesSinceAck >= ACK_EVERY_FRAMES) this.sendAck();
    else if (!this.ackTimer) {
      this.ackTimer = setTimeout(() => this.sendAck(), ACK_DELAY_MS);
      this.ackTimer.unref();
    }
  }

  private sendAck(): void {
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = null;
    this.framesSinceAck = 0;
    const epoch = this.receiver.peerEpoch;
    if (epoch === undefined) return;
    // Acks are tiny and idempotent: send them even when nothing new, it heals a lost one.
    this.transmit(encodeFrame({ kind: FrameKind.Ack, epoch, ack: this.receiver.cumulativeAck }), 'reliable');
    this.receiver.markAcked();
  }

  private emitMessage(m: AssembledMessage, path: LinkPath, reliable: boolean): void {
    this.counters.messagesReceived++;
    this.counters.bytesReceived += m.payload.length;
    const isJson = (m.flags & FrameFlag.Json) !== 0;
    const isText = (m.flags & FrameFlag.Text) !== 0;
    let data: unknown = m.payload;
    let text: string | undefined;
    let kind: ReceivedMessage['kind'] = 'binary';
    if (isJson || isText) {
      text = Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength).toString('utf8');
      kind = isJson ? 'json' : 'text';
      data = text;
      if (isJson) {
        try {
          data = JSON.parse(text);
        } catch {
          this.env.error(new RtcAgentError(ErrorCode.PROTOCOL, `peer ${this.peerId} sent invalid JSON`));
          return;
        }
      }
    }
    const message: ReceivedMessage = {
      id: reliable ? `${(this.receiver.peerEpoch ?? 0).toString(16)}-${m.firstSeq}` : `u-${m.timestamp}-${Math.random().toString(36).slice(2, 8)}`,
      room: this.env.room,
      from: this.peerId,
      name: this.participant.name,
      timestamp: m.timestamp,
      kind,
      data,
      path,
      reliable,
      encrypted: (m.flags & FrameFlag.Encrypted) !== 0,
    };
    if (text !== undefined) message.text = text;
    if (m.flags & FrameFlag.System) this.env.deliverSystem(message);
    else this.env.deliver(message);
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
    this.clearIceTimer();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = null;
    this.relay.clear();
    const link = this.link;
    this.link = null;
    this.linkOpen = false;
    link?.close();
    for (const w of this.writableWaiters.splice(0)) w();
    for (const w of this.pathWaiters.splice(0)) w();
    this.log.debug({ reason }, 'peer session closed');
  }
}
