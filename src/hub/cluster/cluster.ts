/**
 * A hub's membership in a cluster of hubs on one Redis (`--redis`): composes the Redis link, the
 * presence store, node liveness, the cluster registry and the shared negotiate state, and runs
 * the backplane's state machine:
 *
 *   up ──(a connection drops)──▶ reconnecting ──(longer than the node timeout)──▶ down
 *    ▲                                │                                             │
 *    └──────(both connections back, presence resynchronised)◀──────────────────────┘
 *
 * Each change is logged once (warn), counted, and shown in /healthz. docs/cluster.md has the design.
 */
import { randomBytes } from 'node:crypto';
import type { Registry } from 'prom-client';
import type { Logger } from '../../log/logger.js';
import { BackplaneMetrics } from '../metrics.js';
import { ClusterRegistry } from './cluster-registry.js';
import { ClusterKeys } from './keys.js';
import { NegotiateStore } from './negotiate-store.js';
import { NodeLiveness } from './node-liveness.js';
import { PresenceStore, type HeartbeatAnswer } from './presence-store.js';
import { RedisLink } from './redis-link.js';
import type { RedisTarget } from './redis-url.js';

export type BackplaneState = 'up' | 'reconnecting' | 'down';

/** What /healthz and `Hub.cluster` report. */
export interface ClusterStatus {
  /** This hub's node id (random per process). */
  node: string;
  /** The Redis backplane: up (connected, presence in sync), reconnecting, or down (for longer than the node timeout). */
  state: BackplaneState;
  /** Hubs alive in the cluster, this one included, as of the last heartbeat. */
  nodes: number;
  /** Presence entries in Redis across the cluster, as of the last heartbeat. */
  presenceEntries: number;
}

export interface ResolvedClusterOptions {
  target: RedisTarget;
  prefix: string;
  connectTimeoutMs: number;
  heartbeatIntervalMs: number;
  nodeTimeoutMs: number;
  reapIntervalMs: number;
  /** A hub that closes cleanly counts as dead this long after, so its clients can move without leaving. */
  shutdownHandoffMs: number;
}

/** How long after a failed resync (Redis answered, then failed again) the next attempt runs. */
const RESYNC_RETRY_MS = 1_000;

export class HubCluster {
  readonly node = randomBytes(9).toString('base64url');
  readonly registry: ClusterRegistry;
  readonly negotiations: NegotiateStore;
  readonly metrics: BackplaneMetrics;
  private readonly keys: ClusterKeys;
  private readonly store: PresenceStore;
  private readonly liveness: NodeLiveness;
  private state: BackplaneState = 'up';
  private stateSince = Date.now();
  private downTimer: NodeJS.Timeout | null = null;
  private confirmTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private recovering = false;
  /** The first heartbeat (joining the cluster) happened. */
  private registered = false;
  private recoverAgain = false;
  private closed = false;
  private url = '';
  private readonly startedAt = Date.now();

  private constructor(
    private readonly link: RedisLink,
    private readonly options: ResolvedClusterOptions,
    negotiateTtlMs: number,
    metricsRegistry: Registry,
    private readonly log: Logger,
  ) {
    this.keys = new ClusterKeys(options.prefix);
    this.metrics = new BackplaneMetrics(metricsRegistry, () => ({
      nodes: this.status().nodes,
      presenceEntries: this.liveness.presenceEntries,
      up: this.state === 'up' ? 1 : 0,
    }));
    this.store = new PresenceStore(link, this.keys, this.node, () => this.liveness.deadAfterMs());
    this.liveness = new NodeLiveness(
      this.store,
      {
        heartbeatIntervalMs: options.heartbeatIntervalMs,
        reapIntervalMs: options.reapIntervalMs,
        nodeTimeoutMs: options.nodeTimeoutMs,
        info: () => JSON.stringify({ url: this.url, pid: process.pid, startedAt: this.startedAt }),
      },
      log,
      (answer) => this.onHeartbeat(answer),
    );
    this.registry = new ClusterRegistry({ node: this.node, keys: this.keys, link, store: this.store, metrics: this.metrics, log });
    this.negotiations = new NegotiateStore(link, this.keys, negotiateTtlMs);
    link.on('message', (channel, text) => this.registry.onMessage(channel, text));
    link.on('lost', (err) => this.onLost(err));
    link.on('restored', () => void this.recover());
  }

  /**
   * Connects to Redis and joins the cluster. Fails with RTC_ERR_HUB_UNREACHABLE when Redis does not
   * answer within `connectTimeoutMs`.
   */
  static async start(options: ResolvedClusterOptions, negotiateTtlMs: number, metricsRegistry: Registry, log: Logger): Promise<HubCluster> {
    const link = await RedisLink.connect({ target: options.target, clientName: `rtc-agent-hub-${process.pid}`, connectTimeoutMs: options.connectTimeoutMs, log });
    const cluster = new HubCluster(link, options, negotiateTtlMs, metricsRegistry, log);
    try {
      await link.subscribe(cluster.keys.nodeChannel(cluster.node));
      await cluster.liveness.beat();
    } catch (err) {
      await cluster.close();
      throw err;
    }
    cluster.liveness.start();
    log.info({ redis: options.target.redacted, node: cluster.node, prefix: options.prefix, nodes: cluster.liveness.liveNodes().length }, 'joined the hub cluster');
    return cluster;
  }

  /** The URL this hub serves, for the node info operators see in Redis. */
  setUrl(url: string): void {
    this.url = url;
  }

  status(): ClusterStatus {
    const live = this.liveness.liveNodes();
    return { node: this.node, state: this.state, nodes: Math.max(live.length, this.state === 'up' ? 1 : 0), presenceEntries: this.liveness.presenceEntries };
  }

  private setState(next: BackplaneState, err?: Error): void {
    if (this.state === next || this.closed) return;
    const previous = this.state;
    const forMs = Date.now() - this.stateSince;
    this.state = next;
    this.stateSince = Date.now();
    this.metrics.stateChanges.inc({ state: next });
    this.log.warn(
      { redis: this.options.target.redacted, state: next, previous, previousForMs: forMs, ...(err ? { err: err.message } : {}) },
      next === 'up'
        ? 'Redis backplane up again; presence resynchronised'
        : next === 'reconnecting'
          ? 'Redis backplane lost; serving this hub\'s members only while reconnecting'
          : 'Redis backplane down for longer than the node timeout; the other hubs take this hub for dead until it is back',
    );
  }

  private onLost(err: Error | undefined): void {
    if (this.closed) return;
    this.setState('reconnecting', err);
    this.registry.releasePressure();
    if (this.downTimer) clearTimeout(this.downTimer);
    this.downTimer = setTimeout(() => {
      this.downTimer = null;
      if (!this.link.connected) this.setState('down');
    }, this.options.nodeTimeoutMs);
    this.downTimer.unref();
  }

  private onHeartbeat(answer: HeartbeatAnswer): void {
    const first = !this.registered;
    this.registered = true;
    // Taken for dead (e.g. this process stalled past the node timeout): write presence back.
    if (answer.wasAbsent && !first && this.state === 'up' && !this.recovering) {
      this.log.warn('this hub was taken for dead by the cluster; writing its members back');
      void this.recover();
    }
  }

  /** Brings presence back in sync after a reconnect: scripts, heartbeat, prune and sync every room. */
  private async recover(): Promise<void> {
    if (this.closed) return;
    if (this.recovering) {
      this.recoverAgain = true;
      return;
    }
    this.recovering = true;
    if (this.downTimer) clearTimeout(this.downTimer);
    this.downTimer = null;
    try {
      do {
        this.recoverAgain = false;
        await this.link.loadScripts();
        // Every hub may be coming back at once (Redis restarted): give them a node timeout to
        // re-register before anyone is taken for dead, and keep their members listed meanwhile.
        this.liveness.pauseCleanup(this.options.nodeTimeoutMs);
        await this.liveness.beat();
        const live = new Set(this.liveness.liveNodes());
        await this.registry.resync((node) => !live.has(node));
      } while (this.recoverAgain && !this.closed);
      this.setState('up');
      this.scheduleConfirm();
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'presence resync failed; retrying');
      if (this.link.connected && !this.closed) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = null;
          void this.recover();
        }, RESYNC_RETRY_MS);
        this.retryTimer.unref();
      }
    } finally {
      this.recovering = false;
    }
  }

  /** One node timeout after a resync, drops the remote members whose hubs did not re-add them. */
  private scheduleConfirm(): void {
    if (this.confirmTimer) clearTimeout(this.confirmTimer);
    this.confirmTimer = setTimeout(() => {
      this.confirmTimer = null;
      if (this.link.connected) void this.registry.confirmKept().catch(() => undefined);
    }, this.options.nodeTimeoutMs + this.options.reapIntervalMs);
    this.confirmTimer.unref();
  }

  /**
   * Leaves the cluster: stops heartbeating, lets this hub count as dead after the handoff time (so
   * its clients can rejoin elsewhere without anyone seeing them leave), closes Redis. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.liveness.stop();
    for (const timer of [this.downTimer, this.confirmTimer, this.retryTimer]) if (timer) clearTimeout(timer);
    if (this.link.connected) {
      await Promise.race([this.store.retire(this.options.shutdownHandoffMs, this.options.nodeTimeoutMs).catch(() => undefined), new Promise((r) => setTimeout(r, 1_000).unref())]);
    }
    this.registry.releasePressure();
    await this.link.close();
  }
}
