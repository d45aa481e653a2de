/**
 * The seam between a peer session and one way of reaching the peer directly: a P2P link with two
 * DataChannels, `reliable` (ordered, retransmitted) and `unreliable` (unordered, no retransmits),
 * both created by the offerer. Node implements it over node-datachannel
 * (src/transport/native/native-link.ts), browsers over RTCPeerConnection
 * (src/transport/browser/browser-link.ts), tests with a fake. Signals go out as `signal` events
 * and come in through handleSignal; the session carries them over the hub.
 */
import type { IceServer, SignalPayload } from '../protocol/room-contract.js';

export type LinkPath = 'p2p' | 'relay';

/** Reliable: ordered, retransmitted. Unreliable: unordered, no retransmits (games, telemetry). */
export type LinkChannel = 'reliable' | 'unreliable';

export type LinkState = 'connecting' | 'open' | 'closed';

export interface PeerLinkEvents {
  /** A description or candidate for the remote peer; send it through the hub. */
  signal: [signal: SignalPayload];
  /**
   * ICE found a working candidate pair (DTLS and SCTP come next). Optional for implementations;
   * the session uses it to tell a stuck handshake from a peer that cannot be reached.
   */
  iceConnected: [];
  /** Both channels are open. */
  open: [];
  /**
   * Only while open: what arrived on a channel before the link was open comes right after `open`,
   * in order (early-messages.ts), never before it.
   */
  message: [data: Uint8Array, channel: LinkChannel];
  /** The channel's send buffer drained to the low threshold. */
  bufferedLow: [channel: LinkChannel];
  /** Emitted exactly once, whatever closed the link. */
  close: [reason: string];
}

export interface PeerLinkStats {
  rttMs?: number;
  bytesSent: number;
  bytesReceived: number;
  /** Selected candidate types of an open link: `host`, `srflx`, `prflx` or `relay` (TURN). */
  localCandidateType?: string;
  remoteCandidateType?: string;
}

export interface PeerLink {
  readonly role: 'offerer' | 'answerer';
  /** Identifies this negotiation; signals of another session are ignored. */
  readonly sessionId: string;
  readonly state: LinkState;
  /** Offerer: creates the channels, which starts negotiation. Answerer: nothing. Idempotent. */
  start(): void;
  handleSignal(signal: SignalPayload): void;
  /** Queues `data`; throws RTC_ERR_LINK_NOT_OPEN before open / after close, MESSAGE_TOO_LARGE above maxSendSize. */
  send(channel: LinkChannel, data: Uint8Array): void;
  /** Bytes queued on the channel and not yet handed to the network stack. */
  bufferedAmount(channel: LinkChannel): number;
  stats(): PeerLinkStats;
  /** Closes both channels and the connection. Idempotent; `close` is emitted once. */
  close(reason?: string): void;
  on<K extends keyof PeerLinkEvents>(event: K, listener: (...args: PeerLinkEvents[K]) => void): unknown;
}

export interface PeerLinkOptions {
  role: 'offerer' | 'answerer';
  sessionId: string;
  /** The hub's servers and the agent's own. */
  iceServers: IceServer[];
}

/** Makes links; the platform's ICE settings (bind address, port range, policy) live in it. */
export interface PeerLinkFactory {
  /** Throws (RTC_ERR_P2P_FAILED) when the platform cannot make one right now. */
  create(options: PeerLinkOptions): PeerLink;
}
