/**
 * A hub in memory for the engine's unit suite: it keeps rooms' members and routes Signal, Relay,
 * PeerJoined and PeerLeft between several AgentCores the way the room contract
 * (docs/room-contract.md) says a hub does — the sender stamped by the hub, `PEER_NOT_IN_ROOM` for
 * a `to` that is not a member, a peer id moving to a newer connection (`replaced`), `Members` only
 * with the `members` feature. Tests can drop, hold (stall) and release deliveries, change them in
 * flight, forge deliveries from a member, gate `Members` answers, and drop or restore a client's
 * connection.
 *
 * Platform-neutral (no Node APIs) and timer-free: deliveries run in microtasks, in order.
 */
import { ErrorCode, RtcAgentError } from '../../../src/errors.js';
import { Emitter } from '../../../src/engine/emitter.js';
import type { RoomInbound, RoomSignaling, Signaling, SignalingEvents, SignalingState } from '../../../src/engine/signaling.js';
import type { JoinHello, JoinResult, Participant, SignalPayload } from '../../../src/protocol/room-contract.js';

/** One thing the hub hands a member (`to`). `from` is the member that caused it (undefined: the hub itself). */
export type Delivery =
  | { kind: 'peerJoined'; room: string; to: string; from?: undefined; participant: Participant }
  | { kind: 'peerLeft'; room: string; to: string; from?: undefined; peerId: string; reason: string }
  | { kind: 'signal'; room: string; to: string; from: string; signal: SignalPayload }
  | { kind: 'relayed'; room: string; to: string; from: string; payload: Uint8Array };

/** A call a client made (accepted or refused), for tests that count probes or Members requests. */
export interface HubCall {
  method: 'Join' | 'Leave' | 'Signal' | 'Relay' | 'Members';
  room: string;
  from: string;
  to?: string | null;
  signal?: SignalPayload;
  /** The error code it was refused with. */
  refused?: string;
}

export interface FakeHubOptions {
  /** Announce and answer `Members` (contract feature `members`); default true. */
  members?: boolean;
  /** The hub's `limits.maxMessageBytes`; default 65 536 as rtc-agent's hub. */
  maxMessageBytes?: number;
}

/** A delivery on its way to one connection (the member's at the time the hub took it). */
interface Held {
  delivery: Delivery;
  client: FakeSignaling;
}

/** What a Relay invocation adds around its base64 payload (method, room, peer id, JSON): about this much. */
const RELAY_INVOCATION_ENVELOPE_BYTES = 200;

interface Member {
  participant: Participant;
  client: FakeSignaling;
}

export class FakeHub {
  readonly features: string[];
  readonly maxMessageBytes: number;
  /** Every delivery the hub made or meant to make (dropped and held ones included). */
  readonly deliveries: Delivery[] = [];
  readonly calls: HubCall[] = [];
  /** Deliveries for which this returns true vanish (the hub lost them). */
  drop: ((d: Delivery) => boolean) | null = null;
  /** Rewrites a delivery in flight (e.g. flips a byte of a relayed frame); return it unchanged to pass. */
  tamper: ((d: Delivery) => Delivery) | null = null;
  private readonly rooms = new Map<string, Map<string, Member>>();
  private holds: { match: (d: Delivery) => boolean; held: Held[] }[] = [];
  private membersGate: (() => void)[] | null = null;

  constructor(options: FakeHubOptions = {}) {
    this.features = options.members === false ? [] : ['members'];
    this.maxMessageBytes = options.maxMessageBytes ?? 65_536;
  }

  /** A client connection that will join as `peerId` (the id the hub would derive from its agentKey). */
  client(peerId: string): FakeSignaling {
    return new FakeSignaling(this, peerId);
  }

  members(room: string): Participant[] {
    return [...(this.rooms.get(room)?.values() ?? [])].map((m) => m.participant);
  }

  isMember(room: string, peerId: string): boolean {
    return this.rooms.get(room)?.has(peerId) ?? false;
  }

  // ------------------------------------------------------------------ test controls

  /** Holds every delivery matching `match` (a stalled network) until {@link release}. */
  hold(match: (d: Delivery) => boolean): { release: (options?: { reverse?: boolean }) => void; readonly count: number } {
    const entry = { match, held: [] as Held[] };
    this.holds.push(entry);
    return {
      release: (options = {}) => {
        this.holds = this.holds.filter((h) => h !== entry);
        const held = options.reverse ? [...entry.held].reverse() : entry.held;
        for (const h of held) this.deliverTo(h.client, h.delivery);
      },
      get count() {
        return entry.held.length;
      },
    };
  }

  /** Holds `Members` answers (computed when asked, as a hub does) until the returned function is called. */
  gateMembers(): () => void {
    const gate: (() => void)[] = [];
    this.membersGate = gate;
    return () => {
      if (this.membersGate === gate) this.membersGate = null;
      for (const answer of gate.splice(0)) answer();
    };
  }

  /** Delivers something as if member `from` had sent it (a forged or hand-made frame, a stray signal). */
  inject(d: Delivery): void {
    this.dispatch(d);
  }

  /** The hub forgets a member without telling anyone (a PeerLeft that got lost), or with PeerLeft `reason`. */
  remove(room: string, peerId: string, options: { notify?: string } = {}): void {
    const members = this.rooms.get(room);
    if (!members?.delete(peerId)) return;
    if (options.notify) this.tellOthers(room, peerId, (to) => ({ kind: 'peerLeft', room, to, peerId, reason: options.notify as string }));
  }

  /**
   * The client's connection drops. `hubNoticed`: the hub closed it too and told the rooms
   * (`PeerLeft … disconnected`); otherwise the hub still lists it (a reconnect will replace it).
   */
  disconnect(client: FakeSignaling, options: { hubNoticed?: boolean } = {}): void {
    client.setConnected(false, 'reconnecting');
    if (!options.hubNoticed) return;
    for (const [room, members] of this.rooms) {
      const m = members.get(client.peerId);
      if (m?.client !== client) continue;
      members.delete(client.peerId);
      this.tellOthers(room, client.peerId, (to) => ({ kind: 'peerLeft', room, to, peerId: client.peerId, reason: 'disconnected' }));
    }
  }

  /** The client reconnected: it rejoins every room it had joined (each room hears `rejoined`). */
  reconnect(client: FakeSignaling): void {
    client.setConnected(true, 'connected');
    for (const [room, { hello, inbound }] of client.joined) {
      const result = this.admit(room, hello, client, inbound);
      queueMicrotask(() => inbound.rejoined(result));
    }
  }

  // ------------------------------------------------------------------ hub methods (called by clients)

  admit(room: string, hello: JoinHello, client: FakeSignaling, inbound: RoomInbound): JoinResult {
    let members = this.rooms.get(room);
    if (!members) this.rooms.set(room, (members = new Map()));
    const participant: Participant = {
      peerId: client.peerId,
      name: hello.name ?? `peer-${client.peerId.slice(0, 6)}`,
      userId: null,
      capabilities: hello.capabilities ?? { native: false },
      meta: hello.meta ?? {},
      joinedAt: Date.now(),
    };
    const previous = members.get(client.peerId);
    // The same peer id from another connection moves the membership there (contract, Join rule 5).
    if (previous && previous.client !== client) this.deliverTo(previous.client, { kind: 'peerLeft', room, to: client.peerId, peerId: client.peerId, reason: 'replaced' });
    client.inbounds.set(room, inbound);
    members.set(client.peerId, { participant, client });
    this.tellOthers(room, client.peerId, (to) => ({ kind: 'peerJoined', room, to, participant }));
    const others = [...members.values()].filter((m) => m.participant.peerId !== client.peerId).map((m) => m.participant);
    return {
      room,
      self: participant,
      participants: others,
      iceServers: [],
      limits: { maxMessageBytes: this.maxMessageBytes, maxPeersPerRoom: 64, maxRoomsPerConnection: 32, messagesPerSecond: 2_000 },
      contractVersion: 1,
      features: [...this.features],
    };
  }

  /** Checks the caller and the recipient as a hub does; throws the contract's errors. */
  check(method: HubCall['method'], room: string, client: FakeSignaling, to?: string | null, signal?: SignalPayload): void {
    const call: HubCall = { method, room, from: client.peerId, to, signal };
    this.calls.push(call);
    const refuse = (code: ErrorCode, message: string): never => {
      call.refused = code;
      throw new RtcAgentError(code, message);
    };
    if (!client.connected) refuse(ErrorCode.HUB_UNREACHABLE, 'not connected to the hub');
    const members = this.rooms.get(room);
    if (members?.get(client.peerId)?.client !== client) refuse(ErrorCode.NOT_IN_ROOM, `not in room '${room}'`);
    if (to !== undefined && to !== null && (to === client.peerId || !members?.has(to))) refuse(ErrorCode.PEER_NOT_IN_ROOM, `peer '${to}' is not in room '${room}'`);
  }

  leave(room: string, client: FakeSignaling): void {
    client.inbounds.delete(room);
    client.joined.delete(room);
    const members = this.rooms.get(room);
    if (members?.get(client.peerId)?.client !== client) return; // already moved to a newer connection
    members.delete(client.peerId);
    this.tellOthers(room, client.peerId, (to) => ({ kind: 'peerLeft', room, to, peerId: client.peerId, reason: 'left' }));
  }

  /** The connection closed for good: its memberships go (PeerLeft `disconnected`). */
  closed(client: FakeSignaling): void {
    for (const [room, members] of this.rooms) {
      if (members.get(client.peerId)?.client !== client) continue;
      members.delete(client.peerId);
      this.tellOthers(room, client.peerId, (to) => ({ kind: 'peerLeft', room, to, peerId: client.peerId, reason: 'disconnected' }));
    }
  }

  answerMembers(room: string, client: FakeSignaling): Promise<Participant[]> {
    if (!this.features.includes('members')) {
      this.calls.push({ method: 'Members', room, from: client.peerId, refused: ErrorCode.UNKNOWN_METHOD });
      return Promise.reject(new RtcAgentError(ErrorCode.UNKNOWN_METHOD, 'Method does not exist.'));
    }
    try {
      this.check('Members', room, client);
    } catch (err) {
      return Promise.reject(err);
    }
    // The answer is computed now; a gate only delays its arrival (so events can overtake it).
    const snapshot = this.members(room).filter((p) => p.peerId !== client.peerId);
    return new Promise((resolve) => {
      if (this.membersGate) this.membersGate.push(() => resolve(snapshot));
      else queueMicrotask(() => resolve(snapshot));
    });
  }

  signal(room: string, client: FakeSignaling, to: string, signal: SignalPayload): void {
    this.check('Signal', room, client, to, signal);
    this.dispatch({ kind: 'signal', room, to, from: client.peerId, signal: structuredClone(signal) });
  }

  relay(room: string, client: FakeSignaling, to: string | null, payload: Uint8Array): void {
    this.check('Relay', room, client, to);
    // The invocation (base64 payload in a JSON envelope) must fit the hub's message limit.
    const invocationBytes = Math.ceil(payload.length / 3) * 4 + RELAY_INVOCATION_ENVELOPE_BYTES;
    if (invocationBytes > this.maxMessageBytes) {
      const call = this.calls[this.calls.length - 1] as HubCall;
      call.refused = ErrorCode.MESSAGE_TOO_LARGE;
      throw new RtcAgentError(ErrorCode.MESSAGE_TOO_LARGE, `a Relay of ${invocationBytes} bytes exceeds the hub's ${this.maxMessageBytes}`);
    }
    // A copy, as the wire's base64 makes one: the sender may reuse its buffer.
    if (to !== null) this.dispatch({ kind: 'relayed', room, to, from: client.peerId, payload: payload.slice() });
    else this.tellOthers(room, client.peerId, (t) => ({ kind: 'relayed', room, to: t, from: client.peerId, payload: payload.slice() }));
  }

  // ------------------------------------------------------------------ routing

  private tellOthers(room: string, except: string, make: (to: string) => Delivery): void {
    for (const peerId of this.rooms.get(room)?.keys() ?? []) if (peerId !== except) this.dispatch(make(peerId));
  }

  private dispatch(d: Delivery): void {
    this.deliveries.push(d);
    if (this.drop?.(d)) return;
    const changed = this.tamper ? this.tamper(d) : d;
    this.route(changed);
  }

  private route(d: Delivery): void {
    // Bound to the connection that is the member now: a later connection with the same peer id
    // does not get what was on its way to the old one.
    const member = this.rooms.get(d.room)?.get(d.to);
    if (!member) return;
    const hold = this.holds.find((h) => h.match(d));
    if (hold) hold.held.push({ delivery: d, client: member.client });
    else this.deliverTo(member.client, d);
  }

  private deliverTo(client: FakeSignaling, d: Delivery): void {
    queueMicrotask(() => {
      // A connection that is down loses what was on its way.
      if (!client.connected) return;
      const inbound = client.inbounds.get(d.room);
      if (!inbound) return;
      switch (d.kind) {
        case 'peerJoined':
          return inbound.peerJoined(d.participant);
        case 'peerLeft':
          return inbound.peerLeft(d.peerId, d.reason);
        case 'signal':
          return inbound.signal(d.from, d.signal);
        case 'relayed':
          return inbound.relayed(d.from, d.payload);
      }
    });
  }
}

/** One agent's hub connection: the engine's {@link Signaling} over the fake hub. */
export class FakeSignaling extends Emitter<SignalingEvents> implements Signaling {
  stateValue: SignalingState = 'connected';
  readonly inbounds = new Map<string, RoomInbound>();
  /** Rooms joined, with what to rejoin them with after a reconnect. */
  readonly joined = new Map<string, { hello: JoinHello; inbound: RoomInbound }>();

  constructor(
    private readonly hub: FakeHub,
    readonly peerId: string,
  ) {
    super();
  }

  get state(): SignalingState {
    return this.stateValue;
  }

  get connected(): boolean {
    return this.stateValue === 'connected';
  }

  setConnected(up: boolean, state: SignalingState): void {
    if (this.stateValue === 'closed') return;
    this.stateValue = up ? 'connected' : state;
    this.emit('state', this.stateValue);
  }

  async join(room: string, hello: JoinHello, inbound: RoomInbound): Promise<{ result: JoinResult; room: RoomSignaling }> {
    if (!this.connected) throw new RtcAgentError(ErrorCode.HUB_UNREACHABLE, 'not connected to the hub');
    this.hub.calls.push({ method: 'Join', room, from: this.peerId });
    const result = this.hub.admit(room, hello, this, inbound);
    this.joined.set(room, { hello, inbound });
    await Promise.resolve();
    return { result, room: new FakeRoomSignaling(this.hub, this, room) };
  }

  async close(): Promise<void> {
    if (this.stateValue === 'closed') return;
    this.hub.closed(this);
    this.stateValue = 'closed';
    this.inbounds.clear();
    this.emit('state', 'closed');
    this.emit('closed', undefined);
  }
}

class FakeRoomSignaling implements RoomSignaling {
  constructor(
    private readonly hub: FakeHub,
    private readonly client: FakeSignaling,
    private readonly room: string,
  ) {}

  get connected(): boolean {
    return this.client.connected;
  }

  /** Like the hub client's: the hub's refusal is not reported (a disconnected client still throws). */
  signal(to: string, signal: SignalPayload): Promise<void> {
    return this.signalConfirmed(to, signal).catch((err: unknown) => {
      if ((err as RtcAgentError).code === ErrorCode.HUB_UNREACHABLE) throw err;
    });
  }

  signalConfirmed(to: string, signal: SignalPayload): Promise<void> {
    try {
      this.hub.signal(this.room, this.client, to, signal);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  relay(to: string | null, payload: Uint8Array): Promise<void> {
    try {
      this.hub.relay(this.room, this.client, to, payload);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  members(): Promise<Participant[]> {
    return this.hub.answerMembers(this.room, this.client);
  }

  async leave(): Promise<void> {
    this.hub.calls.push({ method: 'Leave', room: this.room, from: this.client.peerId });
    if (!this.client.connected) throw new RtcAgentError(ErrorCode.HUB_UNREACHABLE, 'not connected to the hub');
    this.hub.leave(this.room, this.client);
  }
}
