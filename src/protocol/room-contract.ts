/**
 * The room contract, version 1: the SignalR hub methods and client callbacks that rtc-agent's hub,
 * an ASP.NET Core hub and every client agree on. docs/room-contract.md is the prose version of
 * this file; keep them in step.
 */
import { ErrorCode, RtcAgentError } from '../errors.js';

export const ROOM_CONTRACT_VERSION = 1;
/**
 * Additions since version 1 that a client may use when the hub announces them (`Join`'s result
 * `features`): `members` = the `Members` method. A hub without `features` is plain version 1.
 */
export const CONTRACT_FEATURES = ['members'] as const;
export type ContractFeature = (typeof CONTRACT_FEATURES)[number];

/** Client → hub methods (matched case-insensitively by SignalR servers). */
export const HubMethod = {
  Join: 'Join',
  Leave: 'Leave',
  Signal: 'Signal',
  Relay: 'Relay',
  /** Added in contract 1.1: the room's current members, to reconcile a client's view with the hub's. */
  Members: 'Members',
} as const;
export type HubMethod = (typeof HubMethod)[keyof typeof HubMethod];

/** Hub → client methods. */
export const ClientMethod = {
  PeerJoined: 'PeerJoined',
  PeerLeft: 'PeerLeft',
  Signal: 'Signal',
  Relayed: 'Relayed',
} as const;
export type ClientMethod = (typeof ClientMethod)[keyof typeof ClientMethod];

export interface Capabilities {
  /** The agent can open native DataChannels; false means every link to it is relayed. */
  native: boolean;
  /** Base64 X25519 public key when the agent does E2EE. */
  e2eePublicKey?: string;
  /** Base64 X25519 per-process session key (E2EE). */
  e2eeSessionKey?: string;
  /** Random per running agent: the same peer id with another instance is a restarted peer. */
  instance?: string;
  /** Anything else a client wants peers to know (feature flags). */
  [key: string]: unknown;
}

/** Second argument of `Join`. */
export interface JoinHello {
  /**
   * A secret the agent keeps for its lifetime (at least 16 characters). The hub derives the peer id
   * from it, so the id is stable across hub reconnects and nobody without the secret can take it.
   */
  agentKey?: string;
  /** Display name; ignored when the hub authenticates users (the token's `name` wins). */
  name?: string;
  capabilities?: Capabilities;
  /** Small string map shown to peers (e.g. a bot's role). */
  meta?: Record<string, string>;
}

export interface Participant {
  peerId: string;
  name: string;
  /** The token's `sub` when the hub authenticates, otherwise null. */
  userId: string | null;
  capabilities: Capabilities;
  meta: Record<string, string>;
  /** ms since the epoch, hub clock. */
  joinedAt: number;
}

export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

export interface HubLimitsInfo {
  /** Largest SignalR message the hub accepts, in bytes (a Relay payload must fit well inside). */
  maxMessageBytes: number;
  maxPeersPerRoom: number;
  maxRoomsPerConnection: number;
  messagesPerSecond: number;
}

/** Result of `Join`. */
export interface JoinResult {
  room: string;
  self: Participant;
  /** Every other member of the room at the moment of joining. */
  participants: Participant[];
  iceServers: IceServer[];
  limits: HubLimitsInfo;
  contractVersion: number;
  /** Optional additions this hub implements (see {@link CONTRACT_FEATURES}); absent on older hubs. */
  features?: string[];
}

/** Result of `Members`: who the hub lists in the room right now, the caller excluded. */
export interface MembersResult {
  room: string;
  participants: Participant[];
}

/** Signals are opaque to the hub; these are the shapes rtc-agent clients exchange. */
export type SignalPayload =
  | { type: 'description'; sdpType: 'offer' | 'answer'; sdp: string; sessionId?: string }
  | { type: 'candidate'; candidate: string; mid: string; sessionId?: string }
  | { type: 'restart'; sessionId?: string }
  | { type: 'bye'; reason?: string }
  /**
   * "Are you there, and do you list me?" — sent to a peer whose heartbeat stopped while the hub still
   * lists it, and as the heartbeat when no data path exists. Answered with `probe-ack`. Any signal
   * from a peer proves it alive, so either one re-admits a peer the receiver had given up on.
   */
  | { type: 'probe' }
  | { type: 'probe-ack' };

export type PeerLeftReason = 'left' | 'disconnected' | 'replaced';

/** Room names: 1–64 characters, letters, digits, `.`, `_`, `-`, starting with a letter or digit. */
export const ROOM_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const MAX_NAME_LENGTH = 64;
export const MIN_AGENT_KEY_LENGTH = 16;
export const MAX_AGENT_KEY_LENGTH = 128;
const MAX_META_ENTRIES = 16;
const MAX_META_VALUE_LENGTH = 256;
const MAX_CAPABILITIES_JSON_BYTES = 2048;

export function validateRoomName(room: unknown): string {
  if (typeof room !== 'string') {
    throw new RtcAgentError(ErrorCode.BAD_REQUEST, `room must be a string, got ${describeType(room)}`);
  }
  if (!ROOM_NAME_PATTERN.test(room)) {
    throw new RtcAgentError(
      ErrorCode.INVALID_ROOM_NAME,
      `invalid room name ${JSON.stringify(room.slice(0, 80))}: use 1-64 of A-Z a-z 0-9 . _ - starting with a letter or digit`,
    );
  }
  return room;
}

/** Validates the untrusted `hello` argument of Join and returns a normalised copy. */
export function validateHello(hello: unknown): Required<Pick<JoinHello, 'capabilities' | 'meta'>> & JoinHello {
  if (hello === undefined || hello === null) return { capabilities: { native: false }, meta: {} };
  if (typeof hello !== 'object' || Array.isArray(hello)) {
    throw new RtcAgentError(ErrorCode.BAD_REQUEST, `hello must be an object, got ${describeType(hello)}`);
  }
  const h = hello as Record<string, unknown>;
  const out: JoinHello & { capabilities: Capabilities; meta: Record<string, string> } = {
    capabilities: { native: false },
    meta: {},
  };
  if (h.agentKey !== undefined) {
    if (
      typeof h.agentKey !== 'string' ||
      h.agentKey.length < MIN_AGENT_KEY_LENGTH ||
      h.agentKey.length > MAX_AGENT_KEY_LENGTH
    ) {
      throw new RtcAgentError(
        ErrorCode.BAD_REQUEST,
        `hello.agentKey must be a string of ${MIN_AGENT_KEY_LENGTH}-${MAX_AGENT_KEY_LENGTH} characters`,
      );
    }
    out.agentKey = h.agentKey;
  }
  if (h.name !== undefined) {
    if (typeof h.name !== 'string' || h.name.length > MAX_NAME_LENGTH) {
      throw new RtcAgentError(ErrorCode.BAD_REQUEST, `hello.name must be a string of at most ${MAX_NAME_LENGTH} characters`);
    }
    out.name = sanitizeDisplayName(h.name);
  }
  if (h.capabilities !== undefined) {
    const caps = h.capabilities;
    if (typeof caps !== 'object' || caps === null || Array.isArray(caps)) {
      throw new RtcAgentError(ErrorCode.BAD_REQUEST, 'hello.capabilities must be an object');
    }
    if (JSON.stringify(caps).length > MAX_CAPABILITIES_JSON_BYTES) {
      throw new RtcAgentError(ErrorCode.BAD_REQUEST, `hello.capabilities must be under ${MAX_CAPABILITIES_JSON_BYTES} bytes of JSON`);
    }
    const c = caps as Record<string, unknown>;
    if (c.native !== undefined && typeof c.native !== 'boolean') {
      throw new RtcAgentError(ErrorCode.BAD_REQUEST, 'hello.capabilities.native must be a boolean');
    }
    if (c.e2eePublicKey !== undefined && typeof c.e2eePublicKey !== 'string') {
      throw new RtcAgentError(ErrorCode.BAD_REQUEST, 'hello.capabilities.e2eePublicKey must be a string');
    }
    out.capabilities = { ...c, native: c.native === true };
  }
  if (h.meta !== undefined) {
    if (typeof h.meta !== 'object' || h.meta === null || Array.isArray(h.meta)) {
      throw new RtcAgentError(ErrorCode.BAD_REQUEST, 'hello.meta must be an object of strings');
    }
    const entries = Object.entries(h.meta as Record<string, unknown>);
    if (entries.length > MAX_META_ENTRIES) {
      throw new RtcAgentError(ErrorCode.BAD_REQUEST, `hello.meta may have at most ${MAX_META_ENTRIES} entries`);
    }
    for (const [key, value] of entries) {
      if (typeof value !== 'string' || value.length > MAX_META_VALUE_LENGTH || key.length > MAX_NAME_LENGTH) {
        throw new RtcAgentError(
          ErrorCode.BAD_REQUEST,
          `hello.meta.${key.slice(0, MAX_NAME_LENGTH)} must be a string of at most ${MAX_META_VALUE_LENGTH} characters`,
        );
      }
      out.meta[key] = value;
    }
  }
  return out;
}

/** Strips control characters so a peer's name can't rewrite another user's terminal. */
export function sanitizeDisplayName(name: string): string {
  // eslint-disable-next-line no-control-regex
  return name.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, '').trim().slice(0, MAX_NAME_LENGTH);
}

export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  // MessagePack `bin` (a SignalR MessagePack client's bytes).
  if (value instanceof Uint8Array) return 'binary';
  return typeof value;
}
