/**
 * `startDaemon()`: the local control API of a long-running agent. HTTP over a unix socket (access
 * controlled by file permissions) or over loopback TCP with a bearer token. The daemon owns the
 * agent it is given: `close()` ends the event streams, closes the agent (leaving its rooms) and
 * removes the socket, or the token file it wrote for its address.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import { chmod, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Agent } from '../agent/index.js';
import { ErrorCode, RtcAgentError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { EventStream } from './events.js';
import { HttpError, sendError } from './http.js';
import { DaemonMetrics } from './metrics.js';
import { DaemonAddressError, claimSocketPath, daemonTokenPath, defaultDaemonDir, defaultSocketPath, isLoopbackHost, writeTokenFile } from './paths.js';
import { matchRoute, type RouteContext } from './routes.js';
import { dirname } from 'node:path';

/** Largest request body: a /send of ~750 KiB of binary as base64, with room for the JSON around it. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/** How long close() lets in-flight requests finish before it cuts their connections. */
export const DEFAULT_DAEMON_CLOSE_GRACE_MS = 2_000;

export interface DaemonOptions {
  /** The agent to control; the daemon closes it on close(). */
  agent: Agent;
  /** The root logger (a child with `component: 'daemon'` is used). */
  log: Logger;
  /** Unix socket to listen on; {@link defaultSocketPath} if neither this nor `tcp` is given. */
  socketPath?: string;
  /**
   * Listen on loopback TCP instead, requiring `Authorization: Bearer <token>`. With
   * `writeTokenFile`, the token is written (0600) to {@link daemonTokenPath} of the address actually
   * bound, once listening, so clients on this account find it; close() removes it.
   */
  tcp?: { host?: string; port: number; token: string; writeTokenFile?: boolean };
  /** Request body limit; {@link DEFAULT_MAX_BODY_BYTES} by default. */
  maxBodyBytes?: number;
  /** Unread bytes an event client may have queued before it is dropped. */
  eventBufferBytes?: number;
  /** Heartbeat line period on the event stream. */
  eventHeartbeatMs?: number;
}

export interface Daemon {
  /** The unix socket path, in socket mode. */
  readonly socketPath: string | undefined;
  /** `http://127.0.0.1:PORT`, in TCP mode. */
  readonly url: string | undefined;
  /** The token file this daemon wrote for its address (TCP mode with `writeTokenFile`). */
  readonly tokenFile: string | undefined;
  /** Resolves (with the reason) when a client asked the daemon to stop (`POST /stop`). */
  readonly stopRequested: Promise<string>;
  /** Stops listening, ends event streams, closes the agent, removes the socket. Idempotent. */
  close(): Promise<void>;
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) return false;
  // Hash both sides so the comparison is constant-time whatever the lengths.
  const a = createHash('sha256').update(m[1]!).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}

/** Starts the control API for `agent`; resolves once it is listening. */
export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const { agent, tcp } = options;
  const log = options.log.child({ component: 'daemon' });
  if (tcp && options.socketPath !== undefined) throw new RtcAgentError(ErrorCode.CONFIG, 'give either a socket path or a TCP address, not both');
  if (tcp && !isLoopbackHost(tcp.host ?? '127.0.0.1')) throw new RtcAgentError(ErrorCode.CONFIG, `the control API only listens on loopback, not ${tcp.host}`);
  if (tcp && tcp.token.length < 16) throw new RtcAgentError(ErrorCode.CONFIG, 'the control API token must be at least 16 characters');
  const socketPath = tcp ? undefined : (options.socketPath ?? defaultSocketPath());

  const metrics = new DaemonMetrics(agent, () => events.size);
  const events: EventStream = new EventStream({
    agent,
    log,
    ...(options.eventBufferBytes !== undefined ? { maxBufferedBytes: options.eventBufferBytes } : {}),
    ...(options.eventHeartbeatMs !== undefined ? { heartbeatMs: options.eventHeartbeatMs } : {}),
    onDrop: () => metrics.countDroppedClient(),
  });
  const onMessage = (m: { kind: string; data: unknown; text?: string }): void => {
    const bytes = m.kind === 'binary' ? (m.data as Uint8Array).length : Buffer.byteLength(m.text ?? '');
    metrics.countMessage('received', bytes);
  };
  const onPath = metrics.onPathChanged.bind(metrics);
  agent.on('message', onMessage);
  agent.on('path-changed', onPath);

  let resolveStop!: (reason: string) => void;
  const stopRequested = new Promise<string>((resolve) => (resolveStop = resolve));
  const ctx: RouteContext = {
    agent,
    log,
    events,
    metrics,
    maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    startedAt: Date.now(),
    address: { socketPath: socketPath ?? '' },
    requestStop: (reason) => resolveStop(reason),
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let routeName = 'unknown';
    res.once('finish', () => metrics.countRequest(routeName, res.statusCode));
    try {
      // Browsers send Origin; nothing legitimate here is a web page (DNS-rebinding / CSRF guard).
      if (req.headers.origin !== undefined) throw new HttpError(403, ErrorCode.FORBIDDEN, 'requests from web pages are refused');
      if (tcp && !tokenMatches(req.headers.authorization, tcp.token)) {
        throw new HttpError(401, ErrorCode.UNAUTHORIZED, 'missing or wrong bearer token (Authorization: Bearer <token>)');
      }
      const url = new URL(req.url ?? '/', 'http://daemon');
      const { route, params } = matchRoute(req.method ?? 'GET', url.pathname);
      routeName = route.name;
      await route.handler(ctx, { req, res, method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, params });
    } catch (err) {
      if (!(err instanceof RtcAgentError)) log.error({ err }, 'control API request failed');
      else log.debug({ code: err.code, reason: err.message, method: req.method, url: req.url }, 'control API request refused');
      const headers: Record<string, string> = {};
      if (err instanceof HttpError && err.status === 401) headers['WWW-Authenticate'] = 'Bearer';
      const allow = (err as { allow?: string }).allow;
      if (allow) headers.Allow = allow;
      // A refused body may still be arriving; close the connection rather than parse the rest.
      if (!req.complete) headers.Connection = 'close';
      sendError(res, err, headers);
    }
  };

  const server: Server = createServer((req, res) => void handle(req, res));
  server.on('clientError', (err, socket) => {
    log.debug({ err: err.message }, 'bad HTTP from a control client');
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  let url: string | undefined;
  let tokenFile: string | undefined;
  try {
    if (socketPath !== undefined) {
      // The default directory must be private; a path the user chose keeps its directory as is.
      const isDefaultDir = dirname(socketPath) === defaultDaemonDir();
      await claimSocketPath(socketPath, { enforceDir: isDefaultDir || options.socketPath === undefined });
      await listen(server, socketPath);
      // The socket is the only access control in this mode: owner read/write only.
      if (process.platform !== 'win32') await chmod(socketPath, 0o600);
    } else {
      const host = tcp!.host ?? '127.0.0.1';
      try {
        await listen(server, tcp!.port, host);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
        throw new DaemonAddressError(`another process is listening on ${host}:${tcp!.port}`, 'EADDRINUSE');
      }
      const port = (server.address() as AddressInfo).port;
      url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
      ctx.address = { url };
      // Written only now: the port is ours, so a file of that name can only be a dead daemon's.
      if (tcp!.writeTokenFile) {
        tokenFile = daemonTokenPath(host, port);
        await writeTokenFile(tokenFile, tcp!.token);
      }
    }
  } catch (err) {
    events.close();
    agent.off('message', onMessage);
    agent.off('path-changed', onPath);
    server.close();
    if (tokenFile !== undefined) await rm(tokenFile, { force: true });
    throw err;
  }
  log.info(socketPath !== undefined ? { socket: socketPath } : { url }, 'control API listening');

  let closing: Promise<void> | null = null;
  const shutdown = async (): Promise<void> => {
    // Streams first (clients hear `closing`), then the agent leaves its rooms while the API still
    // answers (so `rtc-agent stop` can wait for the end), then the listener and the socket go.
    events.close();
    await agent.close();
    agent.off('message', onMessage);
    agent.off('path-changed', onPath);
    // Before the port is released: afterwards another daemon may bind it and write a file of the same name.
    if (tokenFile !== undefined) await rm(tokenFile, { force: true });
    const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const cut = setTimeout(() => server.closeAllConnections(), DEFAULT_DAEMON_CLOSE_GRACE_MS);
    await serverClosed;
    clearTimeout(cut);
    if (socketPath !== undefined) await rm(socketPath, { force: true });
    log.info('daemon closed');
  };
  return {
    socketPath,
    url,
    tokenFile,
    stopRequested,
    close() {
      closing ??= shutdown();
      return closing;
    },
  };
}

function listen(server: Server, port: number | string, host?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const done = (): void => {
      server.off('error', reject);
      resolve();
    };
    if (typeof port === 'string') server.listen(port, done);
    else server.listen(port, host, done);
  });
}
