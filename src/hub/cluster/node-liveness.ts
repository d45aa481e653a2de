/**
 * This hub's liveness in the cluster and the cleanup of dead hubs: a heartbeat (the hub's score in
 * `nodes`, Redis clock) every few seconds, and a check every second that takes hubs silent for
 * longer than the node timeout out of the cluster with their members (scripts.ts, `reap`). A
 * SIGKILLed hub's members are so reported left (`disconnected`) timeout + up to 1 s after its last
 * heartbeat, once, by whichever hub's check gets there first.
 */
import type { Logger } from '../../log/logger.js';
import type { HeartbeatAnswer, PresenceStore } from './presence-store.js';

export interface LivenessOptions {
  heartbeatIntervalMs: number;
  reapIntervalMs: number;
  /** Silence after which a hub is dead. */
  nodeTimeoutMs: number;
  /** JSON about this hub for `nodeinfo` (URL, pid, start time). */
  info(): string;
}

export class NodeLiveness {
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private reapTimer: NodeJS.Timeout | null = null;
  private beating = false;
  private reaping = false;
  private lastAnswer: HeartbeatAnswer | null = null;
  /** Until then, no hub is taken for dead (they may all be reconnecting after a Redis restart). */
  private cleanupPausedUntil = 0;

  constructor(
    private readonly store: PresenceStore,
    private readonly options: LivenessOptions,
    private readonly log: Logger,
    /** Told after every heartbeat; `wasAbsent` means this hub's presence must be written back. */
    private readonly onHeartbeat: (answer: HeartbeatAnswer) => void,
  ) {}

  /** The node timeout, or a very long one while cleanup is paused (for the scripts' sweeps). */
  deadAfterMs(): number {
    return Date.now() < this.cleanupPausedUntil ? 1e12 : this.options.nodeTimeoutMs;
  }

  /** Hubs alive at the last heartbeat (this one included). */
  liveNodes(): string[] {
    const a = this.lastAnswer;
    if (!a) return [];
    return a.nodes.filter((n) => n.lastSeen >= a.now - this.options.nodeTimeoutMs).map((n) => n.id);
  }

  get presenceEntries(): number {
    return this.lastAnswer?.presenceEntries ?? 0;
  }

  start(): void {
    if (this.heartbeatTimer) return;
    this.heartbeatTimer = setInterval(() => void this.beat().catch(() => undefined), this.options.heartbeatIntervalMs);
    this.heartbeatTimer.unref();
    this.reapTimer = setInterval(() => void this.reap(), this.options.reapIntervalMs);
    this.reapTimer.unref();
  }

  /** Pauses taking hubs for dead, e.g. for one node timeout after Redis came back. */
  pauseCleanup(ms: number): void {
    this.cleanupPausedUntil = Math.max(this.cleanupPausedUntil, Date.now() + ms);
  }

  /** One heartbeat now; rejects when Redis is unreachable. */
  async beat(): Promise<HeartbeatAnswer> {
    if (this.beating && this.lastAnswer) return this.lastAnswer;
    this.beating = true;
    try {
      const answer = await this.store.heartbeat(this.options.info());
      this.lastAnswer = answer;
      this.onHeartbeat(answer);
      return answer;
    } finally {
      this.beating = false;
    }
  }

  private async reap(): Promise<void> {
    if (this.reaping || Date.now() < this.cleanupPausedUntil) return;
    this.reaping = true;
    try {
      const { nodes, entries, now, remaining } = await this.store.reap();
      // The check lists the hubs too: the count of hubs seen follows within a second, not a heartbeat.
      if (this.lastAnswer) this.lastAnswer = { ...this.lastAnswer, now, nodes: remaining };
      if (nodes > 0) this.log.warn({ hubs: nodes, members: entries }, 'hubs stopped heartbeating; their members were reported left');
    } catch {
      // Redis unreachable: the backplane state says so; nothing to do until it is back.
    } finally {
      this.reaping = false;
    }
  }

  stop(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.reapTimer) clearInterval(this.reapTimer);
    this.heartbeatTimer = null;
    this.reapTimer = null;
  }
}
