/**
 * One P2P link to one remote peer over native libdatachannel DataChannels: a PeerConnection with
 * two channels, `rtc-agent/reliable` (ordered, reliable) and `rtc-agent/unreliable` (unordered, no
 * retransmits), both created by the offerer. Signals go out as `signal` events and come in through
 * `handleSignal`; the room carries them over the hub. Every node-datachannel behaviour this relies
 * on is written up in native-notes.md, with the test that proves it.
 */
import { EventEmitter } from 'node:events';
import { ErrorCode, RtcAgentError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import type { IceServer, SignalPayload } from '../../protocol/room-contract.js';
import type { LinkChannel, LinkState, PeerLink } from '../../engine/peer-link.js';
import { EarlyMessages } from '../../engine/early-messages.js';
import { DEFAULT_REMOTE_MAX_MESSAGE_SIZE, LINK_LABELS, answerAsDtlsServer, channelOfLabel, parseMaxMessageSize, w3cCandidate } from '../../engine/sdp.js';
import { onNativeCleanup, type AvailableNativeBinding, type NativeDataChannel, type NativePeerConnection, type NativeRtcConfig } from './binding.js';
import { toNativeIceServers } from './ice-servers.js';

export const RELIABLE_LABEL = LINK_LABELS.reliable;
export const UNRELIABLE_LABEL = LINK_LABELS.unreliable;

/**
 * What this side advertises as `a=max-message-size` (and so accepts). 256 KiB is libdatachannel's
 * own default and what browsers' Chromium/Firefox accept; native-notes.md#max-message-size.
 */
export const DEFAULT_LOCAL_MAX_MESSAGE_SIZE = 256 * 1024;

export { DEFAULT_REMOTE_MAX_MESSAGE_SIZE, answerAsDtlsServer, parseMaxMessageSize, w3cCandidate } from '../../engine/sdp.js';

/**
 * `bufferedLow` fires when a channel's send buffer drains to this. 256 KiB keeps SCTP fed while
 * the sender refills (a quarter of the 1 MiB window the native benchmark used at ~55 MB/s, i.e.
 * ~4 ms of data), yet is small enough that a fresh burst cannot queue much memory per link.
 * Measured edge-triggered and reliable (NATIVE-FACTS pitfall 6); native-notes.md#bufferedamountlow.
 */
export const DEFAULT_BUFFERED_LOW_BYTES = 256 * 1024;

export interface NativeLinkEvents {
  /** A description or candidate for the remote peer; send it through the hub. */
  signal: [signal: SignalPayload];
  /** ICE found a working pair; DTLS and SCTP come next. */
  iceConnected: [];
  /** Both channels are open. */
  open: [];
  message: [data: Uint8Array, channel: LinkChannel];
  /** The channel's send buffer drained to the low threshold. */
  bufferedLow: [channel: LinkChannel];
  /** Emitted exactly once, whatever closed the link. */
  close: [reason: string];
}

export interface NativeLinkOptions {
  binding: AvailableNativeBinding;
  role: 'offerer' | 'answerer';
  /** Identifies this negotiation; signals carrying another session id are ignored. */
  sessionId: string;
  iceServers: IceServer[];
  /** Bind ICE to one local address. Loopback needs `127.0.0.1` (native-notes.md#bindaddress-for-loopback). */
  bindAddress?: string;
  portRange?: { begin: number; end: number };
  iceTransportPolicy: 'all' | 'relay';
  /** Advertised local `a=max-message-size`; defaults to {@link DEFAULT_LOCAL_MAX_MESSAGE_SIZE}. */
  maxMessageSize?: number;
  /** Defaults to {@link DEFAULT_BUFFERED_LOW_BYTES}. */
  bufferedLowBytes?: number;
  /**
   * Answerer only: take the DTLS server role (default true; see {@link answerAsDtlsServer}).
   * `false` keeps libdatachannel's default and exists for the test that shows why.
   */
  answerAsDtlsServer?: boolean;
  log: Logger;
}

export interface NativeLinkStats {
  rttMs?: number;
  bytesSent: number;
  bytesReceived: number;
  localCandidateType?: string;
  remoteCandidateType?: string;
}

const CHANNELS: readonly LinkChannel[] = ['reliable', 'unreliable'];


export class NativeLink extends EventEmitter<NativeLinkEvents> implements PeerLink {
  readonly role: 'offerer' | 'answerer';
  readonly sessionId: string;
  readonly localMaxMessageSize: number;

  #state: LinkState = 'connecting';
  #closeReason: string | undefined;
  readonly #log: Logger;
  readonly #pc: NativePeerConnection;
  readonly #bufferedLowBytes: number;
  readonly #answerAsDtlsServer: boolean;
  readonly #channels = new Map<LinkChannel, NativeDataChannel>();
  #started = false;
  #remoteDescriptionSet = false;
  /** Remote candidates that arrived before the remote description (native-notes.md#candidate-before-description). */
  #pendingRemoteCandidates: { candidate: string; mid: string }[] = [];
  /** Local candidates that libdatachannel reported before the local description. */
  #pendingLocalCandidates: { candidate: string; mid: string }[] = [];
  #localDescriptionSent = false;
  #remoteMaxMessageSize = DEFAULT_REMOTE_MAX_MESSAGE_SIZE;
  /** Messages that came on an open channel before the link was open, delivered right after it. */
  readonly #early = new EarlyMessages();
  #lastStats: NativeLinkStats = { bytesSent: 0, bytesReceived: 0 };
  readonly #unregisterCleanup: () => void;

  constructor(options: NativeLinkOptions) {
    super();
    this.role = options.role;
    this.sessionId = options.sessionId;
    this.localMaxMessageSize = options.maxMessageSize ?? DEFAULT_LOCAL_MAX_MESSAGE_SIZE;
    this.#bufferedLowBytes = options.bufferedLowBytes ?? DEFAULT_BUFFERED_LOW_BYTES;
    this.#answerAsDtlsServer = options.answerAsDtlsServer ?? true;
    this.#log = options.log.child({ component: 'native-link', role: options.role, sessionId: options.sessionId });

    const config: NativeRtcConfig = {
      iceServers: toNativeIceServers(options.iceServers),
      iceTransportPolicy: options.iceTransportPolicy,
      maxMessageSize: this.localMaxMessageSize,
    };
    if (options.bindAddress !== undefined) config.bindAddress = options.bindAddress;
    if (options.portRange) {
      config.portRangeBegin = options.portRange.begin;
      config.portRangeEnd = options.portRange.end;
    }
    try {
      this.#pc = new options.binding.api.PeerConnection(`rtc-agent-${options.role}-${options.sessionId}`, config);
    } catch (err) {
      throw new RtcAgentError(ErrorCode.P2P_FAILED, `cannot create a native PeerConnection: ${errorMessage(err)}`, { cause: err });
    }
    this.#unregisterCleanup = onNativeCleanup(() => this.close('native binding cleaned up'));
    // Registering onStateChange also lets the binding free the PC when it reaches `closed`, which is
    // what lets the process exit promptly (native-notes.md#closing-and-exit).
    this.#pc.onStateChange((state) => this.#guard('onStateChange', () => this.#onPeerState(state)));
    this.#pc.onIceStateChange((state) => this.#guard('onIceStateChange', () => this.#onIceState(state)));
    this.#pc.onLocalDescription((sdp, type) => this.#guard('onLocalDescription', () => this.#onLocalDescription(sdp, type)));
    this.#pc.onLocalCandidate((candidate, mid) => this.#guard('onLocalCandidate', () => this.#onLocalCandidate(candidate, mid)));
    this.#pc.onDataChannel((dc) => this.#guard('onDataChannel', () => this.#onRemoteDataChannel(dc)));
  }

  get state(): LinkState {
    return this.#state;
  }

  /** Why the link closed, once it has. */
  get closeReason(): string | undefined {
    return this.#closeReason;
  }

  /**
   * The largest message the remote accepts: its SDP's `a=max-message-size`, 64 KiB when absent
   * (RFC 8841), `Infinity` when it says 0 (no limit). Before the remote description: 64 KiB.
   */
  get remoteMaxMessageSize(): number {
    return this.#remoteMaxMessageSize;
  }

  /**
   * The largest message {@link send} accepts: the smaller of the remote's max-message-size and our
   * own advertised one, because libdatachannel enforces both on send (native-notes.md#max-message-size).
   */
  get maxSendSize(): number {
    return Math.min(this.#remoteMaxMessageSize, this.localMaxMessageSize);
  }

  /** Offerer: creates both channels, which starts negotiation. Answerer: nothing to do. Idempotent. */
  start(): void {
    if (this.#started || this.#state === 'closed') return;
    this.#started = true;
    if (this.role !== 'offerer') return;
    unwrapListenerError(() => {
      try {
        this.#attachChannel('reliable', this.#pc.createDataChannel(RELIABLE_LABEL, {}));
        this.#attachChannel('unreliable', this.#pc.createDataChannel(UNRELIABLE_LABEL, { unordered: true, maxRetransmits: 0 }));
      } catch (err) {
        if (err instanceof ListenerError) throw err;
        this.#fail(`cannot create data channels: ${errorMessage(err)}`);
      }
    });
  }

  /** Applies a signal from the remote peer. Signals of another session, and `restart`/`bye` (the room's business), are ignored. */
  handleSignal(signal: SignalPayload): void {
    if (this.#state === 'closed') return;
    if (signal.type !== 'description' && signal.type !== 'candidate') {
      this.#log.debug({ type: signal.type }, 'signal not for the link; ignored');
      return;
    }
    if (signal.sessionId !== this.sessionId) {
      this.#log.debug({ type: signal.type, got: signal.sessionId }, 'signal of another session; ignored');
      return;
    }
    unwrapListenerError(() => {
      if (signal.type === 'description') this.#applyRemoteDescription(signal.sdp, signal.sdpType);
      else this.#addRemoteCandidate(signal.candidate, signal.mid);
    });
  }

  /**
   * Queues `data` on a channel. Throws `RTC_ERR_LINK_NOT_OPEN` before `open` or after `close`,
   * `RTC_ERR_MESSAGE_TOO_LARGE` above {@link maxSendSize} (the link stays usable).
   */
  send(channel: LinkChannel, data: Uint8Array): void {
    const dc = this.#channels.get(channel);
    if (this.#state !== 'open' || !dc) {
      throw new RtcAgentError(ErrorCode.LINK_NOT_OPEN, `cannot send on the ${channel} channel: the P2P link is ${this.#state}`, {
        details: { channel, state: this.#state },
      });
    }
    const limit = this.maxSendSize;
    if (data.byteLength > limit) {
      const whose = limit === this.localMaxMessageSize && limit < this.#remoteMaxMessageSize ? 'the local' : "the remote peer's";
      throw new RtcAgentError(
        ErrorCode.MESSAGE_TOO_LARGE,
        `a ${data.byteLength}-byte message exceeds ${whose} max-message-size of ${limit} bytes; split it or raise maxMessageSize`,
        { details: { channel, size: data.byteLength, limit } },
      );
    }
    try {
      dc.sendMessageBinary(data);
    } catch (err) {
      throw new RtcAgentError(ErrorCode.P2P_FAILED, `send on the ${channel} channel failed: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** Bytes queued on the channel and not yet handed to SCTP; 0 when there is no open channel. */
  bufferedAmount(channel: LinkChannel): number {
    const dc = this.#channels.get(channel);
    if (!dc || this.#state === 'closed') return 0;
    try {
      return dc.bufferedAmount();
    } catch {
      return 0;
    }
  }

  /** What libdatachannel reports; after close, the last figures taken before closing. */
  stats(): NativeLinkStats {
    if (this.#state === 'closed') return { ...this.#lastStats };
    const stats: NativeLinkStats = { bytesSent: 0, bytesReceived: 0 };
    try {
      stats.bytesSent = this.#pc.bytesSent();
      stats.bytesReceived = this.#pc.bytesReceived();
      const rtt = this.#pc.rtt();
      if (rtt >= 0) stats.rttMs = rtt;
      const pair = this.#pc.getSelectedCandidatePair();
      if (pair) {
        stats.localCandidateType = pair.local.type;
        stats.remoteCandidateType = pair.remote.type;
      }
    } catch (err) {
      this.#log.debug({ err: errorMessage(err) }, 'stats unavailable');
    }
    this.#lastStats = stats;
    return { ...stats };
  }

  /** Closes both channels and the PeerConnection. Idempotent; `close` is emitted once. */
  close(reason = 'closed locally'): void {
    unwrapListenerError(() => this.#close(reason));
  }

  // -- native callbacks ------------------------------------------------------------------------

  /**
   * Runs a native callback's body. Anything thrown inside a node-datachannel callback aborts the
   * process with SIGABRT instead of reaching `uncaughtException` (native-notes.md#candidate-before-description),
   * so native errors are logged, and a listener's own error is rethrown outside the callback.
   */
  #guard(where: string, body: () => void): void {
    try {
      body();
    } catch (err) {
      if (err instanceof ListenerError) {
        setImmediate(() => {
          throw err.cause;
        });
        return;
      }
      this.#log.warn({ err: errorMessage(err), where }, 'error in native callback');
    }
  }

  /** Emits to listeners; a listener's throw is wrapped so #guard can rethrow it safely. */
  #emitSafe<K extends keyof NativeLinkEvents>(event: K, ...args: NativeLinkEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: NativeLinkEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      throw new ListenerError(err);
    }
  }

  #iceConnected = false;

  #onIceState(state: string): void {
    if (this.#iceConnected || this.#state !== 'connecting' || (state !== 'connected' && state !== 'completed')) return;
    this.#iceConnected = true;
    this.#emitSafe('iceConnected');
  }

  #onPeerState(state: string): void {
    this.#log.debug({ state }, 'peer connection state');
    if (state === 'failed') this.#close('ICE/DTLS failed');
    else if (state === 'closed') this.#close('peer connection closed');
  }

  #onLocalDescription(sdp: string, type: string): void {
    if (this.#state === 'closed') return;
    if (type !== 'offer' && type !== 'answer') {
      this.#log.warn({ type }, 'unexpected local description type; not sent');
      return;
    }
    this.#localDescriptionSent = true;
    this.#emitSafe('signal', { type: 'description', sdpType: type, sdp, sessionId: this.sessionId });
    // libdatachannel may report candidates before the description (they are separate native
    // callbacks); send them after it, so a browser peer never sees a candidate first.
    const pending = this.#pendingLocalCandidates;
    this.#pendingLocalCandidates = [];
    for (const c of pending) {
      if (this.state === 'closed') return; // a listener may have closed the link
      this.#emitSafe('signal', { type: 'candidate', candidate: w3cCandidate(c.candidate), mid: c.mid, sessionId: this.sessionId });
    }
  }

  #onLocalCandidate(candidate: string, mid: string): void {
    if (this.#state === 'closed') return;
    if (!this.#localDescriptionSent) {
      this.#pendingLocalCandidates.push({ candidate, mid });
      return;
    }
    this.#emitSafe('signal', { type: 'candidate', candidate: w3cCandidate(candidate), mid, sessionId: this.sessionId });
  }

  #onRemoteDataChannel(dc: NativeDataChannel): void {
    let label: string;
    try {
      label = dc.getLabel();
    } catch {
      label = '?';
    }
    const channel = channelOfLabel(label);
    if (this.#state === 'closed' || this.role !== 'answerer' || !channel || this.#channels.has(channel)) {
      this.#log.warn({ label }, 'unexpected data channel from the remote; closed');
      // onClosed before close() so the binding frees the channel promptly (native-notes.md#closing-and-exit).
      dc.onClosed(() => {});
      dc.close();
      return;
    }
    this.#attachChannel(channel, dc);
  }

  #attachChannel(channel: LinkChannel, dc: NativeDataChannel): void {
    this.#channels.set(channel, dc);
    // Registered first: it is what lets the binding release the channel's native callback once it
    // closes; without it the process lingers ~7 s after close (native-notes.md#closing-and-exit).
    dc.onClosed(() => this.#guard('dc.onClosed', () => this.#close(`${channel} channel closed`)));
    dc.onError((err) => this.#guard('dc.onError', () => this.#log.warn({ channel, err }, 'data channel error')));
    dc.onMessage((msg) => this.#guard('dc.onMessage', () => this.#onMessage(channel, msg)));
    dc.setBufferedAmountLowThreshold(this.#bufferedLowBytes);
    dc.onBufferedAmountLow(() =>
      this.#guard('dc.onBufferedAmountLow', () => {
        if (this.#state === 'open') this.#emitSafe('bufferedLow', channel);
      }),
    );
    dc.onOpen(() => this.#guard('dc.onOpen', () => this.#checkOpen()));
    // The answerer's channels arrive already open: onOpen never fires for them
    // (native-notes.md#answerer-channels-arrive-open).
    if (dc.isOpen()) this.#checkOpen();
  }

  #checkOpen(): void {
    if (this.#state !== 'connecting') return;
    for (const channel of CHANNELS) {
      const dc = this.#channels.get(channel);
      if (!dc || !dc.isOpen()) return;
    }
    this.#state = 'open';
    this.#log.debug({ early: this.#early.count }, 'link open');
    try {
      this.#emitSafe('open');
    } finally {
      this.#early.release((data, channel) => {
        if (this.#state !== 'open') return false;
        this.#guard('early message', () => this.#emitSafe('message', data, channel));
        return true;
      });
    }
  }

  #onMessage(channel: LinkChannel, msg: string | Buffer | ArrayBuffer): void {
    if (this.#state === 'closed') return;
    const data =
      typeof msg === 'string' ? Buffer.from(msg, 'utf8') : msg instanceof ArrayBuffer ? new Uint8Array(msg) : msg;
    if (this.#state === 'connecting') {
      // One channel is open and carrying data before the other's open event (early-messages.ts).
      if (!this.#early.hold(data, channel)) this.#fail(this.#early.overflowReason);
      return;
    }
    this.#emitSafe('message', data, channel);
  }

  // -- signalling in ---------------------------------------------------------------------------

  #applyRemoteDescription(sdp: string, sdpType: 'offer' | 'answer'): void {
    const expected = this.role === 'offerer' ? 'answer' : 'offer';
    if (sdpType !== expected) {
      this.#log.warn({ sdpType }, `the ${this.role} expects an ${expected}; description ignored`);
      return;
    }
    if (this.#remoteDescriptionSet) {
      this.#log.warn('second remote description in one session; ignored');
      return;
    }
    try {
      // See answerAsDtlsServer: without it most setups wait ~1 s for a DTLS retransmit.
      this.#pc.setRemoteDescription(sdpType === 'offer' && this.#answerAsDtlsServer ? answerAsDtlsServer(sdp) : sdp, sdpType);
    } catch (err) {
      this.#fail(`remote ${sdpType} rejected: ${errorMessage(err)}`);
      return;
    }
    this.#remoteDescriptionSet = true;
    this.#remoteMaxMessageSize = parseMaxMessageSize(sdp);
    const pending = this.#pendingRemoteCandidates;
    this.#pendingRemoteCandidates = [];
    if (pending.length > 0) this.#log.debug({ count: pending.length }, 'applying queued remote candidates');
    for (const c of pending) this.#addRemoteCandidate(c.candidate, c.mid);
  }

  #addRemoteCandidate(candidate: string, mid: string): void {
    if (!candidate) return; // end-of-candidates
    if (!this.#remoteDescriptionSet) {
      // addRemoteCandidate() before setRemoteDescription() throws, and from a native callback that
      // is a SIGABRT (native-notes.md#candidate-before-description).
      this.#pendingRemoteCandidates.push({ candidate, mid });
      return;
    }
    try {
      this.#pc.addRemoteCandidate(candidate, mid);
    } catch (err) {
      this.#log.debug({ err: errorMessage(err), candidate }, 'remote candidate rejected');
    }
  }

  // -- closing -------------------------------------------------------------------------------

  #fail(reason: string): void {
    this.#log.info({ reason }, 'P2P link failed');
    this.#close(`p2p failed: ${reason}`);
  }

  #close(reason: string): void {
    if (this.#state === 'closed') return;
    this.stats(); // keep the last figures for stats() after close
    this.#state = 'closed';
    this.#unregisterCleanup();
    this.#closeReason = reason;
    this.#pendingRemoteCandidates = [];
    this.#pendingLocalCandidates = [];
    this.#early.clear();
    // Channels first, then the PeerConnection. Every channel already has its onClosed handler
    // (registered in #attachChannel), which is what makes the process exit promptly afterwards.
    for (const dc of this.#channels.values()) {
      try {
        dc.close();
      } catch (err) {
        this.#log.debug({ err: errorMessage(err) }, 'data channel close failed');
      }
    }
    try {
      this.#pc.close();
    } catch (err) {
      this.#log.debug({ err: errorMessage(err) }, 'peer connection close failed');
    }
    this.#log.debug({ reason }, 'link closed');
    this.#emitSafe('close', reason);
  }
}

/** A listener's own exception, carried out of a native callback. */
class ListenerError extends Error {
  constructor(override readonly cause: unknown) {
    super('listener threw');
  }
}

/** Public entry points throw a listener's own error, not the wrapper used inside native callbacks. */
function unwrapListenerError(body: () => void): void {
  try {
    body();
  } catch (err) {
    throw err instanceof ListenerError ? err.cause : err;
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
