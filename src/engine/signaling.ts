/**
 * The seam between the engine and the hub: the room contract (docs/room-contract.md) as the engine
 * uses it. src/signaling/hub-client.ts implements it over @microsoft/signalr for Node and browsers;
 * tests use a fake. Each room owns its subscription: the hub client hands a room's callbacks to
 * that room's {@link RoomInbound}, which routes a relayed frame straight to its peer session.
 */
import type { JoinHello, JoinResult, Participant, SignalPayload } from '../protocol/room-contract.js';

export type SignalingState = 'disconnected' | 'connecting' | 'connected' | 'reconnecting' | 'closed';

/** What the hub tells one room. */
export interface RoomInbound {
  peerJoined(participant: Participant): void;
  peerLeft(peerId: string, reason: string): void;
  signal(from: string, signal: SignalPayload): void;
  /** A relay bundle (raw bytes; the hub client decodes the wire form). */
  relayed(from: string, payload: Uint8Array): void;
  /** The room was joined again after a reconnect (possibly on another hub). */
  rejoined(result: JoinResult): void;
  /** Rejoining after a reconnect failed; the room is no longer a member. */
  rejoinFailed(error: Error): void;
}

/** One room's calls to the hub. */
export interface RoomSignaling {
  /**
   * Best effort: may resolve as soon as it is handed to the connection, without the hub's answer
   * (the SignalR client sends it so: half the hub traffic of a confirmed signal, which a forming
   * mesh feels), so a refusal (the peer left, a rate limit) may go unreported — the negotiation's
   * own timeouts cover a lost signal. Rejects with HUB_UNREACHABLE while disconnected.
   */
  signal(to: string, signal: SignalPayload): Promise<void>;
  /** The same, answered by the hub: rejects with its error (PEER_NOT_IN_ROOM when it no longer lists `to`). */
  signalConfirmed(to: string, signal: SignalPayload): Promise<void>;
  /** Completes once the hub accepted the payload: its backpressure reaches the sender through this. */
  relay(to: string | null, payload: Uint8Array): Promise<void>;
  /** The hub's member list (contract feature `members`); reject when the hub lacks it. */
  members(): Promise<Participant[]>;
  leave(): Promise<void>;
  /** The hub connection is up (calls can be made). */
  readonly connected: boolean;
}

/** Events of the hub connection as a whole. */
export interface SignalingEvents {
  state: [state: SignalingState];
  /** Reconnecting gave up, or the hub closed for good; `error` says why (undefined: closed on purpose). */
  closed: [error: Error | undefined];
}

export interface Signaling {
  readonly state: SignalingState;
  readonly connected: boolean;
  /**
   * Joins `room`; callbacks for it (even those in the same frame as the result) go to `inbound`
   * from the moment the call is made.
   */
  join(room: string, hello: JoinHello, inbound: RoomInbound): Promise<{ result: JoinResult; room: RoomSignaling }>;
  on<K extends keyof SignalingEvents>(event: K, listener: (...args: SignalingEvents[K]) => void): unknown;
  off<K extends keyof SignalingEvents>(event: K, listener: (...args: SignalingEvents[K]) => void): unknown;
  close(): Promise<void>;
}
