/**
 * The daemon's Prometheus metrics (`GET /metrics`). Gauges are read from the agent at scrape time;
 * counters the daemon sees happen (messages, bytes, fallbacks) are counted as they happen. Each
 * daemon owns its registry, as the hub does, so several in one process never collide.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { Agent } from '../agent/index.js';
import type { PathChange } from '../engine/types.js';

export type Direction = 'sent' | 'received';

export class DaemonMetrics {
  readonly registry = new Registry();
  private readonly bytes: Counter<'direction'>;
  private readonly messages: Counter<'direction'>;
  private readonly fallbacks: Counter;
  private readonly dropped: Counter;
  private readonly requests: Counter<'route' | 'status'>;
  /** p2pFailures last seen per room/peer, so the fallback counter only ever grows. */
  private readonly failuresSeen = new Map<string, number>();

  constructor(
    private readonly agent: Agent,
    eventClients: () => number,
  ) {
    const registers = [this.registry];
    const sample = (): void => this.sampleFallbacks();
    new Gauge({
      name: 'rtc_agent_links',
      help: 'Peers by the path their messages take now (p2p, relay, none)',
      labelNames: ['path'],
      registers,
      collect() {
        for (const [path, n] of Object.entries(agent.stats().peers)) this.set({ path }, n);
      },
    });
    new Gauge({
      name: 'rtc_agent_peer_rtt_seconds',
      help: 'Round-trip time to each peer, from heartbeats',
      labelNames: ['room', 'peer'],
      registers,
      collect() {
        this.reset(); // peers that left disappear from the output
        for (const room of agent.joinedRooms()) {
          for (const p of room.peers()) if (p.rttMs !== undefined) this.set({ room: room.name, peer: p.peerId }, p.rttMs / 1000);
        }
      },
    });
    new Gauge({
      name: 'rtc_agent_peers',
      help: 'Peers per joined room',
      labelNames: ['room'],
      registers,
      collect() {
        this.reset();
        for (const room of agent.joinedRooms()) this.set({ room: room.name }, room.peers().length);
      },
    });
    new Gauge({
      name: 'rtc_agent_rooms',
      help: 'Rooms this agent has joined',
      registers,
      collect() {
        this.set(agent.joinedRooms().length);
      },
    });
    new Gauge({
      name: 'rtc_agent_native',
      help: '1 if native DataChannels are available (P2P possible), 0 if every link is relayed',
      registers,
      collect() {
        this.set(agent.native ? 1 : 0);
      },
    });
    new Gauge({
      name: 'rtc_agent_hub_connected',
      help: '1 while the hub connection is up',
      registers,
      collect() {
        this.set(agent.hubState === 'connected' ? 1 : 0);
      },
    });
    new Counter({
      name: 'rtc_agent_hub_reconnects_total',
      help: 'Hub connections re-established after a drop',
      registers,
      collect() {
        // The agent keeps the count; mirror it (it only grows).
        this.reset();
        this.inc(agent.stats().hubReconnects);
      },
    });
    this.fallbacks = new Counter({
      name: 'rtc_agent_p2p_fallbacks_total',
      help: 'P2P links that did not open or failed later; each one sent that peer to the relay',
      registers,
      collect: sample,
    });
    this.bytes = new Counter({
      name: 'rtc_agent_bytes_total',
      help: 'Application payload bytes through the daemon (sent counts once per recipient)',
      labelNames: ['direction'],
      registers,
    });
    this.messages = new Counter({
      name: 'rtc_agent_messages_total',
      help: 'Application messages through the daemon (sent counts once per recipient)',
      labelNames: ['direction'],
      registers,
    });
    new Gauge({
      name: 'rtc_agent_event_clients',
      help: 'Clients attached to the event stream',
      registers,
      collect() {
        this.set(eventClients());
      },
    });
    this.dropped = new Counter({
      name: 'rtc_agent_event_clients_dropped_total',
      help: 'Event-stream clients disconnected because they did not read',
      registers,
    });
    this.requests = new Counter({
      name: 'rtc_agent_api_requests_total',
      help: 'Control API requests by route and HTTP status',
      labelNames: ['route', 'status'],
      registers,
    });
    for (const direction of ['sent', 'received'] as const) {
      this.bytes.inc({ direction }, 0);
      this.messages.inc({ direction }, 0);
    }
  }

  countMessage(direction: Direction, bytes: number, recipients = 1): void {
    this.messages.inc({ direction }, recipients);
    this.bytes.inc({ direction }, bytes * recipients);
  }

  countDroppedClient(): void {
    this.dropped.inc();
  }

  countRequest(route: string, status: number): void {
    this.requests.inc({ route, status: String(status) });
  }

  /** A path change may be a fallback: sample the per-peer failure counters now, before the peer can go. */
  onPathChanged(_change: PathChange): void {
    this.sampleFallbacks();
  }

  /** Adds growth of every peer's p2pFailures to the fallback counter. */
  sampleFallbacks(): void {
    const live = new Set<string>();
    for (const room of this.agent.joinedRooms()) {
      for (const p of room.peers()) {
        const key = `${room.name}\u0000${p.peerId}`;
        live.add(key);
        const seen = this.failuresSeen.get(key) ?? 0;
        if (p.p2pFailures > seen) this.fallbacks.inc(p.p2pFailures - seen);
        this.failuresSeen.set(key, p.p2pFailures);
      }
    }
    for (const key of this.failuresSeen.keys()) if (!live.has(key)) this.failuresSeen.delete(key);
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
