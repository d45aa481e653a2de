/**
 * One hub's view of a room in a cluster: its own members (local connections) and the members on
 * other hubs, as Redis listed them at the last change this hub saw. Pure bookkeeping, no I/O: it
 * returns what the registry must tell local members ({@link ViewEffect}).
 *
 * Consistency: every membership change in Redis increments the room's `seq` and publishes a
 * `joined`/`left` message with it, in one script. A snapshot (a script's answer) carries the seq
 * it reflects. So the view applies a message only if it is newer than what it has, applies a
 * snapshot only if it is newer than the messages it saw, and notices lost messages as a gap in
 * the sequence. Before the first snapshot (the hub's first member joining), messages are kept
 * and applied after it.
 */
import type { Participant, PeerLeftReason } from '../../protocol/room-contract.js';
import type { LocalMember, MemberEndpoint, RoomMember } from '../room-registry.js';
import { participantOf, type MembershipEnvelope, type PresenceEntry } from './envelope.js';

export interface RemoteMember extends RoomMember {
  entry: PresenceEntry;
  /** The change (seq) this entry came with. */
  seq: number;
}

export type ViewEffect =
  /** A member on another hub joined or changed: tell local members. */
  | { type: 'joined'; participant: Participant }
  | { type: 'left'; peerId: string; reason: PeerLeftReason }
  /** A local member's peer id is now held by another hub: its connection lost the membership. */
  | { type: 'replaced'; member: LocalMember }
  /** Redis no longer lists a member this hub still holds (this hub was taken for dead): add it again. */
  | { type: 'lost'; peerId: string }
  /** Messages about this room were lost: fetch a snapshot. */
  | { type: 'gap' };

export interface RoomSnapshot {
  seq: number;
  entries: PresenceEntry[];
}

export class RoomView {
  readonly local = new Map<string, LocalMember>();
  readonly remote = new Map<string, RemoteMember>();
  /** The newest change this view reflects. */
  seq = 0;
  /** False until the first snapshot; messages wait in `buffered` until then. */
  ready = false;
  /** Joins of this hub in flight: the view (and its channel subscription) stays while any run. */
  pendingJoins = 0;
  /** Remote members a forced snapshot did not list but kept, until their hub had time to re-add them. */
  readonly unconfirmed = new Set<string>();
  private buffered: MembershipEnvelope[] = [];

  constructor(
    readonly room: string,
    /** This hub's node id: entries of it are the local map's business, never remote members. */
    private readonly self: string,
    private readonly endpointFor: (entry: PresenceEntry) => MemberEndpoint,
  ) {}

  get(peerId: string): RoomMember | undefined {
    return this.local.get(peerId) ?? this.remote.get(peerId);
  }

  *members(): Iterable<RoomMember> {
    yield* this.local.values();
    yield* this.remote.values();
  }

  get size(): number {
    return this.local.size + this.remote.size;
  }

  /** Nothing keeps this view: no local member, no join under way. */
  get idle(): boolean {
    return this.local.size === 0 && this.pendingJoins === 0;
  }

  /** A join of this hub succeeded: the member is local now (wherever it was before). */
  addLocal(member: LocalMember): LocalMember | undefined {
    const peerId = member.participant.peerId;
    const previous = this.local.get(peerId);
    this.remote.delete(peerId);
    this.local.set(peerId, member);
    return previous && previous.endpoint.connectionId !== member.endpoint.connectionId ? previous : undefined;
  }

  removeLocal(peerId: string, connectionId: string): LocalMember | undefined {
    const member = this.local.get(peerId);
    if (!member || member.endpoint.connectionId !== connectionId) return undefined;
    this.local.delete(peerId);
    return member;
  }

  applyEvent(event: MembershipEnvelope): ViewEffect[] {
    if (!this.ready) {
      this.buffered.push(event);
      return [];
    }
    if (event.seq <= this.seq) return [];
    const effects: ViewEffect[] = [];
    if (event.seq > this.seq + 1) effects.push({ type: 'gap' });
    this.seq = event.seq;
    if (event.kind === 'joined') this.onJoined(event.entry, event.seq, effects);
    else this.onLeft(event.peerId, event.node, event.connectionId, event.reason, effects);
    return effects;
  }

  /**
   * Makes the view what Redis said at `snapshot.seq`, if that is newer than what the view has
   * (always with `force`: after a reconnect, when Redis may have restarted and counts from 0).
   * `keepMissing(node)`: keep a remote member Redis does not list when its hub may still be
   * re-adding it (right after a reconnect).
   */
  applySnapshot(snapshot: RoomSnapshot, options: { force?: boolean; keepMissing?: (node: string) => boolean } = {}): ViewEffect[] {
    const effects: ViewEffect[] = [];
    if (!this.ready || options.force || snapshot.seq > this.seq) {
      const listed = new Map<string, PresenceEntry>();
      for (const entry of snapshot.entries) listed.set(entry.peerId, entry);
      for (const entry of listed.values()) {
        if (entry.node !== this.self) this.onJoined(entry, snapshot.seq, effects);
      }
      for (const [peerId, member] of this.remote) {
        if (listed.has(peerId)) continue;
        if (options.keepMissing?.(member.entry.node)) {
          this.unconfirmed.add(peerId);
          continue;
        }
        this.remote.delete(peerId);
        effects.push({ type: 'left', peerId, reason: 'disconnected' });
      }
      for (const [peerId, member] of this.local) {
        const entry = listed.get(peerId);
        // (An entry of another hub replaced it above; one of this hub with another connection is a
        // newer local join whose answer is on its way.)
        if (!listed.has(peerId)) effects.push({ type: 'lost', peerId });
      }
      this.seq = snapshot.seq;
    }
    if (!this.ready) {
      this.ready = true;
      const waiting = this.buffered;
      this.buffered = [];
      for (const event of waiting) effects.push(...this.applyEvent(event));
    }
    return effects;
  }

  /**
   * Drops the members kept by a forced snapshot that `snapshot` (taken later) still does not list:
   * their hub did not come back to re-add them.
   */
  confirmAbsent(snapshot: RoomSnapshot): ViewEffect[] {
    const effects: ViewEffect[] = [];
    const listed = new Set(snapshot.entries.map((e) => e.peerId));
    for (const peerId of this.unconfirmed) {
      if (listed.has(peerId) || !this.remote.has(peerId)) continue;
      this.remote.delete(peerId);
      effects.push({ type: 'left', peerId, reason: 'disconnected' });
    }
    this.unconfirmed.clear();
    return effects;
  }

  private onJoined(entry: PresenceEntry, seq: number, effects: ViewEffect[]): void {
    const peerId = entry.peerId;
    this.unconfirmed.delete(peerId);
    if (entry.node === this.self) {
      // This hub's own join or re-add: the local map already says so (or the member left meanwhile).
      return;
    }
    const participant = participantOf(entry);
    if (!participant) return;
    const local = this.local.get(peerId);
    if (local) {
      // A newer join elsewhere wins over this hub's connection.
      this.local.delete(peerId);
      effects.push({ type: 'replaced', member: local });
    }
    const current = this.remote.get(peerId);
    if (current && current.entry.node === entry.node && current.entry.connectionId === entry.connectionId) {
      if (current.entry.participantJson === entry.participantJson && current.entry.joinedAt === entry.joinedAt) return;
      current.entry = entry;
      current.participant = participant;
      current.seq = seq;
    } else {
      this.remote.set(peerId, { participant, endpoint: this.endpointFor(entry), entry, seq });
    }
    effects.push({ type: 'joined', participant });
  }

  private onLeft(peerId: string, node: string, connectionId: string, reason: PeerLeftReason, effects: ViewEffect[]): void {
    this.unconfirmed.delete(peerId);
    if (node === this.self) {
      // Someone else removed this hub's entry (a cleanup that took this hub for dead) while the
      // member is still here: it must be added again. This hub's own leaves removed it locally first.
      const local = this.local.get(peerId);
      if (local && local.endpoint.connectionId === connectionId) effects.push({ type: 'lost', peerId });
      return;
    }
    const member = this.remote.get(peerId);
    if (!member || member.entry.node !== node || member.entry.connectionId !== connectionId) return;
    this.remote.delete(peerId);
    effects.push({ type: 'left', peerId, reason });
  }
}
