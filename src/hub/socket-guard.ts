/**
 * Connection hygiene below HTTP: how long a socket may take to send its request head, how long an
 * idle keep-alive socket lives, how many sockets may be open at once, and what happens to a
 * socket whose request is bad or late (it is destroyed, never just `end()`ed). Counts what it
 * destroyed in `rtc_hub_sockets_destroyed_total{reason}`.
 *
 * Why destroy: the HTTP server's sockets allow half-open connections, so `socket.end()` only sends
 * our FIN and then waits for the client's, which a slowloris client never sends; every such
 * socket kept a file descriptor for good.
 *
 * Why Node's own timers for the request head: on Node 20, `headersTimeout` is measured from the
 * first byte of a request (or from accept, for a socket that sends nothing) until the head is
 * complete, also for the second request on a keep-alive socket, and a sweep every
 * `connectionsCheckingInterval` (30 s by default) reports late sockets as `clientError`
 * ERR_HTTP_REQUEST_TIMEOUT. With the defaults a slowloris socket lives 60-90 s, and with a
 * `clientError` listener that only `end()`s it, forever. We keep Node's tracking (it knows the
 * parser's state, which no outside timer does) and tighten it: `headersTimeout` is the hub's head
 * timeout, the sweep runs at a fraction of it, and `clientError` destroys. After an `upgrade` Node
 * no longer tracks the socket, so that stretch gets its own timer here.
 */
import { readFileSync } from 'node:fs';
import type { Server, ServerOptions, IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../log/logger.js';
import { effectiveMaxConnections, type ResolvedHubOptions } from './options.js';

/**
 * A whole request, head and body (at most one 8 MiB frame), must arrive within this: 8 MiB needs
 * about 1.1 Mbit/s. It bounds a client that sends its head and then dribbles the body; Node's
 * default is 300 s. Long polls are unaffected: their GET request is complete once its head is.
 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

/** Why the hub destroyed a socket (the `reason` label). */
export type SocketDestroyReason =
  | 'head_timeout'
  | 'request_timeout'
  | 'upgrade_timeout'
  | 'idle'
  | 'bad_request'
  | 'client_error'
  | 'over_capacity';

/** The createServer() options that carry the hub's timeouts (the check interval can only be set here). */
export function httpServerOptions(options: ResolvedHubOptions): ServerOptions {
  const head = options.requestHeadTimeoutMs;
  return {
    headersTimeout: head,
    requestTimeout: Math.max(DEFAULT_REQUEST_TIMEOUT_MS, head),
    keepAliveTimeout: options.idleSocketTimeoutMs,
    // A late socket lives at most head + interval; a quarter of the head timeout keeps that close
    // to the configured value, and one sweep a second over the open sockets costs next to nothing.
    connectionsCheckingInterval: Math.min(1_000, Math.max(50, Math.floor(head / 4))),
  };
}

/** The process's open-file limit from /proc/self/limits (Linux), else undefined. */
export function readOpenFileLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    const n = Number(soft);
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

export class SocketGuard {
  /** Every socket the server accepted and that is not closed yet. */
  readonly sockets = new Set<Socket>();
  readonly maxConnections: number;
  private readonly destroyed: Counter<'reason'>;
  /** Requests whose response has not finished, per socket: tells a late head from a late body. */
  private readonly inFlight = new WeakMap<Socket, number>();

  constructor(
    private readonly options: ResolvedHubOptions,
    registry: Registry,
    private readonly log: Logger,
  ) {
    this.maxConnections = effectiveMaxConnections(options.maxConnections, readOpenFileLimit());
    if (this.maxConnections < options.maxConnections) {
      log.warn({ configured: options.maxConnections, applied: this.maxConnections }, 'maxConnections lowered to fit the open-file limit');
    }
    const sockets = this.sockets;
    this.destroyed = new Counter({
      name: 'rtc_hub_sockets_destroyed_total',
      help: 'Sockets the hub destroyed, by reason (head_timeout, request_timeout, upgrade_timeout, idle, bad_request, client_error, over_capacity)',
      labelNames: ['reason'],
      registers: [registry],
    });
    new Gauge({
      name: 'rtc_hub_open_sockets',
      help: 'TCP sockets open on the hub (HTTP, SSE, long polls and WebSockets)',
      registers: [registry],
      collect() {
        this.set(sockets.size);
      },
    });
  }

  /** Applies the socket cap and wires the guard into `server`. */
  attach(server: Server): void {
    server.maxConnections = this.maxConnections;
    // Node destroys these at accept, before 'connection'.
    server.on('drop', () => this.count('over_capacity'));
    server.on('connection', (socket: Socket) => this.onConnection(socket));
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.onRequest(req, res));
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.onClientError(err, socket as Socket));
  }

  /**
   * Starts the upgrade deadline for a socket Node handed over with an upgrade request. Call the
   * returned function once the socket is a WebSocket; a socket that is not by the deadline (a
   * refused upgrade whose client never closes, or one stuck before the 101) is destroyed.
   */
  upgradeStarted(socket: Socket): () => void {
    const timer = setTimeout(() => {
      if (socket.destroyed) return;
      this.log.debug({ remote: socket.remoteAddress }, 'upgrade not completed in time; destroying the socket');
      this.destroy(socket, 'upgrade_timeout');
    }, this.options.requestHeadTimeoutMs);
    timer.unref();
    const done = (): void => clearTimeout(timer);
    socket.once('close', done);
    return done;
  }

  /** Destroys every open socket (hub shutdown). */
  destroyAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  private onConnection(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    // Node emits 'timeout' on a socket only for keepAliveTimeout (the hub sets no other socket
    // timeout) and destroys it right after, since nothing else listens.
    socket.on('timeout', () => {
      if ((this.inFlight.get(socket) ?? 0) === 0) this.count('idle');
    });
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    this.inFlight.set(socket, (this.inFlight.get(socket) ?? 0) + 1);
    res.once('close', () => this.inFlight.set(socket, Math.max(0, (this.inFlight.get(socket) ?? 1) - 1)));
  }

  private onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    const busy = (this.inFlight.get(socket) ?? 0) > 0;
    let reason: SocketDestroyReason;
    let status: string | undefined;
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      reason = busy ? 'request_timeout' : 'head_timeout';
      status = '408 Request Timeout';
    } else if (err.code === 'HPE_HEADER_OVERFLOW') {
      reason = 'bad_request';
      status = '431 Request Header Fields Too Large';
    } else if (typeof err.code === 'string' && err.code.startsWith('HPE_')) {
      reason = 'bad_request';
      status = '400 Bad Request';
    } else {
      // ECONNRESET and the like: the client is gone; there is nobody to answer.
      reason = 'client_error';
    }
    this.log.debug({ code: err.code, reason }, 'bad or late HTTP request; destroying the socket');
    // Like Node's default handler: answer when no response is under way, then destroy at once. The
    // answer is a few bytes the kernel takes immediately, so it still goes out.
    if (status !== undefined && !busy && socket.writable) socket.write(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    this.destroy(socket, reason);
  }

  private destroy(socket: Socket, reason: SocketDestroyReason): void {
    if (socket.destroyed) return;
    socket.destroy();
    this.count(reason);
  }

  private count(reason: SocketDestroyReason): void {
    this.destroyed.inc({ reason });
  }
}
