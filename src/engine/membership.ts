/**
 * Membership that heals. The hub's member list says who is in a room; the heartbeat says who is
 * reachable. A peer that goes silent is reported left (`timeout`) promptly, but its delivery state
 * is kept here and, while the hub still lists it, it is probed; the moment it speaks again (any
 * signal or relayed frame) the room re-admits it and delivery resumes where it stopped. The
 * reconciler asks the hub for its member list when the room meets a peer it knows nothing of.
 */
import type { Participant } from '../protocol/room-contract.js';
import type { DeliveryState } from './peer-session.js';

/**
 * How long the delivery state of a peer that vanished (hub disconnect, heartbeat timeout) is kept.
 * If it comes back under the same peer id in that time, numbering continues and nothing sent to it
 * is lost; a peer that said goodbye ("left") is forgotten at once. Four times the hub's 30 s client
 * timeout: past that, the hub has dropped a silent peer and it comes back by joining again.
 */
export const DEFAULT_PEER_RESUME_MS = 120_000;
/**
 * How often the room compares its peer table with the hub's member list even when nothing seems
 * wrong: catches a PeerJoined/PeerLeft that a buggy or restarted hub never sent. One small
 * invocation per room; the heartbeat, not this, is what notices dead peers quickly.
 */
export const DEFAULT_MEMBERS_RECONCILE_MS = 30_000;
/** At most one on-demand member-list request per this long (an unknown peer may send a burst). */
export const DEFAULT_MEMBERS_MIN_INTERVAL_MS = 1_000;
/** Signals/frames kept per unknown peer while the member list is fetched; the senders resend the rest. */
const MAX_PENDING_PER_PEER = 64;

/** Why a peer appears in `peer-joined`. */
export type PeerJoinReason =
  /** It was in the room when we joined. */
  | 'present'
  /** It joined after us. */
  | 'joined'
  /** We had given up on it (heartbeat timeout), and it turned out alive: delivery resumes. */
  | 'resumed'
  /** The same peer id came back from a new process: numbering starts afresh. */
  | 'restarted';

/** A peer the room no longer lists, but may see again. */
export interface VanishedPeer {
  participant: Participant;
  delivery: DeliveryState;
  /** When it vanished (ms). */
  at: number;
  reason: string;
  /** As far as we know the hub still lists it: probe it until it answers or the hub drops it. */
  probing: boolean;
  lastProbeAt: number;
}

export class VanishedPeers {
  private readonly peers = new Map<string, VanishedPeer>();

  add(peerId: string, entry: Omit<VanishedPeer, 'lastProbeAt'>): void {
    this.peers.set(peerId, { ...entry, lastProbeAt: entry.at });
  }

  get(peerId: string): VanishedPeer | undefined {
    return this.peers.get(peerId);
  }

  /** Removes and returns the entry (the peer is being re-admitted). */
  take(peerId: string): VanishedPeer | undefined {
    const entry = this.peers.get(peerId);
    this.peers.delete(peerId);
    return entry;
  }

  forget(peerId: string): void {
    this.peers.delete(peerId);
  }

  setProbing(peerId: string, probing: boolean): void {
    const entry = this.peers.get(peerId);
    if (entry) entry.probing = probing;
  }

  ids(): IterableIterator<string> {
    return this.peers.keys();
  }

  /** Peer ids due for a probe at `now` (each marked as probed). */
  dueForProbe(now: number, intervalMs: number): string[] {
    const due: string[] = [];
    for (const [peerId, entry] of this.peers) {
      if (!entry.probing || now - entry.lastProbeAt < intervalMs) continue;
      entry.lastProbeAt = now;
      due.push(peerId);
    }
    return due;
  }

  /** Drops entries older than `keepMs`. */
  expire(now: number, keepMs: number): void {
    for (const [peerId, entry] of this.peers) if (now - entry.at > keepMs) this.peers.delete(peerId);
  }

  clear(): void {
    this.peers.clear();
  }
}

/** What one reconciliation learnt: who the hub lists, and whether an event overtook the answer. */
export interface MemberSnapshot {
  participants: Participant[];
  /** False when a PeerJoined/PeerLeft for this peer arrived after the request: trust the event. */
  current(peerId: string): boolean;
}

/**
 * Fetches the hub's member list on demand (throttled) and periodically, and keeps inbound items
 * from unknown peers until the answer says whether they are members. A membership event that
 * arrives after a request was sent wins over the answer, which may have been computed before it.
 */
export class MemberReconciler {
  private eventSeq = 0;
  private readonly lastEvent = new Map<string, number>();
  private inFlight = false;
  private again = false;
  private lastRequestAt = Number.NEGATIVE_INFINITY;
  private readonly pending = new Map<string, (() => void)[]>();

  constructor(
    /** Undefined when the hub cannot list members (a plain version-1 hub). */
    private readonly fetch: (() => Promise<Participant[]>) | undefined,
    private readonly apply: (snapshot: MemberSnapshot) => void,
    /** Whether the room lists the peer now (after `apply`): its held items then run. */
    private readonly isKnown: (peerId: string) => boolean,
    private readonly onError: (err: unknown) => void,
    private readonly minIntervalMs = DEFAULT_MEMBERS_MIN_INTERVAL_MS,
  ) {}

  get available(): boolean {
    return this.fetch !== undefined;
  }

  /** A PeerJoined/PeerLeft for `peerId` arrived: an answer to an earlier request says nothing about it. */
  noteEvent(peerId: string): void {
    this.lastEvent.set(peerId, ++this.eventSeq);
  }

  /** Keeps `deliver` until the next answer; it runs if `peerId` is known by then, else it is dropped. */
  hold(peerId: string, deliver: () => void, now: number): void {
    if (!this.fetch) return;
    let queue = this.pending.get(peerId);
    if (!queue) this.pending.set(peerId, (queue = []));
    if (queue.length < MAX_PENDING_PER_PEER) queue.push(deliver);
    this.request(now);
  }

  /** Held items for peers the room knows now run; the rest are dropped (their senders resend). */
  private releasePending(): void {
    const pending = [...this.pending];
    this.pending.clear();
    for (const [peerId, items] of pending) if (this.isKnown(peerId)) for (const deliver of items) deliver();
  }

  /** Asks the hub now, unless a request is in flight or one was made within the minimum interval. */
  request(now: number, force = false): void {
    if (!this.fetch) return;
    if (this.inFlight) {
      this.again = true;
      return;
    }
    if (!force && now - this.lastRequestAt < this.minIntervalMs) return;
    this.lastRequestAt = now;
    this.inFlight = true;
    const since = this.eventSeq;
    this.fetch().then(
      (participants) => {
        this.inFlight = false;
        this.apply({ participants, current: (peerId) => (this.lastEvent.get(peerId) ?? 0) <= since });
        this.releasePending();
        if (this.again) {
          this.again = false;
          this.request(Date.now(), true);
        }
      },
      (err: unknown) => {
        this.inFlight = false;
        this.again = false;
        this.pending.clear();
        this.onError(err);
      },
    );
  }

  clear(): void {
    this.pending.clear();
  }
}
