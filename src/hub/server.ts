/**
 * The hub's HTTP side: routing, negotiate (its body in negotiate.ts), the WebSocket upgrade (the
 * other transports' requests are transports/http-requests.ts), CORS, auth, /healthz and /metrics,
 * and graceful shutdown. Status codes follow ASP.NET Core's HttpConnectionDispatcher.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Registry } from 'prom-client';
import { WebSocketServer, type WebSocket } from 'ws';
import { ErrorCode, RtcAgentError } from '../errors.js';
import { silentLogger, type Logger } from '../log/logger.js';
import { TokenVerifier, authenticateRequest, checkSameUser, isExpiredTokenError, type AuthUser } from './auth.js';
import { HubCluster, type ClusterStatus } from './cluster/cluster.js';
import { HubClientConnection, type ConnectionEvents } from './connection.js';
import { CorsPolicy } from './cors.js';
import { InvocationDispatcher } from './dispatcher.js';
import { sendJson, sendText, statusText } from './http-util.js';
import { HubMetrics, connectionGauges, type HubSnapshot } from './metrics.js';
import { negotiateBody, parseNegotiate } from './negotiate.js';
import { resolveHubOptions, type HubOptions, type ResolvedHubOptions, type TransportName } from './options.js';
import { InProcessRoomRegistry, type RoomRegistry } from './room-registry.js';
import { RoomMethods } from './room-methods.js';
import { Session } from './session.js';
import { SocketGuard, httpServerOptions } from './socket-guard.js';
import { TokenExpiry } from './token-expiry.js';
import { WebAssets } from './web-page.js';
import { JSONRPC_PATH, JSONRPC_TRANSPORT, RpcEndpoint } from './jsonrpc/index.js';
import { pollSinkOf, serveTransportRequest } from './transports/http-requests.js';
import { WebSocketSink, whenClientsClosed } from './transports/websocket.js';

/** How long a closed long-polling connection still answers polls with 204 instead of 404. */
const CLOSED_POLL_GRACE_MS = 5_000;
/** How long close() waits for clients to take their Close message before cutting sockets. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 2_000;

/** A running hub. */
export interface Hub {
  /** Hub URL for clients, e.g. http://127.0.0.1:41234/hub */
  readonly url: string;
  readonly port: number;
  readonly host: string;
  readonly metrics: HubMetrics;
  /** In a cluster (`redis` option): this hub's node id, the backplane state, the hubs seen. Null otherwise. */
  readonly cluster: ClusterStatus | null;
  /** Closes every connection (each gets a Close message) and stops listening. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts a hub and resolves once it listens. `port: 0` picks a free port. With `redis`, it first
 * joins the cluster on that Redis, failing with RTC_ERR_HUB_UNREACHABLE if Redis does not answer.
 */
export async function startHub(options: HubOptions = {}): Promise<Hub> {
  const resolved = resolveHubOptions(options);
  const log = options.logger ?? silentLogger();
  const registry = new Registry();
  const cluster = resolved.redis ? await HubCluster.start(resolved.redis, resolved.disconnectTimeoutMs, registry, log.child({ component: 'cluster' })) : null;
  const hub = new HubServer(resolved, log, cluster, registry);
  try {
    await hub.listen();
  } catch (err) {
    await cluster?.close();
    throw err;
  }
  cluster?.setUrl(hub.url);
  return hub;
}

class HubServer implements Hub {
  readonly metrics: HubMetrics;
  private readonly server: Server;
  private readonly wss: WebSocketServer;
  private readonly cors: CorsPolicy;
  private readonly verifier: TokenVerifier | null;
  private readonly registry: RoomRegistry;
  private readonly rooms: RoomMethods;
  private readonly dispatcher: InvocationDispatcher;
  /** The browser chat page (`/`, `/chat`) and the files it loads. */
  private readonly web: WebAssets;
  /** JSON-RPC 2.0 signaling on {@link JSONRPC_PATH}: members of the same rooms (src/hub/jsonrpc/). */
  private readonly jsonRpc: RpcEndpoint;
  /** Keyed by the id clients put in `?id=` (connectionToken, or connectionId for negotiate v0). */
  private readonly connections = new Map<string, HubClientConnection>();
  private readonly sessions = new WeakMap<HubClientConnection, Session>();
  /** The key each connection is registered under in `connections`. */
  private readonly keys = new WeakMap<HubClientConnection, string>();
  /** Negotiated connections also stored in Redis, which another hub could take (cluster only). */
  private readonly shared = new WeakSet<HubClientConnection>();
  private readonly guard: SocketGuard;
  private readonly expiry: TokenExpiry;
  private ticker: NodeJS.Timeout | null = null;
  private closing: Promise<void> | null = null;
  private shuttingDown = false;
  private address: AddressInfo | null = null;

  constructor(
    private readonly options: ResolvedHubOptions,
    private readonly log: Logger,
    private readonly clusterNode: HubCluster | null,
    metricsRegistry: Registry,
  ) {
    this.cors = new CorsPolicy(options.corsOrigins);
    this.verifier = options.auth ? new TokenVerifier(options.auth) : null;
    this.expiry = new TokenExpiry(options.tokenExpiryGraceMs);
    this.metrics = new HubMetrics(() => this.gauges(), metricsRegistry);
    this.registry = clusterNode?.registry ?? new InProcessRoomRegistry();
    this.rooms = new RoomMethods(this.registry, options, this.metrics, log.child({ component: 'rooms' }));
    this.dispatcher = new InvocationDispatcher(this.rooms.table(), options.limits, this.metrics, log);
    this.jsonRpc = new RpcEndpoint({ rooms: this.rooms, options, verifier: this.verifier, cors: this.cors, metrics: this.metrics, log: log.child({ component: 'jsonrpc' }) });
    this.web = new WebAssets(options.path);
    this.server = createServer(httpServerOptions(options), (req, res) => {
      this.onRequest(req, res).catch((err: unknown) => {
        this.log.error({ err }, 'request failed');
        sendText(res, 500, 'internal error');
      });
    });
    // Head and idle timeouts, the socket cap, and bad requests (destroyed, not ended).
    this.guard = new SocketGuard(options, this.metrics.registry, log.child({ component: 'sockets' }));
    this.guard.attach(this.server);
    this.server.on('upgrade', (req, socket, head) => {
      const upgraded = this.guard.upgradeStarted(socket as Socket);
      this.onUpgrade(req, socket as Socket, head, upgraded).catch((err: unknown) => {
        this.log.error({ err }, 'upgrade failed');
        socket.destroy();
      });
    });
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.limits.maxFrameBytes,
      perMessageDeflate: false,
    });
  }

  get url(): string {
    const a = this.address;
    if (!a) return '';
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}${this.options.path}`;
  }

  get port(): number {
    return this.address?.port ?? 0;
  }

  get host(): string {
    return this.address?.address ?? this.options.host;
  }

  get cluster(): ClusterStatus | null {
    return this.clusterNode?.status() ?? null;
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    // From now on a server error is an accept() failure (e.g. EMFILE): log it, never crash on it.
    this.server.on('error', (err) => this.log.error({ err }, 'hub server error'));
    this.address = this.server.address() as AddressInfo;
    const o = this.options;
    // One ticker for every connection; fine-grained enough for the shortest configured interval.
    const tickMs = Math.max(20, Math.min(1_000, o.keepAliveIntervalMs / 4, o.clientTimeoutMs / 4, o.handshakeTimeoutMs / 4));
    this.ticker = setInterval(() => this.tick(), tickMs);
    this.ticker.unref();
    this.log.info({ url: this.url, auth: this.verifier !== null, transports: o.transports, maxConnections: this.guard.maxConnections }, 'hub listening');
  }

  private tick(): void {
    const now = Date.now();
    for (const conn of this.connections.values()) {
      if (!this.expiry.closeIfExpired(conn, now)) conn.tick(now);
    }
  }

  private snapshot(): { rooms: number; members: number; connections: Record<string, number> } {
    const connections: Record<string, number> = { WebSockets: 0, ServerSentEvents: 0, LongPolling: 0, [JSONRPC_TRANSPORT]: this.jsonRpc.openConnections };
    for (const conn of this.connections.values()) {
      if (conn.state === 'open' && conn.transportName) connections[conn.transportName] = (connections[conn.transportName] ?? 0) + 1;
    }
    return { ...this.registry.stats(), connections };
  }

  /** The snapshot plus what only /metrics reports: protocols, slow members, outbound queues. */
  private gauges(): HubSnapshot {
    return { ...this.snapshot(), ...connectionGauges(this.connections.values()) };
  }

  // ------------------------------------------------------------------ HTTP

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://hub.invalid');
    const path = url.pathname;
    if (path === '/healthz' && req.method === 'GET') {
      const stats = this.snapshot();
      const cluster = this.cluster;
      // A hub whose Redis is away still serves its own members: degraded, not failing.
      const status = this.closing ? 'closing' : cluster && cluster.state !== 'up' ? 'degraded' : 'ok';
      sendJson(res, this.closing ? 503 : 200, { status, ...stats, ...(cluster ? { redis: cluster.state, cluster } : {}) });
      return;
    }
    if (path === '/metrics' && req.method === 'GET') {
      const body = await this.metrics.registry.metrics();
      res.writeHead(200, { 'Content-Type': this.metrics.registry.contentType });
      res.end(body);
      return;
    }
    const hubPath = this.options.path;
    const isNegotiate = path === `${hubPath}/negotiate`;
    if (path === JSONRPC_PATH && hubPath !== JSONRPC_PATH) {
      sendText(res, 426, 'JSON-RPC 2.0 signaling: connect with a WebSocket (docs/jsonrpc.md)', { Upgrade: 'websocket', Connection: 'Upgrade' });
      return;
    }
    if (path !== hubPath && !isNegotiate) {
      if (this.web.handles(path)) await this.web.serve(req, res, path);
      else sendText(res, 404, 'not found');
      return;
    }
    if (req.method === 'OPTIONS') {
      this.cors.preflight(req, res);
      return;
    }
    if (!this.cors.isAllowed(req)) {
      sendText(res, 403, 'origin not allowed');
      return;
    }
    this.cors.apply(req, res);
    if (this.closing) {
      sendText(res, 503, `${ErrorCode.SHUTTING_DOWN}: the hub is shutting down`);
      return;
    }
    if (isNegotiate) {
      if (req.method !== 'POST') {
        sendText(res, 405, 'negotiate takes POST', { Allow: 'POST' });
        return;
      }
      await this.negotiate(req, res, url);
      return;
    }
    await this.onHubRequest(req, res, url);
  }

  private refuseAuth(res: ServerResponse, err: unknown): void {
    const error = err instanceof RtcAgentError ? err : new RtcAgentError(ErrorCode.UNAUTHORIZED, 'token is invalid');
    this.metrics.errors.inc({ code: error.code });
    sendText(res, error.code === ErrorCode.FORBIDDEN ? 403 : 401, error.toWire(), { 'WWW-Authenticate': 'Bearer' });
  }

  private async negotiate(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    let user: AuthUser | null;
    try {
      user = await authenticateRequest(this.verifier, req, url);
    } catch (err) {
      this.refuseAuth(res, err);
      return;
    }
    const request = parseNegotiate(url);
    const stateful = request.stateful;
    const conn = this.createConnection(user, stateful);
    // Version 0 has no connectionToken: the client then puts the connectionId in `?id=`.
    const key = request.version >= 1 ? conn.token : conn.connectionId;
    this.register(key, conn);
    // In a cluster, the WebSocket may arrive at another hub (no sticky sessions needed for it).
    if (this.clusterNode && (await this.clusterNode.negotiations.share(key, { connectionId: conn.connectionId, userId: user?.userId ?? null, stateful }))) {
      this.shared.add(conn);
    }
    sendJson(res, 200, negotiateBody(request, conn, this.options.transports));
  }

  private createConnection(user: AuthUser | null, stateful: boolean, ids?: { connectionId: string; token: string }): HubClientConnection {
    const events: ConnectionEvents = {
      invocation: (c, msg) => {
        const session = this.sessions.get(c);
        return session ? this.dispatcher.dispatch(session, msg) : undefined;
      },
      handshake: (c) => {
        this.metrics.connectionsOpened.inc({ transport: c.transportName ?? 'unknown' });
        c.log.debug({ transport: c.transportName, stateful: c.isStateful }, 'connected');
      },
      closed: (c) => this.onConnectionClosed(c),
      error: (_c, code) => this.metrics.errors.inc({ code }),
      lagging: (_c, lagging) => {
        if (lagging) this.metrics.lagged.inc();
      },
    };
    const now = Date.now();
    const conn = new HubClientConnection(user, stateful, this.options, events, this.log, now, ids);
    this.sessions.set(conn, new Session(conn, this.options.limits, now));
    return conn;
  }

  private register(key: string, conn: HubClientConnection): void {
    this.connections.set(key, conn);
    this.keys.set(conn, key);
  }

  private onConnectionClosed(conn: HubClientConnection): void {
    const session = this.sessions.get(conn);
    // While the hub shuts down, telling each client that the others "disconnected" is noise: they
    // all lose the hub at once and reconnect to the next one.
    if (session && !this.shuttingDown) {
      this.expiry.connectionClosed(conn, () => {
        if (!this.shuttingDown) this.rooms.disconnected(session);
      });
    }
    const remove = (): void => {
      const key = this.keys.get(conn);
      if (key !== undefined && this.connections.get(key) === conn) this.connections.delete(key);
    };
    if (conn.transportName === 'LongPolling' && !this.shuttingDown) setTimeout(remove, CLOSED_POLL_GRACE_MS).unref();
    else remove();
  }

  /** Finds the connection for `?id=`, answering 400/404 itself when there is none. */
  private async lookup(req: IncomingMessage, url: URL, res: ServerResponse): Promise<HubClientConnection | undefined> {
    const id = url.searchParams.get('id');
    if (id === null || id === '') {
      sendText(res, 400, 'Connection ID required');
      return undefined;
    }
    let conn = this.connections.get(id);
    if (this.clusterNode) {
      // SSE and long polling too: the first request takes the connection, wherever it was
      // negotiated; the later ones must reach the same hub (docs/cluster.md, routing by ?id=).
      const claimed = await this.claimNegotiated(req, url, id, conn);
      if (claimed instanceof RtcAgentError) {
        this.refuseAuth(res, claimed);
        return undefined;
      }
      conn = claimed;
    }
    if (!conn) {
      sendText(res, 404, 'No Connection with that ID');
      return undefined;
    }
    return conn;
  }

  private transportEnabled(name: TransportName): boolean {
    return this.options.transports.includes(name);
  }

  private async onHubRequest(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const conn = await this.lookup(req, url, res);
    if (!conn) return;
    const auth = await checkSameUser(this.verifier, req, url, conn.user);
    if (auth !== true) {
      if (isExpiredTokenError(auth) && auth.details?.userId === conn.user?.userId) {
        // This user's token ran out before the ticker noticed: close the connection now, and let a
        // poll take the Close message, so long polling sees what the other transports see.
        this.expiry.expire(conn);
        const sink = req.method === 'GET' ? pollSinkOf(conn) : undefined;
        if (sink) {
          sink.handlePoll(req, res);
          return;
        }
      }
      this.refuseAuth(res, auth);
      return;
    }
    await serveTransportRequest(conn, req, res, { options: this.options, metrics: this.metrics });
  }

  // ------------------------------------------------------------ WebSockets

  /** `upgraded` stops the guard's upgrade deadline; a refused socket is destroyed by it if the client never closes. */
  private async onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer, upgraded: () => void): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://hub.invalid');
    const reject = (status: number, text: string): void => {
      socket.end(`HTTP/1.1 ${status} ${statusText(status)}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
    };
    if (url.pathname === JSONRPC_PATH && this.options.path !== JSONRPC_PATH) return this.jsonRpc.upgrade(req, socket, head, url, upgraded, reject);
    if (url.pathname !== this.options.path) return reject(404, 'not found');
    if (this.closing) return reject(503, 'the hub is shutting down');
    if (!this.transportEnabled('WebSockets')) return reject(404, 'WebSockets is disabled');
    // Browsers send Origin on WebSockets too; refusing foreign origins stops cross-site hijacking.
    if (!this.cors.isAllowed(req)) return reject(403, 'origin not allowed');
    const id = url.searchParams.get('id');
    let conn: HubClientConnection | undefined;
    if (id === null) {
      // skipNegotiation: the client connects straight to the hub URL; make the connection here.
      let user: AuthUser | null;
      try {
        user = await authenticateRequest(this.verifier, req, url);
      } catch (err) {
        const e = err instanceof RtcAgentError ? err : new RtcAgentError(ErrorCode.UNAUTHORIZED, 'token is invalid');
        this.metrics.errors.inc({ code: e.code });
        return reject(401, e.toWire());
      }
      conn = this.createConnection(user, false);
      this.register(conn.token, conn);
    } else {
      conn = this.connections.get(id);
      if (this.clusterNode) {
        const claimed = await this.claimNegotiated(req, url, id, conn);
        if (claimed instanceof RtcAgentError) {
          this.metrics.errors.inc({ code: claimed.code });
          return reject(claimed.code === ErrorCode.FORBIDDEN ? 403 : 401, claimed.toWire());
        }
        conn = claimed;
      }
      if (!conn || conn.state === 'closed') return reject(404, 'No Connection with that ID');
      const auth = await checkSameUser(this.verifier, req, url, conn.user);
      if (auth !== true) {
        this.metrics.errors.inc({ code: auth.code });
        return reject(auth.code === ErrorCode.FORBIDDEN ? 403 : 401, auth.toWire());
      }
      if (conn.transportName !== null && conn.transportName !== 'WebSockets') return reject(400, 'Cannot change transports mid-connection');
      if (conn.state === 'open') return reject(409, 'A WebSocket is already open for this connection');
      if (conn.state === 'resumable' && !conn.canResume('WebSockets')) return reject(404, 'No Connection with that ID');
    }
    const target = conn;
    this.wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      upgraded();
      if (target.state === 'closed') {
        ws.close(1000);
        return;
      }
      target.attach(new WebSocketSink(ws, target), Date.now());
    });
  }

  /**
   * Cluster: a negotiated connection is taken from Redis by the hub its WebSocket reaches, exactly
   * once. Negotiated here and taken by another hub: gone here (404). Negotiated elsewhere: made
   * here, for the same user. Redis unreachable: only what this hub negotiated itself.
   */
  private async claimNegotiated(req: IncomingMessage, url: URL, id: string, local: HubClientConnection | undefined): Promise<HubClientConnection | undefined | RtcAgentError> {
    const cluster = this.clusterNode as HubCluster;
    if (local) {
      if (!this.shared.has(local) || local.state !== 'negotiated') return local;
      this.shared.delete(local);
      if ((await cluster.negotiations.claim(id)) === null) {
        // Another hub took it: this copy will never be used.
        local.close();
        return undefined;
      }
      cluster.metrics.negotiatedAccepted.inc({ negotiated: 'here' });
      return local;
    }
    let user: AuthUser | null;
    try {
      user = await authenticateRequest(this.verifier, req, url);
    } catch (err) {
      return err instanceof RtcAgentError ? err : new RtcAgentError(ErrorCode.UNAUTHORIZED, 'token is invalid');
    }
    const record = await cluster.negotiations.claim(id);
    if (record === null || record === 'unavailable') return undefined;
    if ((user?.userId ?? null) !== record.userId) return new RtcAgentError(ErrorCode.FORBIDDEN, 'token belongs to another user');
    // Raced by the same id on this hub meanwhile (a second upgrade): the first one wins.
    const again = this.connections.get(id);
    if (again) return again;
    const conn = this.createConnection(user, record.stateful, { connectionId: record.connectionId, token: id });
    this.register(id, conn);
    cluster.metrics.negotiatedAccepted.inc({ negotiated: 'elsewhere' });
    return conn;
  }

  // -------------------------------------------------------------- shutdown

  close(): Promise<void> {
    // Set before shutdown() runs: it closes connections synchronously, and their close handlers
    // must already know the hub is going away.
    this.shuttingDown = true;
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.log.info('hub closing');
    this.server.close();
    const error = new RtcAgentError(ErrorCode.SHUTTING_DOWN, 'the hub is shutting down');
    for (const conn of [...this.connections.values()]) {
      // allowReconnect: agents with automatic reconnect come back when a hub is up again.
      conn.close(error, true);
    }
    const jsonRpcClosed = this.jsonRpc.close();
    // WebSocket clients answer our Close message by closing; SSE and polls end at once. Wait for
    // the WebSockets (bounded), then cut whatever keep-alive sockets are left.
    await whenClientsClosed(this.wss, DEFAULT_SHUTDOWN_GRACE_MS);
    this.server.closeAllConnections();
    this.guard.destroyAll();
    this.wss.close();
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    this.expiry.cancel();
    this.connections.clear();
    await jsonRpcClosed;
    await this.clusterNode?.close();
    this.log.info('hub closed');
  }
}
