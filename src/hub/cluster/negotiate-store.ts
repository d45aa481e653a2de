/**
 * Negotiated connections any hub can accept: negotiate on hub A stores what the WebSocket needs
 * to be accepted elsewhere (under the connection token, with the negotiate TTL), and the hub that
 * gets the WebSocket takes it with GETDEL, so exactly one hub accepts each token. This removes the
 * need for sticky sessions for WebSocket clients; SSE and long polling send several requests per
 * connection and still need them (docs/cluster.md).
 */
import type { ClusterKeys } from './keys.js';
import type { RedisLink } from './redis-link.js';

export interface NegotiatedConnection {
  connectionId: string;
  /** The token's `sub` on negotiate (null without auth): the WebSocket must carry the same user. */
  userId: string | null;
  /** The client asked for stateful reconnect. */
  stateful: boolean;
}

export class NegotiateStore {
  constructor(
    private readonly link: RedisLink,
    private readonly keys: ClusterKeys,
    private readonly ttlMs: number,
  ) {}

  /** Shares a negotiated connection; false when Redis is unreachable (then only this hub knows it). */
  async share(token: string, connection: NegotiatedConnection): Promise<boolean> {
    if (!this.link.connected) return false;
    try {
      await this.link.setWithTtl(this.keys.negotiated(token), JSON.stringify({ c: connection.connectionId, u: connection.userId, s: connection.stateful }), this.ttlMs);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Takes a shared connection for this hub: the record, null when nobody has it (unknown, expired,
   * or another hub took it), 'unavailable' when Redis cannot be asked.
   */
  async claim(token: string): Promise<NegotiatedConnection | null | 'unavailable'> {
    if (!this.link.connected) return 'unavailable';
    let text: string | null;
    try {
      text = await this.link.take(this.keys.negotiated(token));
    } catch {
      return 'unavailable';
    }
    if (text === null) return null;
    try {
      const v = JSON.parse(text) as { c?: unknown; u?: unknown; s?: unknown };
      if (typeof v.c !== 'string' || (v.u !== null && typeof v.u !== 'string') || typeof v.s !== 'boolean') return null;
      return { connectionId: v.c, userId: v.u, stateful: v.s };
    } catch {
      return null;
    }
  }
}
