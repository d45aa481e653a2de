/**
 * What `announce` answers, as the engine needs it: rtc-agent's hub returns the whole room-contract
 * Join result beside the issue's `{ peerId, participants }`; other servers return just those two
 * (participants in their own shape), and the rest is filled in with this agent's own hello and
 * the defaults of a hub that says nothing about its limits.
 */
import { DEFAULT_MAX_MESSAGE_BYTES } from '../constants.js';
import { ErrorCode, RtcAgentError } from '../errors.js';
import { isObject } from '../protocol/jsonrpc/messages.js';
import { participantFromRpc } from '../protocol/jsonrpc/signaling.js';
import { ROOM_CONTRACT_VERSION, type IceServer, type JoinHello, type JoinResult, type Participant } from '../protocol/room-contract.js';

/** Limits assumed of a server that names none: rtc-agent hub's defaults, which suit any sane server. */
const ASSUMED_LIMITS = { maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES, maxPeersPerRoom: 64, maxRoomsPerConnection: 32, messagesPerSecond: 2_000 };

function isParticipant(value: unknown): value is Participant {
  return isObject(value) && typeof value.peerId === 'string' && typeof value.name === 'string' && isObject(value.capabilities);
}

/** The participants a server listed (any shape {@link participantFromRpc} reads), without `self`. */
export function participantsOf(value: unknown, self: string, now: number): Participant[] {
  if (!Array.isArray(value)) return [];
  const out: Participant[] = [];
  for (const entry of value) {
    const p = participantFromRpc(entry, now);
    if (p && p.peerId !== self) out.push(p);
  }
  return out;
}

/** The Join result for `announce`'s result; throws RTC_ERR_PROTOCOL when it names no peer id. */
export function joinResultOf(raw: unknown, room: string, hello: JoinHello, now: number): JoinResult {
  if (!isObject(raw)) throw new RtcAgentError(ErrorCode.PROTOCOL, `announce returned ${raw === null ? 'null' : typeof raw}, not an object with a peerId`);
  if (isParticipant(raw.self) && isObject(raw.limits) && typeof raw.contractVersion === 'number') {
    // rtc-agent's hub: the room contract's own result.
    return { ...(raw as unknown as JoinResult), participants: participantsOf(raw.participants, raw.self.peerId, now) };
  }
  const peerId = typeof raw.peerId === 'number' ? String(raw.peerId) : raw.peerId ?? raw.peer_id ?? raw.id;
  if (typeof peerId !== 'string' || peerId.length === 0) throw new RtcAgentError(ErrorCode.PROTOCOL, 'announce returned no peerId');
  const iceServers: IceServer[] = Array.isArray(raw.iceServers) ? (raw.iceServers as unknown[]).filter((s): s is IceServer => isObject(s) && (typeof s.urls === 'string' || Array.isArray(s.urls))) : [];
  return {
    room,
    self: { peerId, name: hello.name ?? `peer-${peerId.slice(0, 6)}`, userId: null, capabilities: hello.capabilities ?? { native: false }, meta: hello.meta ?? {}, joinedAt: now },
    participants: participantsOf(raw.participants ?? raw.peers, peerId, now),
    iceServers,
    limits: { ...ASSUMED_LIMITS },
    contractVersion: ROOM_CONTRACT_VERSION,
    features: [],
  };
}
