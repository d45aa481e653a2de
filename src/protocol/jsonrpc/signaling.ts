/**
 * The signaling methods of JSON-RPC 2.0 (docs/jsonrpc.md), shared by rtc-agent's hub and the
 * agent's JSON-RPC client: method names, the mapping between the room contract's signals and the
 * `offer` / `answer` / `ice_candidate` params other WebRTC stacks send, and the participant shape
 * other servers use. Names starting `rtcagent.` are rtc-agent's extensions, which servers we did
 * not build answer with -32601 (method not found).
 */
import { ErrorCode, RtcAgentError } from '../../errors.js';
import type { Capabilities, Participant, SignalPayload } from '../room-contract.js';
import { isObject, typeName } from './messages.js';

/** Client → server methods. */
export const RpcMethod = {
  Announce: 'announce',
  Offer: 'offer',
  Answer: 'answer',
  IceCandidate: 'ice_candidate',
  Disconnect: 'disconnect',
  /** Extension: which extensions the server has (foreign servers answer -32601: none). */
  Hello: 'rtcagent.hello',
  /** Extension: a relay bundle (base64) to one member or, with `to: null`, to all the others. */
  Relay: 'rtcagent.relay',
  /** Extension: a room-contract signal without a standard method (restart, bye, probe, probe-ack). */
  Signal: 'rtcagent.signal',
  /** Extension: the room's members as the hub lists them now (contract feature `members`). */
  Members: 'rtcagent.members',
  /** Extension: a round trip that proves the server alive (answered `{}`). */
  Ping: 'rtcagent.ping',
} as const;

/** Server → client notifications. */
export const RpcNotification = {
  PeerJoined: 'peer_joined',
  PeerLeft: 'peer_left',
  Offer: 'offer',
  Answer: 'answer',
  IceCandidate: 'ice_candidate',
  Signal: 'rtcagent.signal',
  Relayed: 'rtcagent.relayed',
} as const;

/** What `rtcagent.hello` lists; each names the extension methods above. */
export const RPC_EXTENSIONS = ['relay', 'signal', 'members', 'ping'] as const;
export type RpcExtension = (typeof RPC_EXTENSIONS)[number];

/** The result of `rtcagent.hello`. */
export interface RpcHelloResult {
  server: string;
  extensions: string[];
  contractVersion: number;
}

/** Longest session id accepted in params: ours are 8 characters; room for other schemes. */
const MAX_SESSION_ID_LENGTH = 64;
/** An SDP is a few KiB; the hub's message limit bounds it anyway, this names the field when it is absurd. */
const MAX_SDP_LENGTH = 64 * 1024;
const MAX_CANDIDATE_LENGTH = 1024;

function bad(method: string, why: string): RtcAgentError {
  return new RtcAgentError(ErrorCode.BAD_REQUEST, `${method}: ${why}`);
}

/** The JSON-RPC method and params (without room and to/from) that carry `signal`. */
export function signalToRpc(signal: SignalPayload): { method: string; params: Record<string, unknown> } {
  switch (signal.type) {
    case 'description': {
      const sid = signal.sessionId !== undefined ? { sessionId: signal.sessionId } : {};
      return { method: signal.sdpType === 'offer' ? RpcMethod.Offer : RpcMethod.Answer, params: { sdp: signal.sdp, type: signal.sdpType, ...sid } };
    }
    case 'candidate': {
      const sid = signal.sessionId !== undefined ? { sessionId: signal.sessionId } : {};
      return { method: RpcMethod.IceCandidate, params: { candidate: signal.candidate, sdpMid: signal.mid, ...sid } };
    }
    default:
      return { method: RpcMethod.Signal, params: { signal } };
  }
}

/** True for the methods that carry a signal (offer, answer, ice_candidate, rtcagent.signal). */
export function isSignalMethod(method: string): boolean {
  return method === RpcMethod.Offer || method === RpcMethod.Answer || method === RpcMethod.IceCandidate || method === RpcMethod.Signal;
}

function sessionIdOf(method: string, params: Record<string, unknown>): { sessionId?: string } {
  const sid = params.sessionId;
  if (sid === undefined || sid === null) return {};
  if (typeof sid !== 'string' || sid.length === 0 || sid.length > MAX_SESSION_ID_LENGTH) {
    throw bad(method, `"sessionId" must be a string of 1-${MAX_SESSION_ID_LENGTH} characters`);
  }
  return { sessionId: sid };
}

/**
 * The room-contract signal in the params of `offer`, `answer` or `ice_candidate` (or, with
 * `opaque`, any object of `rtcagent.signal`, which the hub forwards unread). Lenient where other
 * stacks differ: `sdp` may be an RTCSessionDescriptionInit, `candidate` an RTCIceCandidateInit.
 * Throws RTC_ERR_BAD_REQUEST naming the param.
 */
export function signalFromRpc(method: string, params: Record<string, unknown>, opaque = false): SignalPayload {
  switch (method) {
    case RpcMethod.Offer:
    case RpcMethod.Answer: {
      let sdp = params.sdp;
      let type = params.type;
      if (isObject(sdp)) {
        type ??= sdp.type;
        sdp = sdp.sdp;
      }
      if (typeof sdp !== 'string' || sdp.length === 0 || sdp.length > MAX_SDP_LENGTH) throw bad(method, `"sdp" must be a non-empty string, got ${typeName(sdp)}`);
      if (type !== undefined && type !== method) throw bad(method, `"type" must be "${method}" (or absent), got ${JSON.stringify(type)}`);
      return { type: 'description', sdpType: method, sdp, ...sessionIdOf(method, params) };
    }
    case RpcMethod.IceCandidate: {
      let candidate = params.candidate;
      let mid = params.sdpMid;
      let index = params.sdpMLineIndex;
      if (isObject(candidate)) {
        mid ??= candidate.sdpMid;
        index ??= candidate.sdpMLineIndex;
        candidate = candidate.candidate;
      }
      if (typeof candidate !== 'string' || candidate.length > MAX_CANDIDATE_LENGTH) throw bad(method, `"candidate" must be a string, got ${typeName(candidate)}`);
      if (mid !== undefined && mid !== null && (typeof mid !== 'string' || mid.length > MAX_SESSION_ID_LENGTH)) throw bad(method, `"sdpMid" must be a string, got ${typeName(mid)}`);
      if (index !== undefined && index !== null && (!Number.isInteger(index) || (index as number) < 0)) throw bad(method, '"sdpMLineIndex" must be an integer ≥ 0');
      // Without a mid, the m-line index names the section; our SDPs number their mids from "0" the same way.
      const resolvedMid = typeof mid === 'string' ? mid : typeof index === 'number' ? String(index) : '0';
      return { type: 'candidate', candidate, mid: resolvedMid, ...sessionIdOf(method, params) };
    }
    case RpcMethod.Signal: {
      const signal = params.signal;
      if (!isObject(signal)) throw bad(method, `"signal" must be an object, got ${typeName(signal)}`);
      if (opaque) return signal as SignalPayload;
      if (!isKnownSignal(signal)) throw bad(method, `"signal.type" ${JSON.stringify(signal.type)} is not one this agent knows`);
      return signal;
    }
    default:
      throw bad(method, 'is not a signaling method');
  }
}

function isKnownSignal(signal: Record<string, unknown>): signal is SignalPayload {
  switch (signal.type) {
    case 'restart':
    case 'bye':
    case 'probe':
    case 'probe-ack':
      return true;
    case 'description':
      return (signal.sdpType === 'offer' || signal.sdpType === 'answer') && typeof signal.sdp === 'string';
    case 'candidate':
      return typeof signal.candidate === 'string' && typeof signal.mid === 'string';
    default:
      return false;
  }
}

/**
 * Fills the session id other stacks leave out. rtc-agent's peers tell negotiations apart by it and
 * ignore a description or candidate without one; a client of another stack negotiates one link at
 * a time per peer, so its signals belong to the latest negotiation with that peer: a new one for
 * its offer, the one of our offer for its answer and candidates. {@link observe} records session
 * ids that pass with one (either direction); {@link fill} stamps the rest.
 */
export class SessionStamper {
  private readonly current = new Map<string, string>();
  private counter = 0;

  constructor(
    /** Prefix of the ids made here, so they never equal an agent's own. */
    private readonly prefix: string,
    /** Pairs remembered at most (oldest forgotten first): bounds what a client can make us hold. */
    private readonly maxPairs = 4096,
  ) {}

  observe(room: string, peer: string, signal: SignalPayload): void {
    if ((signal.type === 'description' || signal.type === 'candidate') && signal.sessionId !== undefined) this.set(room, peer, signal.sessionId);
  }

  fill(room: string, peer: string, signal: SignalPayload): SignalPayload {
    if ((signal.type !== 'description' && signal.type !== 'candidate') || signal.sessionId !== undefined) return signal;
    const key = `${room}\n${peer}`;
    let sid = this.current.get(key);
    if (sid === undefined || (signal.type === 'description' && signal.sdpType === 'offer')) {
      sid = `${this.prefix}${(++this.counter).toString(36)}`;
      this.set(room, peer, sid);
    }
    return { ...signal, sessionId: sid };
  }

  /** Forgets a peer (it left) or, without `peer`, everything of a room. */
  forget(room: string, peer?: string): void {
    if (peer !== undefined) {
      this.current.delete(`${room}\n${peer}`);
      return;
    }
    for (const key of [...this.current.keys()]) if (key.startsWith(`${room}\n`)) this.current.delete(key);
  }

  private set(room: string, peer: string, sid: string): void {
    const key = `${room}\n${peer}`;
    this.current.delete(key);
    this.current.set(key, sid);
    if (this.current.size > this.maxPairs) this.current.delete(this.current.keys().next().value as string);
  }
}

/** A peer id in params: ours are 16 characters; other servers use UUIDs and the like. */
const MAX_PEER_ID_LENGTH = 128;

/**
 * A participant as other servers describe one (`peerId`, `peer_id` or `id`; `name` optional),
 * completed to the room contract's shape; undefined when there is no usable peer id.
 */
export function participantFromRpc(value: unknown, now: number): Participant | undefined {
  if (typeof value === 'string') value = { peerId: value };
  if (!isObject(value)) return undefined;
  const id = value.peerId ?? value.peer_id ?? value.id;
  const peerId = typeof id === 'number' ? String(id) : id;
  if (typeof peerId !== 'string' || peerId.length === 0 || peerId.length > MAX_PEER_ID_LENGTH) return undefined;
  const caps: Capabilities = isObject(value.capabilities) ? { ...(value.capabilities as Capabilities) } : { native: true };
  // Another stack's peer that says nothing about native DataChannels is a WebRTC peer: it can do P2P.
  caps.native = typeof caps.native === 'boolean' ? caps.native : true;
  const meta: Record<string, string> = {};
  if (isObject(value.meta)) for (const [k, v] of Object.entries(value.meta)) if (typeof v === 'string') meta[k] = v;
  return {
    peerId,
    name: typeof value.name === 'string' && value.name.length > 0 ? value.name.slice(0, 64) : `peer-${peerId.slice(0, 6)}`,
    userId: typeof value.userId === 'string' ? value.userId : null,
    capabilities: caps,
    meta,
    joinedAt: typeof value.joinedAt === 'number' ? value.joinedAt : now,
  };
}

/** The params of a notification or request, which must be an object (by name) for every signaling method. */
export function namedParams(method: string, params: unknown): Record<string, unknown> {
  if (params === undefined) return {};
  if (!isObject(params)) throw bad(method, `params must be an object (by name), got ${typeName(params)}`);
  return params;
}
