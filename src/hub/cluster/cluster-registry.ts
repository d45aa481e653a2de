/**
 * The RoomRegistry of a hub in a cluster. Membership changes go through Redis (presence-store.ts,
 * atomic scripts that also announce them); lookups and deliveries are answered from this hub's
 * view of each room it has members in (room-view.ts), kept current by the announcements on the
 * room's channel, which this hub subscribes to while it has members there.
 *
 * Deliveries: to a local member, straight to its connection (as on one hub); to a member on
 * another hub, one message on that hub's channel; a broadcast, one message on the room channel
 * for all other hubs. Everything a hub publishes goes through one Redis connection, and Redis
 * delivers in the order it ran commands, so messages from one sender reach each recipient in order.
 *
 * While Redis is unreachable the hub keeps serving its own members (joins count the members it
 * knows of), refuses sends to members on other hubs (RTC_ERR_SEND_TIMEOUT: nothing is queued for
 * later), and {@link ClusterRegistry.resync} puts presence right once Redis is back.
 */
import { ErrorCode, RtcAgentError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import type { Participant, PeerLeftReason } from '../../protocol/room-contract.js';
import type { BackplaneMetrics } from '../metrics.js';
import {
  deliverShared,
  roomFull,
  type JoinOutcome,
  type JoinRequest,
  type LeaveOutcome,
  type LocalMember,
  type RegistryListener,
  type RoomMember,
  type RoomRegistry,
} from '../room-registry.js';
import type { Caller } from '../room-methods.js';
import { RELAYED_PAYLOAD_ARGUMENT, SharedInvocation } from '../shared-invocation.js';
import { decodeEnvelope, encodeMessage, encodePressure, type Envelope, type MessageEnvelope } from './envelope.js';
import type { ClusterKeys } from './keys.js';
import type { HeldMember, PresenceStore } from './presence-store.js';
import { BATCH_SEPARATOR, type RedisLink } from './redis-link.js';
import { pressureKey, RemoteEndpoint, type RemoteRoute } from './remote-endpoint.js';
import { RoomView, type ViewEffect } from './room-view.js';

/** Rooms resynchronised at once after a reconnect: enough to be quick, few enough not to flood Redis. */
const RESYNC_BATCH = 32;

export interface ClusterRegistryOptions {
  node: string;
  keys: ClusterKeys;
  link: RedisLink;
  store: PresenceStore;
  metrics: BackplaneMetrics;
  log: Logger;
}

/** ms since the epoch with sub-ms precision, for publish → receive latency across processes. */
function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

function held(member: LocalMember): HeldMember {
  const { joinedAt, ...rest } = member.participant;
  // The same key order as the draft Join wrote, so an unchanged member is an unchanged entry.
  return { peerId: rest.peerId, connectionId: member.endpoint.connectionId, joinedAt, participantJson: JSON.stringify(rest) };
}

export class ClusterRegistry implements RoomRegistry, RemoteRoute {
  private readonly views = new Map<string, RoomView>();
  private listener: RegistryListener | null = null;
  /** Peers being joined on this hub, per room: a resync must not remove their fresh entries. */
  private readonly joining = new Map<string, Map<string, number>>();
  /** Repairs queued per view: a snapshot after lost messages, or a sync when Redis lost entries. */
  private readonly repairs = new Map<RoomView, 'refresh' | 'sync'>();
  /** Remote connections whose hub said they are over their high-water mark: waiters to release. */
  private readonly pressure = new Map<string, (() => void)[]>();
  /** Local connections over their high-water mark → the hubs told so (to be told when they drain). */
  private readonly toldBusy = new Map<Caller, Set<string>>();
  private readonly counters: {
    relayIn: { inc(): void };
    signalIn: { inc(): void };
    relayOut: { inc(): void };
    signalOut: { inc(): void };
    membershipIn: { inc(): void };
    membershipOut: { inc(): void };
    pressureIn: { inc(): void };
    pressureOut: { inc(): void };
  };

  constructor(private readonly o: ClusterRegistryOptions) {
    const m = o.metrics.messages;
    this.counters = {
      relayIn: m.labels('in', 'relay'),
      signalIn: m.labels('in', 'signal'),
      relayOut: m.labels('out', 'relay'),
      signalOut: m.labels('out', 'signal'),
      membershipIn: m.labels('in', 'membership'),
      membershipOut: m.labels('out', 'membership'),
      pressureIn: m.labels('in', 'pressure'),
      pressureOut: m.labels('out', 'pressure'),
    };
  }

  setListener(listener: RegistryListener): void {
    this.listener = listener;
  }

  // ------------------------------------------------------------ membership

  async join(request: JoinRequest): Promise<JoinOutcome> {
    const view = this.viewFor(request.room);
    view.pendingJoins++;
    const peerId = request.draft.peerId;
    this.markJoining(request.room, peerId, 1);
    try {
      if (this.o.link.connected) {
        try {
          return await this.joinShared(view, request);
        } catch (err) {
          if (err instanceof RtcAgentError) throw err;
          this.o.log.debug({ err: (err as Error).message, room: request.room }, 'join through Redis failed; the member is listed on this hub until presence is resynchronised');
        }
      }
      return this.joinLocally(view, request);
    } finally {
      this.markJoining(request.room, peerId, -1);
      view.pendingJoins--;
      this.releaseIfIdle(view);
    }
  }

  private async joinShared(view: RoomView, { room, draft, caller, maxPeers }: JoinRequest): Promise<JoinOutcome> {
    // Subscribed first: every change after the script's snapshot then reaches this view.
    await this.o.link.subscribe(this.o.keys.roomChannel(room));
    const answer = await this.o.store.join(room, draft.peerId, caller.connectionId, JSON.stringify(draft), maxPeers);
    if (answer.full) throw roomFull(room, maxPeers);
    this.counters.membershipOut.inc();
    const participant: Participant = { ...draft, joinedAt: answer.joinedAt };
    const member: LocalMember = { participant, endpoint: caller };
    // The same peer joined on another hub right after this join ran, and the view already knows.
    const newer = view.remote.get(draft.peerId);
    const superseded = newer !== undefined && newer.seq > answer.seq;
    // The snapshot first: what it changes is news to the members already here, not to the joiner,
    // whose Join result lists the room as it is.
    this.apply(view, view.applySnapshot(answer.snapshot));
    const replaced = superseded ? undefined : view.addLocal(member);
    // After the Join completion has gone out, as it would have on one hub.
    if (superseded) setImmediate(() => this.listener?.replaced(room, member));
    return { participant, replaced };
  }

  /** Redis is unreachable: the member is listed here, counted against the members this hub knows of. */
  private joinLocally(view: RoomView, { room, draft, caller, maxPeers }: JoinRequest): JoinOutcome {
    const previous = view.get(draft.peerId);
    if (view.size - (previous ? 1 : 0) >= maxPeers) throw roomFull(room, maxPeers);
    const participant: Participant = { ...draft, joinedAt: previous?.participant.joinedAt ?? Date.now() };
    const replaced = view.addLocal({ participant, endpoint: caller });
    return { participant, replaced };
  }

  leave(room: string, peerId: string, connectionId: string, reason: PeerLeftReason): LeaveOutcome {
    const view = this.views.get(room);
    const removed = view?.removeLocal(peerId, connectionId);
    if (!view || !removed) return { removed: false };
    let propagated: Promise<void> | undefined;
    if (this.o.link.connected) {
      propagated = this.o.store.leave(room, peerId, connectionId, reason).then(
        (seq) => {
          if (seq > 0) this.counters.membershipOut.inc();
        },
        (err: unknown) => this.o.log.debug({ err: (err as Error).message, room }, 'leave through Redis failed; the resync after reconnecting removes it'),
      );
    }
    this.releaseIfIdle(view);
    return { removed: true, propagated };
  }

  get(room: string, peerId: string): RoomMember | undefined {
    return this.views.get(room)?.get(peerId);
  }

  members(room: string): Iterable<RoomMember> {
    return this.views.get(room)?.members() ?? [];
  }

  localMembers(room: string): Iterable<LocalMember> {
    return this.views.get(room)?.local.values() ?? [];
  }

  stats(): { rooms: number; members: number } {
    let rooms = 0;
    let members = 0;
    for (const view of this.views.values()) {
      if (view.local.size === 0) continue;
      rooms++;
      members += view.local.size;
    }
    return { rooms, members };
  }

  // -------------------------------------------------------------- delivery

  broadcastRemote(room: string, from: string, invocation: SharedInvocation): number {
    const view = this.views.get(room);
    if (!view || view.remote.size === 0) return 0;
    // The backplane carries JSON records; a hub converts for its MessagePack members (shared-invocation.ts).
    const text = encodeMessage({ method: 'relay', origin: this.o.node, sentAt: wallNow(), room, from, to: null, record: invocation.json() });
    if (!this.o.link.publish(this.o.keys.roomChannel(room), text)) {
      this.o.metrics.dropped.inc({ reason: 'unreachable' }, view.remote.size);
      return 0;
    }
    this.counters.relayOut.inc();
    return view.remote.size;
  }

  remoteWritable(room: string): Promise<void> | undefined {
    const publishing = this.o.link.whenPublishable();
    if (publishing || this.pressure.size === 0) return publishing;
    const view = this.views.get(room);
    if (!view) return undefined;
    for (const member of view.remote.values()) {
      const wait = this.pressureWait((member.endpoint as RemoteEndpoint).pressureKey);
      if (wait) return wait;
    }
    return undefined;
  }

  sendDirected(to: RemoteEndpoint, method: 'relay' | 'signal', record: string): void {
    const text = encodeMessage({ method, origin: this.o.node, sentAt: wallNow(), room: to.room, from: '', to: to.peerId, record });
    if (!this.o.link.publish(this.o.keys.nodeChannel(to.remoteNode), text)) {
      this.o.metrics.dropped.inc({ reason: 'unreachable' });
      throw new RtcAgentError(
        ErrorCode.SEND_TIMEOUT,
        `peer '${to.peerId}' is connected to another hub, which this hub cannot reach while Redis is unavailable; try again`,
      );
    }
    (method === 'relay' ? this.counters.relayOut : this.counters.signalOut).inc();
  }

  whenWritable(to: RemoteEndpoint): Promise<void> | undefined {
    return this.o.link.whenPublishable() ?? (this.pressure.size === 0 ? undefined : this.pressureWait(to.pressureKey));
  }

  private pressureWait(key: string): Promise<void> | undefined {
    const waiters = this.pressure.get(key);
    if (!waiters) return undefined;
    return new Promise((resolve) => waiters.push(resolve));
  }

  private releasePressureOf(key: string): void {
    const waiters = this.pressure.get(key);
    if (!waiters) return;
    this.pressure.delete(key);
    for (const resolve of waiters) resolve();
  }

  /** Releases everyone waiting on remote pressure (the backplane went away: nobody will say "drained"). */
  releasePressure(): void {
    const all = [...this.pressure.values()];
    this.pressure.clear();
    for (const waiters of all) for (const resolve of waiters) resolve();
  }

  // ------------------------------------------------------------- inbound

  /** A message (or a batch of them) on one of this hub's channels (its node channel, or a room channel). */
  onMessage(channel: string, text: string): void {
    if (text.includes(BATCH_SEPARATOR)) {
      for (const part of text.split(BATCH_SEPARATOR)) this.onOne(channel, part);
      return;
    }
    this.onOne(channel, text);
  }

  private onOne(channel: string, text: string): void {
    const envelope = decodeEnvelope(text);
    const channelRoom = this.o.keys.roomOfChannel(channel);
    if (!envelope || (channelRoom !== undefined && envelope.kind !== 'pressure' && envelope.room !== channelRoom)) {
      this.o.metrics.dropped.inc({ reason: 'malformed' });
      this.o.log.debug({ channel, head: text.slice(0, 40) }, 'malformed backplane message dropped');
      return;
    }
    this.handle(envelope);
  }

  private handle(envelope: Envelope): void {
    switch (envelope.kind) {
      case 'joined':
      case 'left': {
        this.counters.membershipIn.inc();
        // A connection that left (or whose hub died) will never say it drained.
        if (envelope.kind === 'left' && this.pressure.size > 0) this.releasePressureOf(pressureKey(envelope.node, envelope.connectionId));
        const view = this.views.get(envelope.room);
        if (view) this.apply(view, view.applyEvent(envelope));
        return;
      }
      case 'message':
        this.onRemoteMessage(envelope);
        return;
      case 'pressure': {
        this.counters.pressureIn.inc();
        const key = pressureKey(envelope.node, envelope.connectionId);
        if (envelope.busy) {
          if (!this.pressure.has(key)) this.pressure.set(key, []);
        } else {
          this.releasePressureOf(key);
        }
        return;
      }
    }
  }

  private onRemoteMessage(m: MessageEnvelope): void {
    // This hub's own broadcast, back from the room channel: its local members had it already.
    if (m.origin === this.o.node) return;
    (m.method === 'relay' ? this.counters.relayIn : this.counters.signalIn).inc();
    this.o.metrics.latency.observe(Math.max(0, wallNow() - m.sentAt) / 1000);
    const view = this.views.get(m.room);
    // Parsed (and its payload decoded) only if one of this hub's MessagePack members needs it.
    const invocation = SharedInvocation.fromJsonRecord(m.record, m.method === 'relay' ? RELAYED_PAYLOAD_ARGUMENT : undefined);
    if (m.to !== null) {
      const member = view?.local.get(m.to);
      if (member) this.deliver(member, m, invocation);
      else this.o.metrics.dropped.inc({ reason: 'gone' });
      return;
    }
    if (!view) return;
    for (const member of view.local.values()) {
      if (member.participant.peerId !== m.from) this.deliver(member, m, invocation);
    }
  }

  private deliver(member: LocalMember, m: MessageEnvelope, invocation: SharedInvocation): void {
    const conn = member.endpoint;
    try {
      // A lagging member may drop a relayed frame; the sender's end-to-end resend repairs it.
      deliverShared(conn, invocation, m.method === 'relay');
    } catch (err) {
      // A JSON sender's payload that is not base64 cannot reach a MessagePack member.
      this.o.metrics.dropped.inc({ reason: 'malformed' });
      this.o.log.debug({ room: m.room, err: (err as Error).message }, 'relayed payload could not be converted for a MessagePack member; dropped');
      return;
    }
    // Backpressure across hubs: tell the sender's hub once that this connection is behind, and
    // again when it drained.
    const told = this.toldBusy.get(conn);
    if (told?.has(m.origin)) return;
    if (told) {
      told.add(m.origin);
      this.sendPressure(m.origin, conn, true);
      return;
    }
    const wait = conn.whenWritable();
    if (!wait) return;
    const origins = new Set([m.origin]);
    this.toldBusy.set(conn, origins);
    this.sendPressure(m.origin, conn, true);
    void wait.then(() => {
      this.toldBusy.delete(conn);
      for (const origin of origins) this.sendPressure(origin, conn, false);
    });
  }

  private sendPressure(origin: string, conn: Caller, busy: boolean): void {
    if (this.o.link.publish(this.o.keys.nodeChannel(origin), encodePressure({ node: this.o.node, connectionId: conn.connectionId, busy }))) {
      this.counters.pressureOut.inc();
    }
  }

  // -------------------------------------------------------------- views

  private viewFor(room: string): RoomView {
    let view = this.views.get(room);
    if (!view) {
      view = new RoomView(room, this.o.node, (entry) => new RemoteEndpoint(room, entry.peerId, entry.node, entry.connectionId, this));
      this.views.set(room, view);
    }
    return view;
  }

  private releaseIfIdle(view: RoomView): void {
    if (!view.idle || this.views.get(view.room) !== view) return;
    this.views.delete(view.room);
    this.repairs.delete(view);
    void this.o.link.unsubscribe(this.o.keys.roomChannel(view.room));
  }

  private markJoining(room: string, peerId: string, delta: 1 | -1): void {
    let peers = this.joining.get(room);
    if (!peers) {
      if (delta < 0) return;
      peers = new Map();
      this.joining.set(room, peers);
    }
    const n = (peers.get(peerId) ?? 0) + delta;
    if (n > 0) peers.set(peerId, n);
    else peers.delete(peerId);
    if (peers.size === 0) this.joining.delete(room);
  }

  private apply(view: RoomView, effects: ViewEffect[]): void {
    for (const effect of effects) {
      switch (effect.type) {
        case 'joined':
          this.listener?.peerJoined(view.room, effect.participant);
          break;
        case 'left':
          this.listener?.peerLeft(view.room, effect.peerId, effect.reason);
          break;
        case 'replaced':
          this.listener?.replaced(view.room, effect.member);
          break;
        case 'lost':
          this.scheduleRepair(view, 'sync');
          break;
        case 'gap':
          this.scheduleRepair(view, 'refresh');
          break;
      }
    }
    this.releaseIfIdle(view);
  }

  private scheduleRepair(view: RoomView, kind: 'refresh' | 'sync'): void {
    const queued = this.repairs.get(view);
    if (queued === kind || queued === 'sync') return;
    const first = queued === undefined;
    this.repairs.set(view, kind);
    if (first) setImmediate(() => void this.repair(view));
  }

  private async repair(view: RoomView): Promise<void> {
    const kind = this.repairs.get(view);
    this.repairs.delete(view);
    if (!kind || !this.o.link.connected || this.views.get(view.room) !== view) return;
    try {
      if (kind === 'sync') await this.syncRoom(view, {});
      else this.apply(view, view.applySnapshot(await this.o.store.snapshot(view.room)));
    } catch (err) {
      // The link went away: the resync after reconnecting covers this room too.
      this.o.log.debug({ err: (err as Error).message, room: view.room, kind }, 'room repair failed');
    }
  }

  /** Writes this hub's members of a room back to Redis and takes the room's listing from the answer. */
  private async syncRoom(view: RoomView, options: { force?: boolean; keepMissing?: (node: string) => boolean }): Promise<void> {
    const members = [...view.local.values()].map(held);
    const joining = [...(this.joining.get(view.room)?.keys() ?? [])];
    const { snapshot, replaced } = await this.o.store.sync(view.room, members, joining);
    for (const peerId of replaced) {
      const member = view.local.get(peerId);
      if (!member) continue;
      view.local.delete(peerId);
      this.listener?.replaced(view.room, member);
    }
    this.apply(view, view.applySnapshot(snapshot, options));
  }

  /**
   * After Redis came back (or took this hub for dead): removes this hub's entries of members that
   * left meanwhile, writes back the ones it holds, and brings every view up to date, telling local
   * members what changed. `keepMissing(node)`: hubs that may still be re-adding their members.
   */
  async resync(keepMissing: (node: string) => boolean): Promise<void> {
    const active = [...this.views.values()].filter((v) => v.local.size > 0);
    await this.o.store.prune(active.map((v) => v.room));
    for (let i = 0; i < active.length; i += RESYNC_BATCH) {
      await Promise.all(
        active.slice(i, i + RESYNC_BATCH).map(async (view) => {
          await this.o.link.subscribe(this.o.keys.roomChannel(view.room));
          await this.syncRoom(view, { force: true, keepMissing });
        }),
      );
    }
  }

  /** Drops the remote members a resync kept whose hubs did not come back to re-add them. */
  async confirmKept(): Promise<void> {
    for (const view of [...this.views.values()]) {
      if (view.unconfirmed.size === 0) continue;
      const snapshot = await this.o.store.snapshot(view.room);
      this.apply(view, view.confirmAbsent(snapshot));
    }
  }
}
