/**
 * The NDJSON event stream (`GET /events`): agent events become one JSON object per line, written to
 * every attached client at once. Each client has a bounded buffer: a client that stays over it (or
 * goes far over it) is disconnected, so a slow reader can never hold up the agent or the others.
 */
import type { ServerResponse } from 'node:http';
import type { Agent } from '../agent/index.js';
import type { Logger } from '../log/logger.js';
import type { PathChange, PeerInfo, PeerLeft, ReceivedMessage } from '../engine/types.js';
import type { FileFailed, FileReceived } from '../engine/files/types.js';

/** Bytes a client may have queued (unread) before it is dropped: ~1,000 small messages. */
export const DEFAULT_EVENT_CLIENT_BUFFER_BYTES = 1024 * 1024;
/** How long a client may stay over its buffer bound before it is dropped. */
export const DEFAULT_EVENT_CLIENT_STALL_MS = 2_000;
/** A client this many times over its bound is dropped at once (memory stays bounded). */
const EVENT_CLIENT_HARD_CAP_FACTOR = 4;
/** A heartbeat line this often keeps idle proxies and `curl --max-time` users informed. */
export const DEFAULT_EVENT_HEARTBEAT_MS = 15_000;

/** The peer fields events and `/peers` show. */
export interface PeerSummary {
  room: string;
  peer: string;
  name: string;
  native: boolean;
  path: PeerInfo['path'];
  p2p: PeerInfo['p2p'];
  rttMs: number | null;
  bytesSent: number;
  bytesReceived: number;
  messagesSent: number;
  messagesReceived: number;
  p2pFailures: number;
  lastHeardMs: number;
  /** The peer's E2EE fingerprint, or null without E2EE. */
  fingerprint: string | null;
  e2ee: boolean;
}

/** One line of the stream. `ts` is the daemon's clock in ms since the epoch. */
export type DaemonEvent =
  | { type: 'ready'; ts: number; pid: number; rooms: string[]; peers: PeerSummary[] }
  | {
      type: 'message';
      ts: number;
      room: string;
      from: string;
      name: string;
      kind: ReceivedMessage['kind'];
      /** Text and JSON messages: the text. */
      text?: string;
      /** JSON messages: the parsed value. */
      json?: unknown;
      /** Binary messages: the bytes, base64. */
      base64?: string;
      id: string;
      path: ReceivedMessage['path'];
      reliable: boolean;
      encrypted: boolean;
      /** The sender's clock. */
      sentAt: number;
    }
  | { type: 'peer-joined'; ts: number; room: string; peer: string; name: string; native: boolean; path: PeerInfo['path'] }
  | { type: 'peer-left'; ts: number; room: string; peer: string; name: string; reason: string }
  | { type: 'path-changed'; ts: number; room: string; peer: string; name: string; path: PathChange['to']; previousPath: PathChange['from']; reason: string }
  | { type: 'room'; ts: number; room: string; state: 'joined' | 'left' }
  | { type: 'hub'; ts: number; state: string }
  | { type: 'error'; ts: number; code: string; message: string }
  | { type: 'file-received'; ts: number; room: string; from: string; name: string; path: string; size: number; sha256: string }
  | { type: 'file-failed'; ts: number; room: string; peer: string; name: string; direction: 'send' | 'receive'; reason: string }
  | { type: 'heartbeat'; ts: number }
  | { type: 'closing'; ts: number };

export type DaemonEventType = DaemonEvent['type'];

export function summarizePeer(room: string, p: PeerInfo): PeerSummary {
  return {
    room,
    peer: p.peerId,
    name: p.name,
    native: p.native,
    path: p.path,
    p2p: p.p2p,
    rttMs: p.rttMs ?? null,
    bytesSent: p.bytesSent,
    bytesReceived: p.bytesReceived,
    messagesSent: p.messagesSent,
    messagesReceived: p.messagesReceived,
    p2pFailures: p.p2pFailures,
    lastHeardMs: p.lastHeardMs,
    fingerprint: p.fingerprint ?? null,
    e2ee: p.e2ee,
  };
}

export function messageEvent(m: ReceivedMessage): DaemonEvent {
  // Field order is part of the contract for line-oriented tools: `text` comes before `json`.
  const base = { type: 'message' as const, ts: Date.now(), room: m.room, from: m.from, name: m.name, kind: m.kind };
  const body: { text?: string; json?: unknown; base64?: string } = {};
  if (m.kind === 'binary') body.base64 = Buffer.from(m.data as Uint8Array).toString('base64');
  else {
    body.text = m.text ?? '';
    if (m.kind === 'json') body.json = m.data;
  }
  return { ...base, ...body, id: m.id, path: m.path, reliable: m.reliable, encrypted: m.encrypted, sentAt: m.timestamp };
}

function peerJoinedEvent(p: PeerInfo & { room: string }): DaemonEvent {
  return { type: 'peer-joined', ts: Date.now(), room: p.room, peer: p.peerId, name: p.name, native: p.native, path: p.path };
}

function peerLeftEvent(p: PeerLeft): DaemonEvent {
  return { type: 'peer-left', ts: Date.now(), room: p.room, peer: p.peerId, name: p.name, reason: p.reason };
}

function pathChangedEvent(c: PathChange): DaemonEvent {
  return { type: 'path-changed', ts: Date.now(), room: c.room, peer: c.peerId, name: c.name, path: c.to, previousPath: c.from, reason: c.reason };
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
    const onMessage = (m: ReceivedMessage): void => this.publish(messageEvent(m));
    const onJoined = (p: PeerInfo & { room: string }): void => this.publish(peerJoinedEvent(p));
    const onLeft = (p: PeerLeft): void => this.publish(peerLeftEvent(p));
    const onPath = (c: PathChange): void => this.publish(pathChangedEvent(c));
    const onHub = (state: string): void => this.publish({ type: 'hub', ts: Date.now(), state });
    const onError = (err: { code: string; message: string }): void => {
      options.log.warn({ code: err.code, reason: err.message }, 'agent error');
      this.publish({ type: 'error', ts: Date.now(), code: err.code, message: err.message });
    };
    const onFile = (f: FileReceived): void =>
      this.publish({ type: 'file-received', ts: Date.now(), room: f.room, from: f.from, name: f.name, path: f.path, size: f.size, sha256: f.sha256 });
    const onFileFailed = (f: FileFailed): void =>
      this.publish({ type: 'file-failed', ts: Date.now(), room: f.room, peer: f.peerId, name: f.name, direction: f.direction, reason: f.reason });
    agent.on('file-received', onFile);
    agent.on('file-failed', onFileFailed);
    agent.on('message', onMessage);
    agent.on('peer-joined', onJoined);
    agent.on('peer-left', onLeft);
    agent.on('path-changed', onPath);
    agent.on('hub', onHub);
    agent.on('error', onError);
    this.unsubscribe = () => {
      agent.off('file-received', onFile);
      agent.off('file-failed', onFileFailed);
      agent.off('message', onMessage);
      agent.off('peer-joined', onJoined);
      agent.off('peer-left', onLeft);
      agent.off('path-changed', onPath);
      agent.off('hub', onHub);
      agent.off('error', onError);
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
    const ready: DaemonEvent = { type: 'ready', ts: Date.now(), pid: process.pid, rooms: rooms.map((r) => r.name), peers: rooms.flatMap((r) => r.peers().map((p) => summarizePeer(r.name, p))) };
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
        if (types && !types.has(event.type)) continue;
        if (rooms && room !== undefined && !rooms.has(room)) continue;
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
