import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The hub's Prometheus metrics. Each hub owns its registry (not prom-client's global one) so
 * several hubs in one process — tests, an embedded hub beside a daemon — don't collide.
 */
export class HubMetrics {
  readonly connections: Gauge<'transport'>;
  readonly rooms: Gauge;
  readonly members: Gauge;
  readonly messagesRelayed: Counter<'kind'>;
  readonly bytesRelayed: Counter<'kind'>;
  readonly errors: Counter<'code'>;
  readonly connectionsOpened: Counter<'transport'>;
  /** Relayed frames not delivered, by reason (slow_member: its queue was full while it lagged). */
  readonly relayDropped: Counter<'reason'>;
  /** Connections that started lagging (slow-member.ts). */
  readonly lagged: Counter;

  constructor(
    snapshot: () => HubSnapshot,
    /** Given when others (the cluster) register into the same registry. */
    readonly registry = new Registry(),
  ) {
    const registers = [this.registry];
    this.connections = new Gauge({
      name: 'rtc_hub_connections',
      help: 'Open SignalR connections by transport',
      labelNames: ['transport'],
      registers,
      collect() {
        const counts = snapshot().connections;
        for (const [transport, n] of Object.entries(counts)) this.set({ transport }, n);
      },
    });
    this.rooms = new Gauge({
      name: 'rtc_hub_rooms',
      help: 'Rooms with at least one member',
      registers,
      collect() {
        this.set(snapshot().rooms);
      },
    });
    this.members = new Gauge({
      name: 'rtc_hub_room_members',
      help: 'Room memberships across all rooms',
      registers,
      collect() {
        this.set(snapshot().members);
      },
    });
    this.messagesRelayed = new Counter({
      name: 'rtc_hub_messages_relayed_total',
      help: 'Messages delivered to recipients, by kind (signal, relay)',
      labelNames: ['kind'],
      registers,
    });
    this.bytesRelayed = new Counter({
      name: 'rtc_hub_bytes_relayed_total',
      help: 'Payload bytes delivered to recipients, by kind (signal, relay)',
      labelNames: ['kind'],
      registers,
    });
    this.errors = new Counter({
      name: 'rtc_hub_errors_total',
      help: 'Errors returned to clients or closing connections, by stable error code',
      labelNames: ['code'],
      registers,
    });
    this.connectionsOpened = new Counter({
      name: 'rtc_hub_connections_opened_total',
      help: 'Connections that completed the handshake, by transport',
      labelNames: ['transport'],
      registers,
    });
    new Gauge({
      name: 'rtc_hub_connections_by_protocol',
      help: 'Open SignalR connections by hub protocol (json, messagepack)',
      labelNames: ['protocol'],
      registers,
      collect() {
        for (const [protocol, n] of Object.entries(snapshot().protocols)) this.set({ protocol }, n);
      },
    });
    this.relayDropped = new Counter({
      name: 'rtc_hub_relay_dropped_total',
      help: 'Relayed frames not delivered, by reason (slow_member: the recipient lagged and its queue was full)',
      labelNames: ['reason'],
      registers,
    });
    this.lagged = new Counter({
      name: 'rtc_hub_slow_members_total',
      help: 'Times a connection started lagging: it did not drain within the slow-member wait, and senders stopped waiting for it',
      registers,
    });
    new Gauge({
      name: 'rtc_hub_slow_members',
      help: 'Connections lagging now (senders do not wait for them)',
      registers,
      collect() {
        this.set(snapshot().lagging);
      },
    });
    new Gauge({
      name: 'rtc_hub_outbound_queued_bytes',
      help: 'Bytes queued towards clients and not yet handed to the OS: the largest queue of one connection (max) and all of them (sum)',
      labelNames: ['of'],
      registers,
      collect() {
        const s = snapshot();
        this.set({ of: 'max' }, s.queuedMax);
        this.set({ of: 'sum' }, s.queuedSum);
      },
    });
  }
}

/** What the hub reports for its gauges (sampled when /metrics is scraped). */
export interface HubSnapshot {
  rooms: number;
  members: number;
  connections: Record<string, number>;
  protocols: Record<string, number>;
  /** Connections lagging now. */
  lagging: number;
  queuedMax: number;
  queuedSum: number;
}

/** What connections report for the gauges: how many speak each protocol, lag, and their queues. */
export interface ConnectionGaugeSource {
  readonly state: string;
  readonly protocol: string | null;
  readonly lagging: boolean;
  queuedBytes(): number;
}

/** The open connections' part of {@link HubSnapshot}. */
export function connectionGauges(connections: Iterable<ConnectionGaugeSource>): Pick<HubSnapshot, 'protocols' | 'lagging' | 'queuedMax' | 'queuedSum'> {
  const protocols: Record<string, number> = { json: 0, messagepack: 0 };
  let lagging = 0;
  let queuedMax = 0;
  let queuedSum = 0;
  for (const conn of connections) {
    if (conn.state !== 'open') continue;
    if (conn.protocol) protocols[conn.protocol] = (protocols[conn.protocol] ?? 0) + 1;
    if (conn.lagging) lagging++;
    const queued = conn.queuedBytes();
    queuedSum += queued;
    if (queued > queuedMax) queuedMax = queued;
  }
  return { protocols, lagging, queuedMax, queuedSum };
}

/** What the cluster reports for its gauges (sampled when /metrics is scraped). */
export interface ClusterGauges {
  /** Hub nodes alive in the cluster, this one included, as of the last heartbeat. */
  nodes: number;
  /** Presence entries in Redis, cluster-wide, as of the last heartbeat. */
  presenceEntries: number;
  /** 1 while the backplane is up (connected and in sync), else 0. */
  up: number;
}

/**
 * Metrics of a hub in a cluster (`--redis`), in the hub's own registry. Only created in cluster
 * mode, so a single hub's /metrics stays as it was.
 */
export class BackplaneMetrics {
  /** Backplane messages by direction (in, out) and kind (relay, signal, membership, pressure). */
  readonly messages: Counter<'direction' | 'kind'>;
  /** Publish → receive time of relays and signals from other hubs (the sender's clock against ours). */
  readonly latency: Histogram;
  /** Backplane messages or deliveries given up on: malformed, unreachable (Redis down), gone (recipient left). */
  readonly dropped: Counter<'reason'>;
  /** Backplane state changes, by the state entered (up, reconnecting, down). */
  readonly stateChanges: Counter<'state'>;
  /** Connections accepted for a negotiate made on this hub (here) or on another one (elsewhere). */
  readonly negotiatedAccepted: Counter<'negotiated'>;

  constructor(registry: Registry, gauges: () => ClusterGauges) {
    const registers = [registry];
    this.messages = new Counter({
      name: 'rtc_hub_backplane_messages_total',
      help: 'Messages published to (out) or received from (in) the Redis backplane, by kind (relay, signal, membership, pressure)',
      labelNames: ['direction', 'kind'],
      registers,
    });
    this.latency = new Histogram({
      name: 'rtc_hub_backplane_latency_seconds',
      help: 'Time from a hub publishing a relay or signal to this hub receiving it (clocks of both hubs)',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.dropped = new Counter({
      name: 'rtc_hub_backplane_dropped_total',
      help: 'Backplane messages dropped, by reason (malformed, unreachable, gone)',
      labelNames: ['reason'],
      registers,
    });
    this.stateChanges = new Counter({
      name: 'rtc_hub_backplane_state_changes_total',
      help: 'Backplane state changes, by the state entered (up, reconnecting, down)',
      labelNames: ['state'],
      registers,
    });
    this.negotiatedAccepted = new Counter({
      name: 'rtc_hub_cluster_connections_accepted_total',
      help: 'Connections (WebSocket, SSE, long polling) accepted for a negotiate, by where the negotiate happened (here, elsewhere: no sticky session needed)',
      labelNames: ['negotiated'],
      registers,
    });
    new Gauge({
      name: 'rtc_hub_cluster_nodes',
      help: 'Hub nodes alive in the cluster (this one included), as of the last heartbeat',
      registers,
      collect() {
        this.set(gauges().nodes);
      },
    });
    new Gauge({
      name: 'rtc_hub_presence_entries',
      help: 'Room memberships stored in Redis across the cluster, as of the last heartbeat',
      registers,
      collect() {
        this.set(gauges().presenceEntries);
      },
    });
    new Gauge({
      name: 'rtc_hub_backplane_up',
      help: '1 while the Redis backplane is connected and presence is in sync, else 0',
      registers,
      collect() {
        this.set(gauges().up);
      },
    });
  }
}
