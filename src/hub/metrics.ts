import { Counter, Gauge, Registry } from 'prom-client';

/**
 * The hub's Prometheus metrics. Each hub owns its registry (not prom-client's global one) so
 * several hubs in one process — tests, an embedded hub beside a daemon — don't collide.
 */
export class HubMetrics {
  readonly registry = new Registry();
  readonly connections: Gauge<'transport'>;
  readonly rooms: Gauge;
  readonly members: Gauge;
  readonly messagesRelayed: Counter<'kind'>;
  readonly bytesRelayed: Counter<'kind'>;
  readonly errors: Counter<'code'>;
  readonly connectionsOpened: Counter<'transport'>;

  constructor(snapshot: () => { rooms: number; members: number; connections: Record<string, number> }) {
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
  }
}
