/** What the engine reports to applications: messages and peers. */
import type { LinkPath } from './peer-link.js';
import type { P2PView, PeerPath } from './peer-path.js';
import type { MessageKind } from './message-codec.js';
import type { PeerJoinReason } from './membership.js';
import type { PeerE2eeState } from './peer-e2ee.js';

export interface ReceivedMessage {
  /** Unique per sender: `<epoch hex>-<seq of the first chunk>`, or `u-…` for unreliable ones. */
  id: string;
  room: string;
  from: string;
  name: string;
  /** Sender's clock, ms since the epoch. */
  timestamp: number;
  kind: MessageKind;
  /** What was sent: a string, the parsed JSON value, or bytes. */
  data: unknown;
  /** The text, for text and JSON messages. */
  text?: string;
  path: LinkPath;
  reliable: boolean;
  encrypted: boolean;
}

export interface PeerInfo {
  peerId: string;
  name: string;
  userId: string | null;
  /** The peer can do P2P at all (its native binding loaded). */
  native: boolean;
  path: PeerPath;
  p2p: P2PView;
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
  /** Where E2EE with this peer stands: `off` (this agent has none), `peer-has-none`, `deriving`, `ready`, `error`. */
  e2eeState: PeerE2eeState;
  /** Frames from this peer dropped because they were not sealed or did not open (another room secret, other keys). */
  e2eeDropped: number;
  /** Messages can go to this peer: both sides do E2EE, or neither does. A broadcast skips the others. */
  canSend: boolean;
  /** Why nothing can go to this peer, when `canSend` is false. */
  cannotSendReason: string | undefined;
  /** The selected ICE candidate pair of the open P2P link: `host`, `srflx`, `prflx` or `relay` (TURN). */
  candidates: { local: string; remote: string } | undefined;
}

/** A peer as `peer-joined` reports it. */
export type PeerJoined = PeerInfo & { room: string; reason: PeerJoinReason };

export interface PathChange {
  room: string;
  peerId: string;
  name: string;
  from: PeerPath;
  to: PeerPath;
  reason: string;
}

export interface PeerLeft {
  room: string;
  peerId: string;
  name: string;
  /**
   * `left` (said goodbye), `disconnected` (the hub lost it), `timeout` (no heartbeat; it may come
   * back as `peer-joined` with reason `resumed`), `restarted` (a new process took its peer id).
   */
  reason: string;
}

export interface SendOptions {
  /** A peer id: send to that peer only. Default: everyone in the room. */
  to?: string;
  /** Reliable (ordered, exactly once) or not; the agent's `reliable` setting by default. */
  reliable?: boolean;
}


/**
 * A peer told us, end to end, that it refused something we sent it (it could not open it: another
 * room secret, other keys; or it requires E2EE and got plaintext). Nothing of it was delivered.
 */
export interface DeliveryRefused {
  room: string;
  peerId: string;
  name: string;
  /** The receiver's error code, e.g. RTC_ERR_E2EE_ROOM_SECRET_MISMATCH. */
  code: string;
  /** What the receiver said, in words: "<name> uses a different room secret; …". */
  reason: string;
}
