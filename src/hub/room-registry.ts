/**
 * Room membership and delivery: the hub's backplane seam. A single hub keeps everything in this
 * process ({@link InProcessRoomRegistry}); a cluster of hubs on Redis (cluster/cluster-registry.ts)
 * implements the same interface, with members connected to other hub processes carried as remote
 * endpoints. Hub methods never assume a member is connected to this process: they only go through
 * this interface.
 *
 * What may be asynchronous: membership changes (`join`, and the propagation of `leave`) need an
 * atomic step in the shared store. What stays synchronous: lookups and delivery, the hot path of
 * every Signal and Relay, answered from this hub's own view of the room.
 */
import { ErrorCode, RtcAgentError } from '../errors.js';
import type { Participant, PeerLeftReason } from '../protocol/room-contract.js';
import type { Caller } from './room-methods.js';
import type { SharedInvocation } from './shared-invocation.js';
import type { HubProtocolName } from './wire-codec.js';

/** Where a member's messages go: a local connection's send path, or a hub node elsewhere. */
export interface MemberEndpoint {
  readonly connectionId: string;
  /** The hub node holding the connection when that is another process; undefined for local members. */
  readonly remoteNode?: string | undefined;
  /** The SignalR hub protocol of a local connection (null before its handshake; absent: not SignalR or remote). */
  readonly protocol?: HubProtocolName | null;
  sendInvocation(target: string, args: unknown[]): void;
  /** Sends an Invocation already serialised as a SignalR JSON record (shared across recipients). */
  sendInvocationRecord(record: string): void;
  /**
   * Sends a shared invocation in the member's own protocol (JSON or MessagePack); a `droppable`
   * one (a Relayed frame) may be dropped for a member that lags (slow-member.ts): false then.
   * Endpoints without it get the JSON record.
   */
  sendShared?(invocation: SharedInvocation, droppable: boolean): boolean;
  /**
   * Resolves once the member's queue is below its high-water mark, or once it is found to lag
   * (undefined: nobody needs to wait). Callers bound the wait in any case.
   */
  whenWritable(): Promise<void> | undefined;
}

/** Hands `invocation` to a member in the form it takes; false when a lagging member dropped it. */
export function deliverShared(endpoint: MemberEndpoint, invocation: SharedInvocation, droppable: boolean): boolean {
  if (endpoint.sendShared) return endpoint.sendShared(invocation, droppable);
  endpoint.sendInvocationRecord(invocation.json());
  return true;
}

export interface RoomMember {
  participant: Participant;
  endpoint: MemberEndpoint;
}

/** A member connected to this hub: its endpoint is the caller's own connection. */
export interface LocalMember extends RoomMember {
  endpoint: Caller;
}

/** A participant before the registry decides its `joinedAt` (kept across a rejoin of the same peer). */
export type ParticipantDraft = Omit<Participant, 'joinedAt'>;

export interface JoinRequest {
  room: string;
  draft: ParticipantDraft;
  caller: Caller;
  /** Members the room may hold (across every hub of a cluster); the joiner counts unless it is already in. */
  maxPeers: number;
}

export interface JoinOutcome {
  participant: Participant;
  /** A local member of the same peer id on another connection that this join replaced. */
  replaced: LocalMember | undefined;
}

export interface LeaveOutcome {
  /** False when the member had already moved to another connection (or was not there). */
  removed: boolean;
  /** Settles once the other hubs were told (cluster only; never rejects). */
  propagated?: Promise<void> | undefined;
}

/**
 * What a registry reports about changes that did not start from a hub method of this hub (a member
 * joining or leaving on another hub of the cluster, a hub that died). RoomMethods tells its local
 * members, exactly as it does for its own joins and leaves.
 */
export interface RegistryListener {
  peerJoined(room: string, participant: Participant): void;
  peerLeft(room: string, peerId: string, reason: PeerLeftReason): void;
  /** A local member's peer id joined elsewhere: its connection no longer holds the membership. */
  replaced(room: string, member: LocalMember): void;
}

export interface RoomRegistry {
  /** Adds or replaces a member of this hub. Throws ROOM_FULL (the count is cluster-wide in a cluster). */
  join(request: JoinRequest): JoinOutcome | Promise<JoinOutcome>;
  /** Removes the member if it is still bound to `connectionId`. */
  leave(room: string, peerId: string, connectionId: string, reason: PeerLeftReason): LeaveOutcome;
  get(room: string, peerId: string): RoomMember | undefined;
  /** Every member this hub lists, on this hub or another. */
  members(room: string): Iterable<RoomMember>;
  /** The members connected to this hub. */
  localMembers(room: string): Iterable<LocalMember>;
  /**
   * Hands a shared invocation to the room's members on other hubs, except `from` (a broadcast
   * Relay); returns how many members it is for. Local members are the caller's to serve.
   */
  broadcastRemote(room: string, from: string, invocation: SharedInvocation): number;
  /** Resolves when the room's members on other hubs take more again (undefined: they do now). */
  remoteWritable(room: string): Promise<void> | undefined;
  setListener(listener: RegistryListener): void;
  /** Rooms and memberships of this hub's own connections. */
  stats(): { rooms: number; members: number };
}

export class InProcessRoomRegistry implements RoomRegistry {
  private readonly rooms = new Map<string, Map<string, LocalMember>>();
  private memberCount = 0;

  join({ room, draft, caller, maxPeers }: JoinRequest): JoinOutcome {
    let members = this.rooms.get(room);
    const previous = members?.get(draft.peerId);
    const occupied = (members?.size ?? 0) - (previous ? 1 : 0);
    if (occupied >= maxPeers) throw roomFull(room, maxPeers);
    if (!members) {
      members = new Map();
      this.rooms.set(room, members);
    }
    const participant: Participant = { ...draft, joinedAt: previous?.participant.joinedAt ?? Date.now() };
    if (!previous) this.memberCount++;
    members.set(draft.peerId, { participant, endpoint: caller });
    return { participant, replaced: previous && previous.endpoint.connectionId !== caller.connectionId ? previous : undefined };
  }

  leave(room: string, peerId: string, connectionId: string): LeaveOutcome {
    const members = this.rooms.get(room);
    const member = members?.get(peerId);
    if (!members || !member || member.endpoint.connectionId !== connectionId) return { removed: false };
    members.delete(peerId);
    this.memberCount--;
    if (members.size === 0) this.rooms.delete(room);
    return { removed: true };
  }

  get(room: string, peerId: string): RoomMember | undefined {
    return this.rooms.get(room)?.get(peerId);
  }

  members(room: string): Iterable<RoomMember> {
    return this.rooms.get(room)?.values() ?? [];
  }

  localMembers(room: string): Iterable<LocalMember> {
    return this.rooms.get(room)?.values() ?? [];
  }

  broadcastRemote(): number {
    // Every member is local.
    return 0;
  }

  remoteWritable(): undefined {
    return undefined;
  }

  setListener(): void {
    // Nothing happens here that a hub method of this hub did not start.
  }

  stats(): { rooms: number; members: number } {
    return { rooms: this.rooms.size, members: this.memberCount };
  }
}

/** The error for a room at its member limit (the same text on one hub and in a cluster). */
export function roomFull(room: string, maxPeers: number): RtcAgentError {
  return new RtcAgentError(ErrorCode.ROOM_FULL, `room '${room}' is full (${maxPeers} members)`);
}
