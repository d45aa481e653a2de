/**
 * The NDJSON event stream (`GET /events`): agent events become one JSON object per line, written to
 * every attached client at once. Each client has a bounded buffer: a client that stays over it (or
 * goes far over it) is disconnected, so a slow reader can never hold up the agent or the others.
 */
import type { ServerResponse } from 'node:http';
import type { Agent, PeerInfo } from '../agent/index.js';
import { eventJson, peerJson, type EventJson, type EventJsonType, type PeerJson } from '../agent/event-json.js';
import type { Logger } from '../log/logger.js';

/** Bytes a client may have queued (unread) before it is dropped: ~1,000 small messages. */
export const DEFAULT_EVENT_CLIENT_BUFFER_BYTES = 1024 * 1024;
/** How long a client may stay over its buffer bound before it is dropped. */
export const DEFAULT_EVENT_CLIENT_STALL_MS = 2_000;
/** A client this many times over its bound is dropped at once (memory stays bounded). */
const EVENT_CLIENT_HARD_CAP_FACTOR = 4;
/** A heartbeat line this often keeps idle proxies and `curl --max-time` users informed. */
export const DEFAULT_EVENT_HEARTBEAT_MS = 15_000;

/** A peer as `/peers` and `ready` show it: the same shape as in `peer-joined` events. */
export type PeerSummary = PeerJson;

/** Lines only the daemon's stream has, besides the agent's events (docs/events.md). */
export type DaemonOnlyEvent =
  | { type: 'ready'; ts: number; pid: number; rooms: string[]; peers: PeerJson[] }
  | { type: 'room'; ts: number; room: string; state: 'joined' | 'left' }
  | { type: 'heartbeat'; ts: number }
  | { type: 'closing'; ts: number };

/** One line of the stream: an agent event in its one JSON shape ({@link eventJson}), or a daemon line. */
export type DaemonEvent = EventJson | DaemonOnlyEvent;

export type DaemonEventType = DaemonEvent['type'];

/** Agent events every client gets (unless it filters); `file-progress` only when asked for by type. */
const STREAMED: readonly EventJsonType[] = ['message', 'peer-joined', 'peer-left', 'path-changed', 'delivery-refused', 'file-offer', 'file-received', 'file-failed', 'error', 'hub'];
/** Too frequent for every client: one line per 64 KiB chunk-step of every transfer. */
const ON_REQUEST: readonly EventJsonType[] = ['file-progress'];

export function summarizePeer(room: string, p: PeerInfo): PeerSummary {
  return peerJson(room, p);
}

/** Which events a client wants (`?room=a&room=b&type=message`); empty means all. */
export interface EventFilter {
  rooms?: ReadonlySet<string>;
  types?: ReadonlySet<string>;
}

interface Client {
  res: ServerResponse;
  filter: EventFilter;
  /** Running while the client is over its buffer bound (see write()). */
  stallTimer?: NodeJS.Timeout | undefined;
}

export interface EventStreamOptions {
  agent: Agent;
  log: Logger;
  maxBufferedBytes?: number;
  stallMs?: number;
  heartbeatMs?: number;
  /** Called for every event (metrics count them). */
  onEvent?: (event: DaemonEvent) => void;
  /** Called when a slow client is dropped. */
  onDrop?: () => void;
}

/** Fans agent events out to `/events` clients as NDJSON. */
export class EventStream {
  private readonly clients = new Set<Client>();
  private readonly maxBufferedBytes: number;
  private readonly stallMs: number;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly unsubscribe: () => void;
  private closed = false;

  constructor(private readonly options: EventStreamOptions) {
    this.maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_EVENT_CLIENT_BUFFER_BYTES;
    this.stallMs = options.stallMs ?? DEFAULT_EVENT_CLIENT_STALL_MS;
    const { agent } = options;
    const handlers = [...STREAMED, ...ON_REQUEST].map((type) => {
      const handler = (payload: unknown): void => {
        if (type === 'error') {
          const err = payload as { code: string; message: string };
          options.log.warn({ code: err.code, reason: err.message }, 'agent error');
        }
        this.publish(eventJson(type, payload as never));
      };
      agent.on(type as 'message', handler);
      return [type, handler] as const;
    });
    this.unsubscribe = () => {
      for (const [type, handler] of handlers) agent.off(type as 'message', handler);
    };
    this.heartbeat = setInterval(() => this.publish({ type: 'heartbeat', ts: Date.now() }), options.heartbeatMs ?? DEFAULT_EVENT_HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** Attached clients. */
  get size(): number {
    return this.clients.size;
  }

  /** Starts streaming to `res`; the first line is a `ready` event with the current rooms and peers. */
  attach(res: ServerResponse, filter: EventFilter): void {
    if (this.closed) {
      res.writeHead(503).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/x-ndjson; charset=utf-8', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
    res.socket?.setNoDelay(true);
    const client: Client = { res, filter };
    this.clients.add(client);
    res.once('close', () => this.clients.delete(client));
    const rooms = this.options.agent.joinedRooms().filter((r) => !filter.rooms || filter.rooms.has(r.name));
    const ready: DaemonEvent = { type: 'ready', ts: Date.now(), pid: process.pid, rooms: rooms.map((r) => r.name), peers: rooms.flatMap((r) => r.peers().map((p) => peerJson(r.name, p))) };
    this.write(client, `${JSON.stringify(ready)}\n`);
  }

  /** Sends an event to every client whose filter matches. Never blocks. */
  publish(event: DaemonEvent): void {
    if (this.closed) return;
    this.options.onEvent?.(event);
    if (this.clients.size === 0) return;
    const line = `${JSON.stringify(event)}\n`;
    const room = 'room' in event ? event.room : undefined;
    for (const client of [...this.clients]) {
      const { rooms, types } = client.filter;
      // Heartbeats and lifecycle lines reach everyone; filters apply to the rest.
      if (event.type !== 'heartbeat' && event.type !== 'closing') {
        if (types ? !types.has(event.type) : ON_REQUEST.includes(event.type as EventJsonType)) continue;
        if (rooms && typeof room === 'string' && !rooms.has(room)) continue;
      }
      this.write(client, line);
    }
  }

  private write(client: Client, line: string): void {
    const { res } = client;
    if (res.destroyed || res.writableEnded) {
      this.clients.delete(client);
      return;
    }
    res.write(line);
    const buffered = res.writableLength;
    if (buffered <= this.maxBufferedBytes) return;
    // A burst of events can queue more than the bound even for a client that reads (node:http
    // corks the socket until the next tick, and the reader may be busy for a moment). Over the
    // bound, a client has DEFAULT_EVENT_CLIENT_STALL_MS to drain; far over it, it is dropped now.
    if (buffered > this.maxBufferedBytes * EVENT_CLIENT_HARD_CAP_FACTOR) {
      this.drop(client, buffered);
      return;
    }
    if (client.stallTimer) return;
    const onDrain = (): void => {
      clearTimeout(client.stallTimer);
      client.stallTimer = undefined;
    };
    res.once('drain', onDrain);
    client.stallTimer = setTimeout(() => {
      client.stallTimer = undefined;
      res.off('drain', onDrain);
      if (res.writableLength > this.maxBufferedBytes) this.drop(client, res.writableLength);
    }, this.stallMs);
    client.stallTimer.unref();
  }

  private drop(client: Client, buffered: number): void {
    clearTimeout(client.stallTimer);
    this.clients.delete(client);
    this.options.log.warn({ buffered }, 'event client is not reading; disconnecting it');
    this.options.onDrop?.();
    client.res.destroy();
  }

  /** Tells every client the daemon is closing, ends their streams, stops listening to the agent. */
  close(): void {
    if (this.closed) return;
    this.publish({ type: 'closing', ts: Date.now() });
    this.closed = true;
    clearInterval(this.heartbeat);
    this.unsubscribe();
    for (const { res, stallTimer } of this.clients) {
      clearTimeout(stallTimer);
      res.end();
    }
    this.clients.clear();
  }
}
