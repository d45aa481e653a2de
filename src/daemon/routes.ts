/**
 * The control API's routes. Each handler gets the parsed request and the daemon's parts and either
 * replies or throws an RtcAgentError (rendered as `{error:{code,message}}` with a fitting status).
 */
import { basename, isAbsolute } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Agent, FileFailed, Room } from '../agent/index.js';
import { DeliveryWatch } from './delivery.js';
import { ErrorCode, RtcAgentError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { summarizePeer, type EventFilter, type EventStream } from './events.js';
import { HttpError, readJsonObject, sendJson } from './http.js';
import type { DaemonMetrics } from './metrics.js';

/** What the routes need from the daemon. */
export interface RouteContext {
  agent: Agent;
  log: Logger;
  events: EventStream;
  metrics: DaemonMetrics;
  maxBodyBytes: number;
  startedAt: number;
  /** Where the API listens: `{ socketPath }` or `{ url }`. */
  address: { socketPath: string } | { url: string };
  /** Asks the daemon to shut down (after the current reply is sent). */
  requestStop(reason: string): void;
}

export interface Request {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  path: string;
  query: URLSearchParams;
  /** Path parameters, e.g. the room of `DELETE /rooms/:room`. */
  params: string[];
}

type Handler = (ctx: RouteContext, r: Request) => Promise<void>;

interface Route {
  method: string;
  pattern: RegExp;
  /** The label used in metrics (the pattern, not the concrete path). */
  name: string;
  handler: Handler;
}

function bad(message: string): RtcAgentError {
  return new RtcAgentError(ErrorCode.BAD_REQUEST, message);
}

function joinedNames(agent: Agent): string {
  const names = agent.joinedRooms().map((r) => r.name);
  return names.length === 0 ? 'none' : names.join(', ');
}

/** The named room, else the first joined one. */
function resolveRoom(agent: Agent, name: unknown): Room {
  if (name !== undefined && name !== null) {
    if (typeof name !== 'string' || name === '') throw bad("'room' must be a non-empty string");
    const room = agent.room(name);
    if (!room) throw new RtcAgentError(ErrorCode.NOT_IN_ROOM, `not in room '${name}' (joined: ${joinedNames(agent)})`);
    return room;
  }
  const first = agent.joinedRooms()[0];
  if (!first) throw new RtcAgentError(ErrorCode.NOT_IN_ROOM, 'the daemon has joined no room; POST /rooms {"room":"…"} first');
  return first;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/;

/** Turns a /send body's payload field into what room.send() takes, and its size. */
function payloadOf(body: Record<string, unknown>): { data: unknown; bytes: number } {
  const given = (['text', 'json', 'base64'] as const).filter((k) => body[k] !== undefined);
  if (given.length !== 1) throw bad(`give exactly one of 'text', 'json' or 'base64'${given.length > 1 ? ` (got ${given.join(', ')})` : ''}`);
  const field = given[0]!;
  const value = body[field];
  if (field === 'text') {
    if (typeof value !== 'string') throw bad("'text' must be a string");
    return { data: value, bytes: Buffer.byteLength(value) };
  }
  if (field === 'base64') {
    if (typeof value !== 'string' || !BASE64.test(value.replace(/\s+/g, ''))) throw bad("'base64' must be a base64 string");
    const bytes = new Uint8Array(Buffer.from(value, 'base64'));
    return { data: bytes, bytes: bytes.length };
  }
  return { data: value, bytes: Buffer.byteLength(JSON.stringify(value)) };
}

const status: Handler = async (ctx, { res }) => {
  const { agent } = ctx;
  const stats = agent.stats();
  sendJson(res, 200, {
    pid: process.pid,
    name: agent.settings.name,
    uptimeMs: Date.now() - ctx.startedAt,
    startedAt: new Date(ctx.startedAt).toISOString(),
    control: ctx.address,
    hub: { url: agent.hubUrl, state: stats.hubState, reconnects: stats.hubReconnects },
    native: agent.native,
    nativeReason: agent.nativeReason ?? null,
    rooms: agent.joinedRooms().map((r) => ({ room: r.name, self: r.selfId, peers: r.peers().length })),
    links: stats.peers,
    eventClients: ctx.events.size,
  });
};

const peers: Handler = async (ctx, { res, query }) => {
  const name = query.get('room');
  const rooms = name === null ? ctx.agent.joinedRooms() : [resolveRoom(ctx.agent, name)];
  sendJson(res, 200, { peers: rooms.flatMap((r) => r.peers().map((p) => summarizePeer(r.name, p))) });
};

const listRooms: Handler = async (ctx, { res }) => {
  sendJson(res, 200, { rooms: ctx.agent.joinedRooms().map((r) => ({ room: r.name, self: r.selfId, peers: r.peers().length })) });
};

const joinRoom: Handler = async (ctx, { req, res }) => {
  const body = await readJsonObject(req, ctx.maxBodyBytes);
  if (typeof body.room !== 'string' || body.room === '') throw bad("'room' is required: a room name");
  const already = ctx.agent.room(body.room) !== undefined;
  const room = await ctx.agent.join(body.room);
  if (!already) ctx.events.publish({ type: 'room', ts: Date.now(), room: room.name, state: 'joined' });
  sendJson(res, already ? 200 : 201, { room: room.name, self: room.selfId, joined: !already, peers: room.peers().map((p) => summarizePeer(room.name, p)) });
};

const leaveRoom: Handler = async (ctx, { res, params }) => {
  let name: string;
  try {
    name = decodeURIComponent(params[0]!);
  } catch {
    throw bad('room name is not valid percent-encoding');
  }
  const room = ctx.agent.room(name);
  if (!room) throw new RtcAgentError(ErrorCode.NOT_IN_ROOM, `not in room '${name}' (joined: ${joinedNames(ctx.agent)})`);
  await room.leave();
  ctx.events.publish({ type: 'room', ts: Date.now(), room: name, state: 'left' });
  sendJson(res, 200, { room: name, left: true });
};

/** How long POST /send with `ack: true` waits for acknowledgements by default. */
export const DEFAULT_SEND_ACK_TIMEOUT_MS = 10_000;

const send: Handler = async (ctx, { req, res }) => {
  const body = await readJsonObject(req, ctx.maxBodyBytes);
  const room = resolveRoom(ctx.agent, body.room);
  const { data, bytes } = payloadOf(body);
  if (body.to !== undefined && (typeof body.to !== 'string' || body.to === '')) throw bad("'to' must be a peer id (see GET /peers)");
  if (body.reliable !== undefined && typeof body.reliable !== 'boolean') throw bad("'reliable' must be true or false");
  if (body.ack !== undefined && typeof body.ack !== 'boolean') throw bad("'ack' must be true or false");
  if (body.ackTimeoutMs !== undefined && (!Number.isSafeInteger(body.ackTimeoutMs) || (body.ackTimeoutMs as number) <= 0)) throw bad("'ackTimeoutMs' must be a positive integer");
  const to = body.to as string | undefined;
  if (to !== undefined && !room.peer(to)) throw new RtcAgentError(ErrorCode.UNKNOWN_PEER, `no peer '${to}' in room '${room.name}' (see GET /peers)`);
  const recipients = to !== undefined ? 1 : room.peers().length;
  const options: { to?: string; reliable?: boolean } = {};
  if (to !== undefined) options.to = to;
  if (body.reliable !== undefined) options.reliable = body.reliable as boolean;
  // With ack, the reply waits until the peers acknowledged (or refused) it: "delivered" means delivered.
  const watch = body.ack === true ? new DeliveryWatch(room) : undefined;
  watch?.beforeSend(to);
  try {
    await room.send(data, options);
  } catch (err) {
    watch?.close();
    throw err;
  }
  ctx.metrics.countMessage('sent', bytes, recipients);
  const reply: Record<string, unknown> = { room: room.name, to: to ?? null, recipients, bytes };
  if (watch) {
    const verdict = await watch.settle((body.ackTimeoutMs as number | undefined) ?? DEFAULT_SEND_ACK_TIMEOUT_MS);
    Object.assign(reply, { delivered: verdict.delivered, refused: verdict.refused, unacknowledged: verdict.unacknowledged });
  }
  sendJson(res, 200, reply);
};

/**
 * POST /files {path, room?, to?}: sends a file from the daemon's file system; answers when the
 * receivers confirmed, with `failed` listing those that refused or did not confirm (and why).
 */
const sendFile: Handler = async (ctx, { req, res }) => {
  const body = await readJsonObject(req, ctx.maxBodyBytes);
  if (typeof body.path !== 'string' || !isAbsolute(body.path)) throw bad("'path' must be an absolute file path (the daemon's working directory is not yours)");
  const path = body.path;
  const room = resolveRoom(ctx.agent, body.room);
  if (body.to !== undefined && (typeof body.to !== 'string' || body.to === '')) throw bad("'to' must be a peer id (see GET /peers)");
  const to = body.to as string | undefined;
  if (to !== undefined && !room.peer(to)) throw new RtcAgentError(ErrorCode.UNKNOWN_PEER, `no peer '${to}' in room '${room.name}' (see GET /peers)`);
  // Peers E2EE keeps us from get nothing; the others' failures arrive as file-failed before the result.
  const failed: Pick<FileFailed, 'peerId' | 'name' | 'code' | 'reason'>[] = room
    .peers()
    .filter((p) => (to === undefined || p.peerId === to) && !p.canSend)
    .map((p) => ({ peerId: p.peerId, name: basename(path), code: 'refused', reason: p.cannotSendReason ?? `${p.name} cannot be sent to` }));
  const onFailed = (f: FileFailed): void => {
    if (f.direction === 'send') failed.push({ peerId: f.peerId, name: f.name, code: f.code, reason: f.reason });
  };
  room.on('file-failed', onFailed);
  try {
    const result = await room.sendFile(path, to === undefined ? {} : { to });
    ctx.metrics.countMessage('sent', result.size, result.deliveredTo.length);
    sendJson(res, 200, { room: room.name, ...result, failed });
  } catch (err) {
    // Nobody confirmed it, and we know why: that is the answer, not an API error.
    if (failed.length === 0) throw err;
    sendJson(res, 200, { room: room.name, name: basename(path), deliveredTo: [], failed });
  } finally {
    room.off('file-failed', onFailed);
  }
};

function setOf(values: string[]): Set<string> | undefined {
  const items = values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  return items.length > 0 ? new Set(items) : undefined;
}

const events: Handler = async (ctx, { res, query }) => {
  const filter: EventFilter = {};
  const rooms = setOf(query.getAll('room'));
  const types = setOf(query.getAll('type'));
  if (rooms) filter.rooms = rooms;
  if (types) filter.types = types;
  ctx.events.attach(res, filter);
};

const metrics: Handler = async (ctx, { res }) => {
  const { contentType, body } = await ctx.metrics.render();
  res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(body);
};

const stop: Handler = async (ctx, { res }) => {
  res.once('finish', () => ctx.requestStop('POST /stop'));
  sendJson(res, 202, { stopping: true });
};

const ROUTES: Route[] = [
  { method: 'GET', pattern: /^\/status$/, name: '/status', handler: status },
  { method: 'GET', pattern: /^\/peers$/, name: '/peers', handler: peers },
  { method: 'GET', pattern: /^\/rooms$/, name: '/rooms', handler: listRooms },
  { method: 'POST', pattern: /^\/rooms$/, name: '/rooms', handler: joinRoom },
  { method: 'DELETE', pattern: /^\/rooms\/([^/]+)$/, name: '/rooms/:room', handler: leaveRoom },
  { method: 'POST', pattern: /^\/send$/, name: '/send', handler: send },
  { method: 'POST', pattern: /^\/files$/, name: '/files', handler: sendFile },
  { method: 'GET', pattern: /^\/events$/, name: '/events', handler: events },
  { method: 'GET', pattern: /^\/metrics$/, name: '/metrics', handler: metrics },
  { method: 'POST', pattern: /^\/stop$/, name: '/stop', handler: stop },
];

/** Finds the route for a request; 404 for unknown paths, 405 (with Allow) for a wrong method. */
export function matchRoute(method: string, path: string): { route: Route; params: string[] } {
  const onPath = ROUTES.filter((r) => r.pattern.test(path));
  if (onPath.length === 0) throw new HttpError(404, ErrorCode.BAD_REQUEST, `no such endpoint: ${path} (try GET /status)`);
  const route = onPath.find((r) => r.method === method || (method === 'HEAD' && r.method === 'GET'));
  if (!route) {
    throw Object.assign(new HttpError(405, ErrorCode.BAD_REQUEST, `${method} is not allowed on ${path}; use ${onPath.map((r) => r.method).join(' or ')}`), {
      allow: onPath.map((r) => r.method).join(', '),
    });
  }
  return { route, params: route.pattern.exec(path)!.slice(1) };
}
