/**
 * One P2P link to one remote peer over the browser's own RTCPeerConnection: the engine's
 * {@link PeerLink} with the two channels rtc-agent peers use, `rtc-agent/reliable` (ordered,
 * reliable) and `rtc-agent/unreliable` (unordered, no retransmits), both created by the offerer.
 * The browser twin of src/transport/native/native-link.ts; what each side does for the other
 * (DTLS roles, candidate forms, candidates after descriptions) is written up in native-notes.md.
 */
import { EarlyMessages } from '../../engine/early-messages.js';
import { Emitter } from '../../engine/emitter.js';
import type { EngineLogger } from '../../engine/log.js';
import type { LinkChannel, LinkState, PeerLink, PeerLinkEvents, PeerLinkStats } from '../../engine/peer-link.js';
import { ErrorCode, RtcAgentError } from '../../errors.js';
import type { IceServer, SignalPayload } from '../../protocol/room-contract.js';
import { DEFAULT_REMOTE_MAX_MESSAGE_SIZE, LINK_LABELS, answerAsDtlsServer, channelOfLabel } from '../../engine/sdp.js';
import { readLinkStats } from './link-stats.js';

/** The channel labels every rtc-agent peer uses (the offerer creates both). */
export { LINK_LABELS };

/**
 * `bufferedLow` fires when a channel's send buffer drains to this: the native link's 256 KiB, so a
 * browser keeps SCTP fed the same way while the engine refills (native-notes.md#bufferedamountlow).
 */
export const DEFAULT_BROWSER_BUFFERED_LOW_BYTES = 256 * 1024;

/** getStats() is asynchronous and not free: stats() refreshes its snapshot at most this often. */
const STATS_REFRESH_MS = 1_000;

export interface BrowserLinkOptions {
  role: 'offerer' | 'answerer';
  sessionId: string;
  iceServers: IceServer[];
  /** `relay`: TURN only. */
  iceTransportPolicy?: 'all' | 'relay';
  bufferedLowBytes?: number;
  log: EngineLogger;
  /** The RTCPeerConnection class (tests may pass another realm's); the global one by default. */
  peerConnection?: typeof RTCPeerConnection;
}

export class BrowserLink extends Emitter<PeerLinkEvents> implements PeerLink {
  readonly role: 'offerer' | 'answerer';
  readonly sessionId: string;
  #state: LinkState = 'connecting';
  #closeReason: string | undefined;
  readonly #pc: RTCPeerConnection;
  readonly #log: EngineLogger;
  readonly #bufferedLowBytes: number;
  readonly #channels = new Map<LinkChannel, RTCDataChannel>();
  #started = false;
  #iceReported = false;
  #remoteDescriptionSet = false;
  #localDescriptionSent = false;
  /** Remote candidates that came before the remote description (addIceCandidate would reject them). */
  #pendingRemote: { candidate: string; mid: string }[] = [];
  /** Local candidates gathered before the local description went out: a peer must see it first. */
  #pendingLocal: { candidate: string; mid: string }[] = [];
  /** setRemoteDescription and friends are asynchronous: signals are applied one at a time, in order. */
  #work: Promise<void> = Promise.resolve();
  #stats: PeerLinkStats = { bytesSent: 0, bytesReceived: 0 };
  /** Messages that came on an open channel before the link was open, delivered right after it. */
  readonly #early = new EarlyMessages();
  #statsAt = 0;

  constructor(options: BrowserLinkOptions) {
    super();
    this.role = options.role;
    this.sessionId = options.sessionId;
    this.#bufferedLowBytes = options.bufferedLowBytes ?? DEFAULT_BROWSER_BUFFERED_LOW_BYTES;
    this.#log = options.log.child({ component: 'browser-link', role: options.role, sessionId: options.sessionId });
    const Pc = options.peerConnection ?? globalThis.RTCPeerConnection;
    if (typeof Pc !== 'function') throw new RtcAgentError(ErrorCode.P2P_FAILED, 'this browser has no RTCPeerConnection');
    // Only the servers the hub and the program gave: on a LAN (and on loopback) host candidates are
    // all it takes, and a public STUN server nobody asked for would leak addresses.
    const config: RTCConfiguration = { iceServers: options.iceServers.map(toRtcIceServer), iceTransportPolicy: options.iceTransportPolicy ?? 'all' };
    try {
      this.#pc = new Pc(config);
    } catch (err) {
      throw new RtcAgentError(ErrorCode.P2P_FAILED, `cannot create an RTCPeerConnection: ${errorText(err)}`, { cause: err });
    }
    this.#pc.onicecandidate = (e) => this.#onLocalCandidate(e.candidate);
    this.#pc.onconnectionstatechange = () => {
      const state = this.#pc.connectionState;
      this.#log.debug({ state }, 'peer connection state');
      // 'disconnected' may recover by itself; the engine's heartbeat decides about the peer.
      if (state === 'failed') this.#close('ICE/DTLS failed');
      else if (state === 'closed') this.#close('peer connection closed');
    };
    this.#pc.ondatachannel = (e) => this.#onRemoteChannel(e.channel);
    // Once, when ICE has a working pair: the session then gives DTLS and SCTP a short while only.
    this.#pc.oniceconnectionstatechange = () => {
      const ice = this.#pc.iceConnectionState;
      if (this.#iceReported || this.#state !== 'connecting' || !(ice === 'connected' || ice === 'completed')) return;
      this.#iceReported = true;
      this.emit('iceConnected');
    };
  }

  get state(): LinkState {
    return this.#state;
  }

  /** Why the link closed, once it has. */
  get closeReason(): string | undefined {
    return this.#closeReason;
  }

  /** The largest message {@link send} takes: what the SCTP transport negotiated (64 KiB before). */
  get maxSendSize(): number {
    const negotiated = this.#pc.sctp?.maxMessageSize;
    if (negotiated === undefined || negotiated === null) return DEFAULT_REMOTE_MAX_MESSAGE_SIZE;
    return negotiated === 0 ? Number.POSITIVE_INFINITY : negotiated;
  }

  /** Offerer: creates both channels and sends the offer. Answerer: nothing to do. Idempotent. */
  start(): void {
    if (this.#started || this.#state === 'closed') return;
    this.#started = true;
    if (this.role !== 'offerer') return;
    try {
      this.#attach('reliable', this.#pc.createDataChannel(LINK_LABELS.reliable, { ordered: true }));
      this.#attach('unreliable', this.#pc.createDataChannel(LINK_LABELS.unreliable, { ordered: false, maxRetransmits: 0 }));
    } catch (err) {
      this.#close(`p2p failed: cannot create data channels: ${errorText(err)}`);
      return;
    }
    this.#enqueue('create the offer', async () => {
      await this.#pc.setLocalDescription(await this.#pc.createOffer());
      this.#sendLocalDescription();
    });
  }

  /** Applies a description or candidate of this session; others (and `restart`, `bye`) are the session's. */
  handleSignal(signal: SignalPayload): void {
    if (this.#state === 'closed') return;
    if (signal.type !== 'description' && signal.type !== 'candidate') return;
    if (signal.sessionId !== this.sessionId) {
      this.#log.debug({ type: signal.type, got: signal.sessionId }, 'signal of another session; ignored');
      return;
    }
    if (signal.type === 'description') {
      const { sdp, sdpType } = signal;
      this.#enqueue(`apply the remote ${sdpType}`, () => this.#applyRemoteDescription(sdp, sdpType));
    } else {
      const { candidate, mid } = signal;
      this.#enqueue('add a remote candidate', () => this.#addRemoteCandidate(candidate, mid));
    }
  }

  /**
   * Queues `data` on a channel. Throws `RTC_ERR_LINK_NOT_OPEN` before `open` or after `close`,
   * `RTC_ERR_MESSAGE_TOO_LARGE` above {@link maxSendSize} (the link stays usable).
   */
  send(channel: LinkChannel, data: Uint8Array): void {
    const dc = this.#channels.get(channel);
    if (this.#state !== 'open' || !dc || dc.readyState !== 'open') {
      throw new RtcAgentError(ErrorCode.LINK_NOT_OPEN, `cannot send on the ${channel} channel: the P2P link is ${this.#state}`, { details: { channel, state: this.#state } });
    }
    const limit = this.maxSendSize;
    if (data.byteLength > limit) {
      throw new RtcAgentError(ErrorCode.MESSAGE_TOO_LARGE, `a ${data.byteLength}-byte message exceeds the link's max-message-size of ${limit} bytes`, {
        details: { channel, size: data.byteLength, limit },
      });
    }
    try {
      // The DOM typing wants an ArrayBuffer-backed view; frames are (never a SharedArrayBuffer).
      dc.send(data as Uint8Array<ArrayBuffer>);
    } catch (err) {
      throw new RtcAgentError(ErrorCode.P2P_FAILED, `send on the ${channel} channel failed: ${errorText(err)}`, { cause: err });
    }
  }

  bufferedAmount(channel: LinkChannel): number {
    const dc = this.#channels.get(channel);
    return dc && this.#state !== 'closed' ? dc.bufferedAmount : 0;
  }

  /**
   * The last figures getStats() gave (it is asynchronous; a fresh read starts when these are over
   * {@link STATS_REFRESH_MS} old). After close, the last ones taken.
   */
  stats(): PeerLinkStats {
    const now = Date.now();
    if (this.#state === 'open' && now - this.#statsAt >= STATS_REFRESH_MS) {
      this.#statsAt = now;
      readLinkStats(this.#pc).then(
        (stats) => {
          if (this.#state !== 'closed') this.#stats = stats;
        },
        (err: unknown) => this.#log.debug({ err: errorText(err) }, 'stats unavailable'),
      );
    }
    return { ...this.#stats };
  }

  /** Closes both channels and the connection. Idempotent; `close` is emitted once. */
  close(reason = 'closed locally'): void {
    this.#close(reason);
  }

  // -- signalling ------------------------------------------------------------------------------

  #enqueue(what: string, step: () => Promise<void>): void {
    this.#work = this.#work.then(async () => {
      if (this.#state === 'closed') return;
      try {
        await step();
      } catch (err) {
        this.#close(`p2p failed: ${what}: ${errorText(err)}`);
      }
    });
  }

  async #applyRemoteDescription(sdp: string, sdpType: 'offer' | 'answer'): Promise<void> {
    const expected = this.role === 'offerer' ? 'answer' : 'offer';
    if (sdpType !== expected || this.#remoteDescriptionSet) {
      this.#log.debug({ sdpType, role: this.role, remoteSet: this.#remoteDescriptionSet }, 'remote description ignored');
      return;
    }
    // The answerer takes the DTLS server role, as the native answerer does: read the offer's
    // `actpass` as `active`, so this side answers `passive`. As DTLS client the browser would send
    // its ClientHello before the offerer has the answer, and wait ~1 s for a retransmit
    // (native-notes.md#dtls-role-and-the-1-s-setup).
    const remote = sdpType === 'offer' ? answerAsDtlsServer(sdp) : sdp;
    await this.#pc.setRemoteDescription({ type: sdpType, sdp: remote });
    this.#remoteDescriptionSet = true;
    if (this.role === 'answerer') {
      await this.#pc.setLocalDescription(await this.#pc.createAnswer());
      this.#sendLocalDescription();
    }
    const pending = this.#pendingRemote;
    this.#pendingRemote = [];
    for (const c of pending) await this.#addRemoteCandidate(c.candidate, c.mid);
  }

  async #addRemoteCandidate(candidate: string, mid: string): Promise<void> {
    if (!candidate) return; // end of candidates
    if (!this.#remoteDescriptionSet) {
      this.#pendingRemote.push({ candidate, mid });
      return;
    }
    // The W3C API takes the attribute value (`candidate:…`); an SDP line's `a=` prefix is dropped.
    const value = candidate.replace(/^a=/, '').trim();
    try {
      await this.#pc.addIceCandidate({ candidate: value, sdpMid: mid });
    } catch (err) {
      // One unusable candidate (an address family this browser does not gather) is not fatal.
      this.#log.debug({ err: errorText(err), candidate: value }, 'remote candidate rejected');
    }
  }

  #sendLocalDescription(): void {
    const desc = this.#pc.localDescription;
    if (!desc || (desc.type !== 'offer' && desc.type !== 'answer') || this.#state === 'closed') return;
    this.emit('signal', { type: 'description', sdpType: desc.type, sdp: desc.sdp, sessionId: this.sessionId });
    this.#localDescriptionSent = true;
    const pending = this.#pendingLocal;
    this.#pendingLocal = [];
    for (const c of pending) {
      if (this.state === 'closed') return; // a listener may have closed the link
      this.emit('signal', { type: 'candidate', ...c, sessionId: this.sessionId });
    }
  }

  #onLocalCandidate(candidate: RTCIceCandidate | null): void {
    // null or an empty candidate: gathering is done (nothing to tell; peers do not wait for it).
    if (this.#state === 'closed' || !candidate || !candidate.candidate) return;
    const entry = { candidate: candidate.candidate, mid: candidate.sdpMid ?? '0' };
    if (!this.#localDescriptionSent) this.#pendingLocal.push(entry);
    else this.emit('signal', { type: 'candidate', ...entry, sessionId: this.sessionId });
  }

  // -- channels --------------------------------------------------------------------------------

  #onRemoteChannel(dc: RTCDataChannel): void {
    const channel = channelOfLabel(dc.label);
    if (this.#state === 'closed' || this.role !== 'answerer' || channel === undefined || this.#channels.has(channel)) {
      this.#log.warn({ label: dc.label }, 'unexpected data channel from the remote; closed');
      dc.close();
      return;
    }
    this.#attach(channel, dc);
  }

  #attach(channel: LinkChannel, dc: RTCDataChannel): void {
    dc.binaryType = 'arraybuffer';
    this.#channels.set(channel, dc);
    dc.bufferedAmountLowThreshold = this.#bufferedLowBytes;
    dc.onbufferedamountlow = () => {
      if (this.#state === 'open') this.emit('bufferedLow', channel);
    };
    dc.onopen = () => this.#checkOpen();
    dc.onclose = () => this.#close(`${channel} channel closed`);
    dc.onmessage = (e: MessageEvent<ArrayBuffer | string>) => {
      if (this.#state === 'closed') return;
      const data = typeof e.data === 'string' ? new TextEncoder().encode(e.data) : new Uint8Array(e.data);
      if (this.#state === 'connecting') {
        // One channel is open and carrying data before the other's open event (early-messages.ts).
        if (!this.#early.hold(data, channel)) this.#close(`p2p failed: ${this.#early.overflowReason}`);
        return;
      }
      this.emit('message', data, channel);
    };
    if (dc.readyState === 'open') this.#checkOpen();
  }

  #checkOpen(): void {
    if (this.#state !== 'connecting') return;
    if (this.#channels.get('reliable')?.readyState !== 'open' || this.#channels.get('unreliable')?.readyState !== 'open') return;
    this.#state = 'open';
    this.#log.debug({ early: this.#early.count }, 'link open');
    try {
      this.emit('open');
    } finally {
      this.#early.release((data, channel) => {
        if (this.#state !== 'open') return false;
        try {
          this.emit('message', data, channel);
        } catch (err) {
          // As a throwing onmessage handler would be: reported, and the next message still delivered.
          setTimeout(() => {
            throw err;
          });
        }
        return true;
      });
    }
  }

  #close(reason: string): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#closeReason = reason;
    this.#pendingLocal = [];
    this.#pendingRemote = [];
    this.#early.clear();
    for (const dc of this.#channels.values()) {
      dc.onclose = null;
      dc.onmessage = null;
      try {
        dc.close();
      } catch {
        // already closed
      }
    }
    try {
      this.#pc.close();
    } catch {
      // already closed
    }
    this.#log.debug({ reason }, 'link closed');
    this.emit('close', reason);
  }
}

function toRtcIceServer(server: IceServer): RTCIceServer {
  const out: RTCIceServer = { urls: server.urls };
  if (server.username !== undefined) out.username = server.username;
  if (server.credential !== undefined) out.credential = server.credential;
  return out;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
