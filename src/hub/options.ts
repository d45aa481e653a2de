import type { Logger } from '../log/logger.js';
import type { IceServer } from '../protocol/room-contract.js';
import { ErrorCode, RtcAgentError } from '../errors.js';
import {
  DEFAULT_CLIENT_TIMEOUT_MS,
  DEFAULT_DISCONNECT_TIMEOUT_MS,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_HUB_HOST,
  DEFAULT_HUB_PATH,
  DEFAULT_KEEP_ALIVE_INTERVAL_MS,
  DEFAULT_LONG_POLL_TIMEOUT_MS,
  DEFAULT_MAX_MESSAGE_BYTES,
} from '../constants.js';
import type { ResolvedClusterOptions } from './cluster/cluster.js';
import { DEFAULT_CLUSTER_PREFIX, validatePrefix } from './cluster/keys.js';
import { DEFAULT_REDIS_CONNECT_TIMEOUT_MS } from './cluster/redis-link.js';
import { parseRedisUrl } from './cluster/redis-url.js';
import { DEFAULT_SLOW_MEMBER_CLOSE_MS, DEFAULT_SLOW_MEMBER_PROBATION_MS, DEFAULT_SLOW_MEMBER_WAIT_MS } from './slow-member.js';

/** A full mesh costs every agent n-1 peer connections; past ~64 members a mesh is the wrong tool. */
export const DEFAULT_MAX_PEERS_PER_ROOM = 64;
/** Enough for a bot that sits in many rooms; stops one connection from creating rooms without end. */
export const DEFAULT_MAX_ROOMS_PER_CONNECTION = 32;
/** Sustained messages per second per connection; generous so a relayed bulk transfer is not throttled. */
export const DEFAULT_MESSAGES_PER_SECOND = 2_000;
/** Burst allowance on top of the rate (token bucket size). */
export const DEFAULT_MESSAGE_BURST = 4_000;
/** Rejections (rate, size, bad input) within one strike window after which the connection is closed. */
export const DEFAULT_MAX_STRIKES = 50;
/** Window over which strikes are counted. */
export const DEFAULT_STRIKE_WINDOW_MS = 10_000;
/**
 * Bytes queued towards one client (transport buffer) before senders to it wait: the hub's end-to-end
 * backpressure. 1 MiB keeps a 16 KiB stream at full speed without letting a slow reader eat memory.
 */
export const DEFAULT_OUTBOUND_HIGH_WATER_BYTES = 1024 * 1024;
/** A client whose queue grows past this is too slow to serve and is closed (SLOW_CONSUMER). */
export const DEFAULT_OUTBOUND_MAX_BYTES = 16 * 1024 * 1024;
/**
 * Unacked bytes kept for stateful reconnect replay. The official client acks once a second, so
 * this must hold about a second of traffic; past it the connection stays up but can no longer be
 * resumed (the client then reconnects from scratch and rejoins).
 */
export const DEFAULT_RECONNECT_BUFFER_BYTES = 4 * 1024 * 1024;

/**
 * A client gets this long to send a complete request head (request line and headers). Real
 * clients send theirs in one packet; 5 s covers a slow mobile round trip, while a slowloris client
 * that connects and sends nothing, or dribbles header lines, loses its socket after 5 s instead of
 * holding a file descriptor for Node's default 60 s (plus a 30 s check interval).
 */
export const DEFAULT_REQUEST_HEAD_TIMEOUT_MS = 5_000;
/**
 * An idle keep-alive socket (between two requests) is destroyed after this. Node's own default,
 * and above the 4 s for which undici (fetch, the official client's HTTP in Node) keeps idle
 * sockets, so the client drops a socket before the hub does and never sends on a closing one.
 */
export const DEFAULT_IDLE_SOCKET_TIMEOUT_MS = 5_000;
/**
 * Concurrently open sockets (HTTP, SSE, long polls and WebSockets together) before new ones are
 * refused at accept. Each costs a file descriptor and kernel buffers; 10,000 serves thousands of
 * agents and stays far below common fd limits. The hub lowers it further to fit the process's
 * open-file limit (see {@link effectiveMaxConnections}), so a flood cannot make accept() fail
 * with EMFILE and starve files, logs and the listening socket.
 */
export const DEFAULT_MAX_CONNECTIONS = 10_000;
/** File descriptors kept free of sockets for everything else (listening socket, logs, files, stdio). */
export const FD_RESERVE = 64;
/**
 * A member whose connection the hub closed because its token expired stays listed this long, so
 * that a client coming back at once with a fresh token (the official client's first retry is
 * immediate) rejoins without the others seeing it leave and join. One that does not come back is
 * reported left (`disconnected`) after it.
 */
export const DEFAULT_TOKEN_EXPIRY_GRACE_MS = 5_000;
/** `iat` has 1-second resolution, so a shorter maximum token age cannot be checked meaningfully. */
export const MIN_JWT_MAX_AGE_MS = 1_000;
/** Cluster: each hub refreshes its liveness in Redis this often (Centrifugo publishes node info every 3 s). */
export const DEFAULT_NODE_HEARTBEAT_INTERVAL_MS = 3_000;
/**
 * Cluster: a hub silent for this long is dead and its members are reported left. Two missed
 * heartbeats plus a second of slack, as Centrifugo's 7 s: a stalled event loop or a slow Redis
 * round trip is not a death, while with the 1 s check a SIGKILLed hub's members are reported left
 * within 5-8 s.
 */
export const DEFAULT_NODE_TIMEOUT_MS = 7_000;
/** Cluster: how often each hub looks for dead hubs (cheap: one sorted-set range when none died). */
export const DEFAULT_NODE_REAP_INTERVAL_MS = 1_000;
/**
 * Cluster: a hub that shuts down cleanly counts as dead this long after, not at once: its clients
 * get a Close with allowReconnect, and the official client's first retry is immediate, so they
 * rejoin on another hub well within it and nobody sees them leave.
 */
export const DEFAULT_SHUTDOWN_HANDOFF_MS = 5_000;

/** `--redis`: run as one hub of a cluster sharing rooms through Redis (docs/cluster.md). */
export interface HubRedisOptions {
  /** `redis://[[user]:password@]HOST[:PORT][/DB]` (`rediss://` for TLS; `valkey://` works too). */
  url: string;
  /** Key and channel prefix, so several clusters can share one Redis (default `rtc-agent`). */
  prefix?: string;
  /** How long startup waits for Redis before failing (default 5 s). */
  connectTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /** Silence after which a hub is taken for dead; at least twice the heartbeat interval. */
  nodeTimeoutMs?: number;
  /** How long a hub that closes cleanly still counts as alive, so its clients can move. */
  shutdownHandoffMs?: number;
}

export interface HubLimits {
  maxMessageBytes: number;
  /** One WebSocket frame or POST body, which may batch many messages. */
  maxFrameBytes: number;
  maxPeersPerRoom: number;
  maxRoomsPerConnection: number;
  messagesPerSecond: number;
  messageBurst: number;
  maxStrikes: number;
  strikeWindowMs: number;
  outboundHighWaterBytes: number;
  outboundMaxBytes: number;
  reconnectBufferBytes: number;
}

export interface HubAuthOptions {
  /** HS256 shared secret. */
  jwtSecret?: string;
  /** PEM public key (SPKI) for RS256 / ES256 tokens. */
  jwtPublicKey?: string;
  /** Required `iss`, if set. */
  issuer?: string;
  /** Required `aud`, if set. */
  audience?: string;
  /**
   * Tokens must carry `iat` and be younger than this (`--jwt-max-age`). A live connection is
   * closed when its token reaches this age, or its `exp`, whichever comes first.
   */
  maxAgeMs?: number;
}

export interface HubOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** URL path of the hub, e.g. `/hub`. */
  path?: string;
  logger?: Logger;
  auth?: HubAuthOptions;
  /** Browser origins allowed by CORS (exact `scheme://host:port`), or `*` for any. Same-origin is always allowed. */
  corsOrigins?: string[];
  keepAliveIntervalMs?: number;
  clientTimeoutMs?: number;
  handshakeTimeoutMs?: number;
  disconnectTimeoutMs?: number;
  longPollTimeoutMs?: number;
  limits?: Partial<HubLimits>;
  /** Handed to clients in the Join result (e.g. the site's TURN server). */
  iceServers?: IceServer[];
  /** Which transports negotiate offers; all three by default. */
  transports?: TransportName[];
  /** A socket without a complete request head after this long is destroyed. */
  requestHeadTimeoutMs?: number;
  /** An idle keep-alive socket is destroyed after this long. */
  idleSocketTimeoutMs?: number;
  /** Open sockets at most; new ones are refused beyond it (lowered to fit the fd limit). */
  maxConnections?: number;
  /** How long a member closed for an expired token stays listed, waiting for it to rejoin. */
  tokenExpiryGraceMs?: number;
  /** Serve rooms together with every other hub on this Redis (a cluster). */
  redis?: HubRedisOptions;
  /** Senders wait at most this for a recipient that is behind; then it lags (src/hub/slow-member.ts). */
  slowMemberWaitMs?: number;
  /** A lagging recipient is not waited for again for this long. */
  slowMemberProbationMs?: number;
  /** A recipient lagging this long without a break is closed (RTC_ERR_SLOW_CONSUMER). */
  slowMemberCloseMs?: number;
}

export type TransportName = 'WebSockets' | 'ServerSentEvents' | 'LongPolling';
export const ALL_TRANSPORTS: readonly TransportName[] = ['WebSockets', 'ServerSentEvents', 'LongPolling'];

export interface ResolvedHubOptions {
  host: string;
  port: number;
  path: string;
  auth: HubAuthOptions | undefined;
  corsOrigins: string[];
  keepAliveIntervalMs: number;
  clientTimeoutMs: number;
  handshakeTimeoutMs: number;
  disconnectTimeoutMs: number;
  longPollTimeoutMs: number;
  limits: HubLimits;
  iceServers: IceServer[];
  transports: TransportName[];
  requestHeadTimeoutMs: number;
  idleSocketTimeoutMs: number;
  /** As configured; the hub applies {@link effectiveMaxConnections} of it. */
  maxConnections: number;
  tokenExpiryGraceMs: number;
  /** Set in cluster mode. */
  redis: ResolvedClusterOptions | undefined;
  slowMemberWaitMs: number;
  slowMemberProbationMs: number;
  slowMemberCloseMs: number;
}

/**
 * Upper bound on one transport frame or POST body. The official client joins every message sent in
 * one event-loop turn into a single frame with no size limit (TransportSendQueue), so a frame may
 * hold many maximum-size messages; the per-message limit is enforced record by record.
 */
export const DEFAULT_MAX_FRAME_BYTES = 8 * 1024 * 1024;

export const DEFAULT_HUB_LIMITS: HubLimits = {
  maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  maxPeersPerRoom: DEFAULT_MAX_PEERS_PER_ROOM,
  maxRoomsPerConnection: DEFAULT_MAX_ROOMS_PER_CONNECTION,
  messagesPerSecond: DEFAULT_MESSAGES_PER_SECOND,
  messageBurst: DEFAULT_MESSAGE_BURST,
  maxStrikes: DEFAULT_MAX_STRIKES,
  strikeWindowMs: DEFAULT_STRIKE_WINDOW_MS,
  outboundHighWaterBytes: DEFAULT_OUTBOUND_HIGH_WATER_BYTES,
  outboundMaxBytes: DEFAULT_OUTBOUND_MAX_BYTES,
  reconnectBufferBytes: DEFAULT_RECONNECT_BUFFER_BYTES,
};

function bad(setting: string, why: string): RtcAgentError {
  return new RtcAgentError(ErrorCode.CONFIG, `hub setting '${setting}' ${why}`, { details: { setting } });
}

function positiveInt(setting: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) throw bad(setting, `must be a positive integer, got ${String(value)}`);
  return value;
}

/** Merges options over defaults once, and names the first bad setting. */
export function resolveHubOptions(options: HubOptions): ResolvedHubOptions {
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw bad('port', `must be 0-65535, got ${String(port)}`);
  let path = options.path ?? DEFAULT_HUB_PATH;
  if (!path.startsWith('/') || /[?#\s]/.test(path)) throw bad('path', `must start with '/' and have no query, got ${JSON.stringify(path)}`);
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  if (path === '/healthz' || path === '/metrics') throw bad('path', `must not be ${path}`);

  const limits: HubLimits = { ...DEFAULT_HUB_LIMITS };
  for (const [key, value] of Object.entries(options.limits ?? {})) {
    if (!(key in DEFAULT_HUB_LIMITS)) throw bad(`limits.${key}`, 'is not a known limit');
    if (value === undefined) continue;
    limits[key as keyof HubLimits] = positiveInt(`limits.${key}`, value);
  }
  if (limits.maxFrameBytes < limits.maxMessageBytes) {
    throw bad('limits.maxFrameBytes', 'must be at least limits.maxMessageBytes');
  }
  if (limits.outboundMaxBytes < limits.outboundHighWaterBytes) {
    throw bad('limits.outboundMaxBytes', 'must be at least limits.outboundHighWaterBytes');
  }

  const auth = options.auth;
  if (auth && auth.jwtSecret !== undefined && auth.jwtPublicKey !== undefined) {
    throw bad('auth', 'takes jwtSecret or jwtPublicKey, not both');
  }
  if (auth?.jwtSecret !== undefined && auth.jwtSecret.length < 16) {
    throw bad('auth.jwtSecret', 'must be at least 16 characters (HS256 needs a strong secret)');
  }
  if (auth?.maxAgeMs !== undefined && (!Number.isInteger(auth.maxAgeMs) || auth.maxAgeMs < MIN_JWT_MAX_AGE_MS)) {
    throw bad('auth.maxAgeMs', `must be an integer of at least ${MIN_JWT_MAX_AGE_MS} ms (iat has 1-second resolution), got ${String(auth.maxAgeMs)}`);
  }
  const hasAuth = auth !== undefined && (auth.jwtSecret !== undefined || auth.jwtPublicKey !== undefined);
  if (auth?.maxAgeMs !== undefined && !hasAuth) throw bad('auth.maxAgeMs', 'needs auth.jwtSecret or auth.jwtPublicKey (there are no tokens to check)');

  const corsOrigins = options.corsOrigins ?? [];
  for (const origin of corsOrigins) {
    if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw bad('corsOrigins', `entries must look like http://host:port or be '*', got ${JSON.stringify(origin)}`);
    }
  }
  const transports = options.transports ?? [...ALL_TRANSPORTS];
  for (const t of transports) {
    if (!ALL_TRANSPORTS.includes(t)) throw bad('transports', `has unknown transport ${JSON.stringify(t)}`);
  }
  if (transports.length === 0) throw bad('transports', 'must name at least one transport');

  return {
    host: options.host ?? DEFAULT_HUB_HOST,
    port,
    path,
    auth: hasAuth ? auth : undefined,
    corsOrigins,
    keepAliveIntervalMs: positiveInt('keepAliveIntervalMs', options.keepAliveIntervalMs ?? DEFAULT_KEEP_ALIVE_INTERVAL_MS),
    clientTimeoutMs: positiveInt('clientTimeoutMs', options.clientTimeoutMs ?? DEFAULT_CLIENT_TIMEOUT_MS),
    handshakeTimeoutMs: positiveInt('handshakeTimeoutMs', options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS),
    disconnectTimeoutMs: positiveInt('disconnectTimeoutMs', options.disconnectTimeoutMs ?? DEFAULT_DISCONNECT_TIMEOUT_MS),
    longPollTimeoutMs: positiveInt('longPollTimeoutMs', options.longPollTimeoutMs ?? DEFAULT_LONG_POLL_TIMEOUT_MS),
    limits,
    iceServers: options.iceServers ?? [],
    transports,
    requestHeadTimeoutMs: positiveInt('requestHeadTimeoutMs', options.requestHeadTimeoutMs ?? DEFAULT_REQUEST_HEAD_TIMEOUT_MS),
    idleSocketTimeoutMs: positiveInt('idleSocketTimeoutMs', options.idleSocketTimeoutMs ?? DEFAULT_IDLE_SOCKET_TIMEOUT_MS),
    maxConnections: positiveInt('maxConnections', options.maxConnections ?? DEFAULT_MAX_CONNECTIONS),
    tokenExpiryGraceMs: positiveInt('tokenExpiryGraceMs', options.tokenExpiryGraceMs ?? DEFAULT_TOKEN_EXPIRY_GRACE_MS),
    redis: options.redis === undefined ? undefined : resolveRedisOptions(options.redis),
    slowMemberWaitMs: positiveInt('slowMemberWaitMs', options.slowMemberWaitMs ?? DEFAULT_SLOW_MEMBER_WAIT_MS),
    slowMemberProbationMs: positiveInt('slowMemberProbationMs', options.slowMemberProbationMs ?? DEFAULT_SLOW_MEMBER_PROBATION_MS),
    slowMemberCloseMs: positiveInt('slowMemberCloseMs', options.slowMemberCloseMs ?? DEFAULT_SLOW_MEMBER_CLOSE_MS),
  };
}

function resolveRedisOptions(o: HubRedisOptions): ResolvedClusterOptions {
  if (typeof o !== 'object' || o === null || typeof o.url !== 'string') throw bad('redis', 'needs a url (redis://HOST:PORT[/DB])');
  const heartbeatIntervalMs = positiveInt('redis.heartbeatIntervalMs', o.heartbeatIntervalMs ?? DEFAULT_NODE_HEARTBEAT_INTERVAL_MS);
  const nodeTimeoutMs = positiveInt('redis.nodeTimeoutMs', o.nodeTimeoutMs ?? DEFAULT_NODE_TIMEOUT_MS);
  if (nodeTimeoutMs < 2 * heartbeatIntervalMs) {
    throw bad('redis.nodeTimeoutMs', `must be at least twice redis.heartbeatIntervalMs (${heartbeatIntervalMs} ms), or one late heartbeat kills a live hub`);
  }
  return {
    target: parseRedisUrl(o.url),
    prefix: validatePrefix(o.prefix ?? DEFAULT_CLUSTER_PREFIX),
    connectTimeoutMs: positiveInt('redis.connectTimeoutMs', o.connectTimeoutMs ?? DEFAULT_REDIS_CONNECT_TIMEOUT_MS),
    heartbeatIntervalMs,
    nodeTimeoutMs,
    reapIntervalMs: Math.min(DEFAULT_NODE_REAP_INTERVAL_MS, heartbeatIntervalMs),
    shutdownHandoffMs: positiveInt('redis.shutdownHandoffMs', o.shutdownHandoffMs ?? DEFAULT_SHUTDOWN_HANDOFF_MS),
  };
}

/**
 * The socket cap the hub applies: the configured one, lowered so that sockets leave
 * {@link FD_RESERVE} descriptors of the open-file limit free (Node raises the soft limit to the
 * hard one at startup). `fdLimit` is undefined where it cannot be read (not Linux).
 */
export function effectiveMaxConnections(configured: number, fdLimit: number | undefined): number {
  if (fdLimit === undefined || !Number.isFinite(fdLimit)) return configured;
  return Math.max(1, Math.min(configured, fdLimit - FD_RESERVE));
}
