/**
 * The room contract's hub methods (Join, Leave, Signal, Relay, Members) and the hub's rules: the hub
 * stamps every sender, nothing crosses rooms, `to` must be a member of the same room.
 * docs/room-contract.md describes the same behaviour for other hub implementations. Membership
 * lives behind {@link RoomRegistry}: in a cluster, Join waits for the shared store and members on
 * other hubs are remote endpoints; this file tells only this hub's own connections about changes.
 */
import { ErrorCode, RtcAgentError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { derivePeerId } from '../protocol/peer-id.js';
import {
  CONTRACT_FEATURES,
  ClientMethod,
  ROOM_CONTRACT_VERSION,
  describeType,
  validateHello,
  validateRoomName,
  type JoinResult,
  type MembersResult,
  type Participant,
  type PeerLeftReason,
} from '../protocol/room-contract.js';
import { mayJoin, type AuthUser } from './auth.js';
import type { HubMetrics } from './metrics.js';
import type { ResolvedHubOptions } from './options.js';
import { deliverShared, type JoinOutcome, type LocalMember, type MemberEndpoint, type RegistryListener, type RoomMember, type RoomRegistry } from './room-registry.js';
import { SharedInvocation } from './shared-invocation.js';

/** The caller of a hub method, as the room methods see it. */
export interface Caller extends MemberEndpoint {
  readonly user: AuthUser | null;
  /** room → this caller's peer id in it. */
  readonly memberships: Map<string, string>;
  /** Peer id for a caller that sends no agentKey; fixed for the connection's life. */
  readonly fallbackPeerId: string;
}

export type HubMethodHandler = (caller: Caller, args: unknown[]) => unknown;

export class RoomMethods implements RegistryListener {
  /** Connections whose memberships were dropped: a Join still in flight for one must not add it back. */
  private readonly departed = new WeakSet<Caller>();

  constructor(
    private readonly registry: RoomRegistry,
    private readonly options: ResolvedHubOptions,
    private readonly metrics: HubMetrics,
    private readonly log: Logger,
  ) {
    registry.setListener(this);
  }

  /** Method table keyed by lower-case name: SignalR servers match targets case-insensitively. */
  table(): Map<string, HubMethodHandler> {
    return new Map<string, HubMethodHandler>([
      ['join', (c, a) => this.join(c, a)],
      ['leave', (c, a) => this.leave(c, a)],
      ['signal', (c, a) => this.signal(c, a)],
      ['relay', (c, a) => this.relay(c, a)],
      ['members', (c, a) => this.members(c, a)],
    ]);
  }

  join(caller: Caller, args: unknown[]): JoinResult | Promise<JoinResult> {
    expectArgs('Join', args, 1, 2);
    const room = validateRoomName(args[0]);
    const hello = validateHello(args[1]);
    if (!mayJoin(caller.user, room)) {
      throw new RtcAgentError(ErrorCode.FORBIDDEN, `not allowed to join room '${room}'`);
    }
    const limits = this.options.limits;
    const alreadyIn = caller.memberships.has(room);
    if (!alreadyIn && caller.memberships.size >= limits.maxRoomsPerConnection) {
      throw new RtcAgentError(ErrorCode.TOO_MANY_ROOMS, `a connection may be in at most ${limits.maxRoomsPerConnection} rooms`);
    }
    const peerId =
      caller.memberships.get(room) ??
      (hello.agentKey !== undefined ? derivePeerId(caller.user?.userId ?? null, hello.agentKey) : caller.fallbackPeerId);
    const draft = {
      peerId,
      // A name that was empty (or only control characters) falls back like a missing one.
      name: caller.user?.name ?? (hello.name || `peer-${peerId.slice(0, 6)}`),
      userId: caller.user?.userId ?? null,
      capabilities: hello.capabilities,
      meta: hello.meta,
    };
    const outcome = this.registry.join({ room, draft, caller, maxPeers: limits.maxPeersPerRoom });
    return outcome instanceof Promise ? outcome.then((o) => this.joined(caller, room, o)) : this.joined(caller, room, outcome);
  }

  private joined(caller: Caller, room: string, { participant, replaced }: JoinOutcome): JoinResult {
    const peerId = participant.peerId;
    if (replaced) this.replaced(room, replaced);
    if (this.departed.has(caller)) {
      // The connection went away while the registry was busy (cluster): undo it as its disconnect would have.
      if (this.registry.leave(room, peerId, caller.connectionId, 'disconnected').removed) this.peerLeft(room, peerId, 'disconnected');
    } else {
      caller.memberships.set(room, peerId);
      this.peerJoined(room, participant);
    }
    const others: Participant[] = [];
    for (const member of this.registry.members(room)) {
      if (member.participant.peerId !== peerId) others.push(member.participant);
    }
    this.log.debug({ room, peerId, members: others.length + 1 }, 'joined');
    const limits = this.options.limits;
    return {
      room,
      self: participant,
      participants: others,
      iceServers: this.options.iceServers,
      limits: {
        maxMessageBytes: limits.maxMessageBytes,
        maxPeersPerRoom: limits.maxPeersPerRoom,
        maxRoomsPerConnection: limits.maxRoomsPerConnection,
        messagesPerSecond: limits.messagesPerSecond,
      },
      contractVersion: ROOM_CONTRACT_VERSION,
      features: [...CONTRACT_FEATURES],
    };
  }

  /** Tells this hub's members (but the peer itself) that `participant` joined or changed. */
  peerJoined(room: string, participant: Participant): void {
    for (const member of this.registry.localMembers(room)) {
      if (member.participant.peerId !== participant.peerId) member.endpoint.sendInvocation(ClientMethod.PeerJoined, [room, participant]);
    }
  }

  /** Tells this hub's members that `peerId` left. */
  peerLeft(room: string, peerId: string, reason: PeerLeftReason): void {
    for (const member of this.registry.localMembers(room)) {
      member.endpoint.sendInvocation(ClientMethod.PeerLeft, [room, peerId, reason]);
    }
    this.log.debug({ room, peerId, reason }, 'left');
  }

  /**
   * The same agent came back on a new connection (e.g. after a network drop, or on another hub of
   * the cluster): the old connection loses the membership, the room keeps the peer (and its P2P links).
   */
  replaced(room: string, member: LocalMember): void {
    const old = member.endpoint;
    if (old.memberships.get(room) === member.participant.peerId) old.memberships.delete(room);
    old.sendInvocation(ClientMethod.PeerLeft, [room, member.participant.peerId, 'replaced' satisfies PeerLeftReason]);
    this.log.debug({ room, peerId: member.participant.peerId }, 'membership moved to a new connection');
  }

  /**
   * The room's members as the hub lists them now (the caller excluded). Clients use it to reconcile:
   * a peer their heartbeat gave up on that the hub still lists, or one they missed a PeerJoined of.
   */
  members(caller: Caller, args: unknown[]): MembersResult {
    expectArgs('Members', args, 1, 1);
    const { room, from } = this.senderIn(caller, args[0]);
    const participants: Participant[] = [];
    for (const member of this.registry.members(room)) if (member.participant.peerId !== from) participants.push(member.participant);
    return { room, participants };
  }

  /** Leaving a room one is not in is not an error: Leave is idempotent. */
  leave(caller: Caller, args: unknown[]): Promise<void> | undefined {
    expectArgs('Leave', args, 1, 1);
    const room = validateRoomName(args[0]);
    return this.removeMembership(caller, room, 'left');
  }

  /** Drops every membership of a connection that went away. */
  disconnected(caller: Caller): void {
    this.departed.add(caller);
    for (const room of [...caller.memberships.keys()]) void this.removeMembership(caller, room, 'disconnected');
  }

  /** Completes once the other hubs of a cluster were told, so a completed Leave is seen everywhere. */
  private removeMembership(caller: Caller, room: string, reason: PeerLeftReason): Promise<void> | undefined {
    const peerId = caller.memberships.get(room);
    if (peerId === undefined) return undefined;
    caller.memberships.delete(room);
    const outcome = this.registry.leave(room, peerId, caller.connectionId, reason);
    if (!outcome.removed) return undefined;
    this.peerLeft(room, peerId, reason);
    return outcome.propagated;
  }

  signal(caller: Caller, args: unknown[]): void {
    expectArgs('Signal', args, 3, 3);
    const { room, from } = this.senderIn(caller, args[0]);
    const to = this.recipientIn(room, args[1], from);
    const signal = args[2];
    if (typeof signal !== 'object' || signal === null || Array.isArray(signal) || signal instanceof Uint8Array) {
      throw new RtcAgentError(ErrorCode.BAD_REQUEST, `Signal's signal must be an object, got ${describeType(signal)}`);
    }
    to.endpoint.sendInvocation(ClientMethod.Signal, [room, from, signal]);
    this.metrics.messagesRelayed.inc({ kind: 'signal' });
  }

  /**
   * Relays `payload` (base64 text from a JSON client, bytes from a MessagePack one) to one member
   * or every other member, each in its own protocol. Completes once the recipients took it —
   * bounded: a recipient that lags (slow-member.ts) is not waited for, so it stalls nobody.
   */
  relay(caller: Caller, args: unknown[]): Promise<void> | undefined {
    expectArgs('Relay', args, 3, 3);
    const { room, from } = this.senderIn(caller, args[0]);
    const payload = args[2];
    if (typeof payload !== 'string' && !(payload instanceof Uint8Array)) {
      throw new RtcAgentError(ErrorCode.BAD_REQUEST, `Relay's payload must be a base64 string (JSON) or binary (MessagePack), got ${describeType(payload)}`);
    }
    const recipients: RoomMember[] = [];
    const broadcast = args[1] === null || args[1] === undefined;
    if (broadcast) {
      // Members on other hubs get one copy per hub through the registry, below.
      for (const member of this.registry.localMembers(room)) {
        if (member.participant.peerId !== from) recipients.push(member);
      }
    } else {
      recipients.push(this.recipientIn(room, args[1], from));
    }
    // Serialised once per protocol for every recipient (the payload dominates the cost).
    const invocation = SharedInvocation.relayed(room, from, payload);
    if (typeof payload === 'string' && recipients.some((m) => m.endpoint.protocol === 'messagepack')) {
      // Converted before anyone gets it, so a payload that is not base64 fails the whole Relay.
      invocation.messagePack();
    }
    let waits: Promise<void>[] | undefined;
    let delivered = 0;
    let dropped = 0;
    if (broadcast) {
      const remote = this.registry.broadcastRemote(room, from, invocation);
      if (remote > 0) {
        delivered += remote;
        const wait = this.registry.remoteWritable(room);
        if (wait) (waits ??= []).push(this.boundedWait(wait));
      }
    }
    for (const member of recipients) {
      if (!deliverShared(member.endpoint, invocation, true)) {
        dropped++;
        continue;
      }
      delivered++;
      const wait = member.endpoint.whenWritable();
      if (wait) (waits ??= []).push(this.boundedWait(wait));
    }
    this.metrics.messagesRelayed.inc({ kind: 'relay' }, delivered);
    this.metrics.bytesRelayed.inc({ kind: 'relay' }, payload.length * delivered);
    if (dropped > 0) this.metrics.relayDropped.inc({ reason: 'slow_member' }, dropped);
    // Hold this sender's next message until slow recipients drain: end-to-end backpressure.
    return waits ? Promise.all(waits).then(() => undefined) : undefined;
  }

  /**
   * A sender waits at most the slow-member bound for anyone, also for members on other hubs
   * (whose own hubs apply the same rule) and endpoints that do not bound their waits themselves.
   */
  private boundedWait(wait: Promise<void>): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.options.slowMemberWaitMs);
      void wait.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private senderIn(caller: Caller, roomArg: unknown): { room: string; from: string } {
    const room = validateRoomName(roomArg);
    const from = caller.memberships.get(room);
    if (from === undefined) throw new RtcAgentError(ErrorCode.NOT_IN_ROOM, `not a member of room '${room}'; call Join first`);
    return { room, from };
  }

  private recipientIn(room: string, toArg: unknown, from: string): RoomMember {
    if (typeof toArg !== 'string') {
      throw new RtcAgentError(ErrorCode.BAD_REQUEST, `'to' must be a peer id string, got ${describeType(toArg)}`);
    }
    const member = this.registry.get(room, toArg);
    if (!member || toArg === from) {
      throw new RtcAgentError(ErrorCode.PEER_NOT_IN_ROOM, `peer '${toArg.slice(0, 64)}' is not a member of room '${room}'`);
    }
    return member;
  }
}

function expectArgs(method: string, args: unknown[], min: number, max: number): void {
  if (args.length < min || args.length > max) {
    const want = min === max ? `${min}` : `${min}-${max}`;
    throw new RtcAgentError(ErrorCode.BAD_REQUEST, `${method} takes ${want} arguments, got ${args.length}`);
  }
}
