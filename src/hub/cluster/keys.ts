/**
 * Names of every Redis key and pub/sub channel the cluster uses. All share one hash tag,
 * `{prefix}`, so a script may touch any of them (Redis Cluster would put them in one slot; see
 * docs/cluster.md for why we run on one Redis, or Valkey, primary).
 */
import { ErrorCode, RtcAgentError } from '../../errors.js';

/** Several clusters (or apps) can share one Redis under different prefixes, like SignalR's ChannelPrefix. */
export const DEFAULT_CLUSTER_PREFIX = 'rtc-agent';
const PREFIX_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;

export function validatePrefix(prefix: string): string {
  if (!PREFIX_PATTERN.test(prefix)) {
    throw new RtcAgentError(ErrorCode.CONFIG, `hub setting 'redis.prefix' must be 1-64 of A-Z a-z 0-9 . _ : -, got ${JSON.stringify(prefix.slice(0, 80))}`, {
      details: { setting: 'redis.prefix' },
    });
  }
  return prefix;
}

export class ClusterKeys {
  /** Every key and channel starts with this; the scripts build their keys from it too. */
  readonly base: string;

  constructor(prefix: string) {
    this.base = `{${validatePrefix(prefix)}}:`;
  }

  /** Sorted set: node id → time of its last heartbeat (ms, Redis clock). */
  get nodes(): string {
    return `${this.base}nodes`;
  }

  /** Hash: node id → JSON about the node (URL, pid, start time), for operators. */
  get nodeInfo(): string {
    return `${this.base}nodeinfo`;
  }

  /** Hash: peer id → presence entry (envelope.ts, entryValue). */
  room(room: string): string {
    return `${this.base}room:${room}`;
  }

  /** Counter of membership changes of a room; every `joined`/`left` message carries its value. */
  seq(room: string): string {
    return `${this.base}seq:${room}`;
  }

  /** Set of `room\npeerId` a node holds: what its cleanup removes when it dies. */
  owned(node: string): string {
    return `${this.base}owned:${node}`;
  }

  /** A negotiated connection no WebSocket claimed yet, so any hub can accept it. */
  negotiated(token: string): string {
    return `${this.base}neg:${token}`;
  }

  /** Membership changes and broadcast Relays of a room; subscribed while a hub has members in it. */
  roomChannel(room: string): string {
    return `${this.base}ch:room:${room}`;
  }

  /** Directed Signal/Relay and pressure notices for one hub node. */
  nodeChannel(node: string): string {
    return `${this.base}ch:node:${node}`;
  }

  /** The room a room channel belongs to, or undefined for another channel. */
  roomOfChannel(channel: string): string | undefined {
    const head = `${this.base}ch:room:`;
    return channel.startsWith(head) ? channel.slice(head.length) : undefined;
  }
}
