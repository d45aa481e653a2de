/**
 * The hub's JSON-RPC 2.0 signaling endpoint: WebSocket upgrades on `/rpc` (CORS and auth exactly
 * as for SignalR: a JWT as `Authorization: Bearer` or `?access_token=`), the connections' keep-alive
 * (WebSocket pings, which browsers answer by themselves) and client timeout, tokens that expire on
 * live connections, and shutdown. The sessions are members of the same rooms as SignalR clients
 * through the hub's one {@link RoomMethods}.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { ErrorCode, RtcAgentError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import { RpcCloseCode } from '../../protocol/jsonrpc/messages.js';
import { extractToken, tokenExpiredError, type AuthUser, type TokenVerifier } from '../auth.js';
import type { CorsPolicy } from '../cors.js';
import type { HubMetrics } from '../metrics.js';
import type { ResolvedHubOptions } from '../options.js';
import type { RoomMethods } from '../room-methods.js';
import { RpcDispatcher } from './rpc-dispatcher.js';
import { rpcMethods } from './rpc-methods.js';
import { RpcSession } from './rpc-session.js';

/** The URL path of JSON-RPC signaling, beside the SignalR hub's path. */
export const JSONRPC_PATH = '/rpc';
/** The `transport` label of JSON-RPC connections in the hub's metrics and /healthz. */
export const JSONRPC_TRANSPORT = 'JsonRpc';
/** How long shutdown waits for clients to answer our close frame before cutting their sockets. */
export const DEFAULT_RPC_SHUTDOWN_GRACE_MS = 2_000;

export interface RpcEndpointOptions {
  rooms: RoomMethods;
  options: ResolvedHubOptions;
  verifier: TokenVerifier | null;
  cors: CorsPolicy;
  metrics: HubMetrics;
  log: Logger;
}

/** Refuses an upgrade with an HTTP status (the hub's own writer, which closes the socket). */
export type RejectUpgrade = (status: number, text: string) => void;

export class RpcEndpoint {
  private readonly wss: WebSocketServer;
  private readonly dispatcher: RpcDispatcher;
  private readonly sessions = new Set<RpcSession>();
  /** Sessions closed because their token expired: their members wait for a rejoin. */
  private readonly expired = new WeakSet<RpcSession>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private ticker: NodeJS.Timeout | null = null;
  private closing: Promise<void> | null = null;

  constructor(private readonly o: RpcEndpointOptions) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: o.options.limits.maxFrameBytes, perMessageDeflate: false });
    this.dispatcher = new RpcDispatcher(rpcMethods(o.rooms), o.options.limits, o.metrics, o.log);
  }

  /** Open JSON-RPC connections (for /healthz and the connections gauge). */
  get openConnections(): number {
    return this.sessions.size;
  }

  /** Takes an upgrade request for {@link JSONRPC_PATH}; `upgraded` stops the hub's upgrade deadline. */
  async upgrade(req: IncomingMessage, socket: Socket, head: Buffer, url: URL, upgraded: () => void, reject: RejectUpgrade): Promise<void> {
    if (this.closing) return reject(503, `${ErrorCode.SHUTTING_DOWN}: the hub is shutting down`);
    // Browsers send Origin on WebSockets too; refusing foreign origins stops cross-site hijacking.
    if (!this.o.cors.isAllowed(req)) return reject(403, 'origin not allowed');
    let user: AuthUser | null = null;
    if (this.o.verifier) {
      try {
        const token = extractToken(req, url);
        if (token === undefined) throw new RtcAgentError(ErrorCode.UNAUTHORIZED, 'a bearer token is required');
        user = await this.o.verifier.verify(token);
      } catch (err) {
        const e = err instanceof RtcAgentError ? err : new RtcAgentError(ErrorCode.UNAUTHORIZED, 'token is invalid');
        this.o.metrics.errors.inc({ code: e.code });
        return reject(e.code === ErrorCode.FORBIDDEN ? 403 : 401, e.toWire());
      }
    }
    if (this.closing) return reject(503, `${ErrorCode.SHUTTING_DOWN}: the hub is shutting down`);
    this.wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      upgraded();
      if (this.closing) {
        ws.close(RpcCloseCode.GoingAway, `${ErrorCode.SHUTTING_DOWN}: the hub is shutting down`);
        return;
      }
      this.accept(ws, user);
    });
  }

  private accept(ws: WebSocket, user: AuthUser | null): void {
    const session = new RpcSession({
      ws,
      user,
      limits: this.o.options.limits,
      log: this.o.log,
      now: Date.now(),
      onFrame: (s, text) => this.dispatcher.handleFrame(s, text),
      onClosed: (s, error) => this.closed(s, error),
    });
    this.sessions.add(session);
    this.o.metrics.connectionsOpened.inc({ transport: JSONRPC_TRANSPORT });
    session.log.debug({ user: user?.userId }, 'JSON-RPC client connected');
    this.ticker ??= this.startTicker();
  }

  private closed(session: RpcSession, error: RtcAgentError | undefined): void {
    this.sessions.delete(session);
    if (error) this.o.metrics.errors.inc({ code: error.code });
    session.log.debug({ code: error?.code }, 'JSON-RPC client disconnected');
    // While the hub shuts down, telling each client that the others "disconnected" is noise.
    if (this.closing) return;
    if (!this.expired.has(session)) {
      this.o.rooms.disconnected(session);
      return;
    }
    // Closed for its token: a client that comes back at once with a fresh one rejoins (the same
    // agentKey gives the same peer id) without the others seeing it leave.
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.closing) this.o.rooms.disconnected(session);
    }, this.o.options.tokenExpiryGraceMs);
    timer.unref();
    this.timers.add(timer);
  }

  private startTicker(): NodeJS.Timeout {
    const o = this.o.options;
    // Fine-grained enough for the shortest configured interval, as the SignalR connections' ticker.
    const tickMs = Math.max(20, Math.min(1_000, o.keepAliveIntervalMs / 4, o.clientTimeoutMs / 4));
    const ticker = setInterval(() => this.tick(Date.now()), tickMs);
    ticker.unref();
    return ticker;
  }

  private tick(now: number): void {
    const o = this.o.options;
    for (const session of this.sessions) {
      const expiresAt = session.user?.expiresAt;
      if (expiresAt !== undefined && now >= expiresAt) {
        session.log.debug('token expired; closing the JSON-RPC connection');
        this.expired.add(session);
        session.close(tokenExpiredError(), RpcCloseCode.TokenExpired);
        continue;
      }
      if (now - session.lastReceivedAt > o.clientTimeoutMs) {
        session.log.debug('JSON-RPC client timeout elapsed');
        session.terminate(new RtcAgentError(ErrorCode.TIMEOUT, `no message or pong from the client for ${o.clientTimeoutMs} ms`));
        continue;
      }
      if (now - session.lastSentAt >= o.keepAliveIntervalMs) session.ping(now);
    }
  }

  /** Closes every connection (close frame 1001, RTC_ERR_SHUTTING_DOWN), waits briefly, cuts the rest. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const error = new RtcAgentError(ErrorCode.SHUTTING_DOWN, 'the hub is shutting down');
    for (const session of [...this.sessions]) session.close(error, RpcCloseCode.GoingAway);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, DEFAULT_RPC_SHUTDOWN_GRACE_MS);
      const check = (): void => {
        if (this.wss.clients.size === 0) {
          clearTimeout(timer);
          resolve();
        }
      };
      for (const ws of this.wss.clients) ws.once('close', () => setImmediate(check));
      check();
    });
    for (const session of [...this.sessions]) session.terminate(error);
    this.wss.close();
  }
}
