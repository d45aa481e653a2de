/**
 * Presence in Redis, through the scripts of scripts.ts: typed arguments in, parsed answers out.
 * Who is in which room, on which hub; which hubs are alive. Every method rejects while Redis is
 * unreachable; callers decide what that means.
 */
import type { PeerLeftReason } from '../../protocol/room-contract.js';
import { parseEntry, type PresenceEntry } from './envelope.js';
import type { ClusterKeys } from './keys.js';
import type { RedisLink } from './redis-link.js';
import type { RoomSnapshot } from './room-view.js';

export type JoinAnswer =
  | { full: true; members: number }
  | { full: false; seq: number; joinedAt: number; previous: { node: string; connectionId: string } | null; snapshot: RoomSnapshot };

export interface HeartbeatAnswer {
  /** This hub was not in `nodes`: it had been taken for dead, or Redis lost its data. */
  wasAbsent: boolean;
  /** Redis's clock, ms. */
  now: number;
  /** Presence entries of every hub in `nodes`. */
  presenceEntries: number;
  nodes: { id: string; lastSeen: number }[];
}

/** One member this hub holds, as `sync` writes it back. */
export interface HeldMember {
  peerId: string;
  connectionId: string;
  joinedAt: number;
  participantJson: string;
}

export class PresenceStore {
  constructor(
    private readonly link: RedisLink,
    private readonly keys: ClusterKeys,
    /** This hub's node id. */
    private readonly node: string,
    /** Silence after which a hub counts as dead (may change: cleanup pauses after a reconnect). */
    private readonly deadAfterMs: () => number,
  ) {}

  async join(room: string, peerId: string, connectionId: string, participantJson: string, maxPeers: number): Promise<JoinAnswer> {
    const a = await this.link.run('join', [this.keys.base, room, peerId, this.node, connectionId, participantJson, String(maxPeers), String(this.deadAfterMs())]);
    if (a[0] === 'full') return { full: true, members: Number(a[1]) };
    const prevNode = a[3] ?? '';
    return {
      full: false,
      seq: Number(a[1]),
      joinedAt: Number(a[2]),
      previous: prevNode ? { node: prevNode, connectionId: a[4] ?? '' } : null,
      snapshot: { seq: Number(a[1]), entries: entries(a, 5) },
    };
  }

  /** The seq of the removal, or 0 when the entry was no longer this connection's. */
  async leave(room: string, peerId: string, connectionId: string, reason: PeerLeftReason): Promise<number> {
    const a = await this.link.run('leave', [this.keys.base, room, peerId, this.node, connectionId, reason]);
    return Number(a[0]);
  }

  async snapshot(room: string): Promise<RoomSnapshot> {
    const a = await this.link.run('snapshot', [this.keys.base, room, this.node, String(this.deadAfterMs())]);
    return { seq: Number(a[0]), entries: entries(a, 1) };
  }

  async heartbeat(info: string): Promise<HeartbeatAnswer> {
    const a = await this.link.run('heartbeat', [this.keys.base, this.node, info]);
    return { wasAbsent: a[0] === '1', now: Number(a[1]), presenceEntries: Number(a[2]), nodes: nodeList(a, 3) };
  }

  /** Removes dead hubs and their members; how many of each, and the hubs left (as a heartbeat lists them). */
  async reap(): Promise<{ nodes: number; entries: number; now: number; remaining: HeartbeatAnswer['nodes'] }> {
    const a = await this.link.run('reap', [this.keys.base, String(this.deadAfterMs()), this.node]);
    return { nodes: Number(a[0]), entries: Number(a[1]), now: Number(a[2]), remaining: nodeList(a, 3) };
  }

  /** `joining`: peers whose join on this hub is in flight (their entries are kept). */
  async sync(room: string, held: HeldMember[], joining: string[] = []): Promise<{ snapshot: RoomSnapshot; replaced: string[] }> {
    const args = [this.keys.base, room, this.node, String(this.deadAfterMs()), String(joining.length), ...joining];
    for (const m of held) args.push(m.peerId, m.connectionId, String(m.joinedAt), m.participantJson);
    const a = await this.link.run('sync', args);
    const count = Number(a[1]);
    const replaced = a.slice(2, 2 + count);
    return { snapshot: { seq: Number(a[0]), entries: entries(a, 2 + count) }, replaced };
  }

  /** This hub shuts down: it counts as dead `graceMs` from now. */
  async retire(graceMs: number, nodeTimeoutMs: number): Promise<void> {
    await this.link.run('retire', [this.keys.base, this.node, String(graceMs), String(nodeTimeoutMs)]);
  }

  /** Removes this hub's entries in every room but `keepRooms`; how many. */
  async prune(keepRooms: string[]): Promise<number> {
    const a = await this.link.run('prune', [this.keys.base, this.node, ...keepRooms]);
    return Number(a[0]);
  }
}

function entries(answer: string[], from: number): PresenceEntry[] {
  const out: PresenceEntry[] = [];
  for (let i = from; i + 1 < answer.length; i += 2) {
    const entry = parseEntry(answer[i] as string, answer[i + 1] as string);
    if (entry) out.push(entry);
  }
  return out;
}

function nodeList(answer: string[], from: number): HeartbeatAnswer['nodes'] {
  const nodes: HeartbeatAnswer['nodes'] = [];
  for (let i = from; i + 1 < answer.length; i += 2) nodes.push({ id: answer[i] as string, lastSeen: Number(answer[i + 1]) });
  return nodes;
}
