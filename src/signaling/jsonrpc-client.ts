/**
 * The engine's {@link Signaling} over JSON-RPC 2.0 on a WebSocket (docs/jsonrpc.md), for rtc-agent's
 * hub (`ws://HOST:PORT/rpc`) and for signaling servers we did not build. Connects to the first URL
 * that answers and asks `rtcagent.hello` which of our extensions the server has (one that answers
 * -32601 has none): with `relay`, the hub relay works as over SignalR; without it, relay() fails
 * with RTC_ERR_RELAY_UNAVAILABLE and the agent turns the relay off (sends wait for P2P). Signals
 * become `offer` / `answer` / `ice_candidate`; the others need the `signal` extension and are
 * dropped without it. Reconnects like the SignalR client (same order, same backoff) and rejoins
 * every room with the same hello. No Node APIs: the WebSocket comes from an injected factory.
 */
import { fromBase64, toBase64 } from '../engine/bytes.js';
import { Emitter } from '../engine/emitter.js';
import type { EngineLogger } from '../engine/log.js';
import type { RoomInbound, RoomSignaling, Signaling, SignalingEvents, SignalingState } from '../engine/signaling.js';
import { unref } from '../engine/timers.js';
import { ErrorCode, RtcAgentError } from '../errors.js';
import { RpcCloseCode, isObject } from '../protocol/jsonrpc/messages.js';
import { RpcMethod, RpcNotification, SessionStamper, isSignalMethod, namedParams, participantFromRpc, signalFromRpc, signalToRpc, type RpcHelloResult } from '../protocol/jsonrpc/signaling.js';
import type { JoinHello, JoinResult, Participant, SignalPayload } from '../protocol/room-contract.js';
import { connectFirst, reconnectToAny, type FailoverClient } from './failover-loop.js';
import { joinResultOf, participantsOf } from './jsonrpc-announce.js';
import { RpcLink, closeError, type WebSocketFactory } from './jsonrpc-link.js';

export type { WebSocketFactory, WebSocketLike } from './jsonrpc-link.js';

/** As the SignalR client's: how long one server may take to accept the connection before the next is tried. */
export const DEFAULT_RPC_CONNECT_TIMEOUT_MS = 10_000;
/**
 * How long `rtcagent.hello` may take. rtc-agent's hub answers in a millisecond and a server that
 * follows the spec answers -32601 as fast; one that ignores unknown methods costs this much once
 * per connect, and is then taken to have no extensions.
 */
export const DEFAULT_RPC_HELLO_TIMEOUT_MS = 3_000;
/** With the `ping` extension, the client pings this often (SignalR's client keep-alive). */
export const DEFAULT_RPC_KEEP_ALIVE_MS = 15_000;
/** With the `ping` extension, a server silent for this long is taken for lost (SignalR's server timeout). */
export const DEFAULT_RPC_SERVER_TIMEOUT_MS = 30_000;

export interface JsonRpcClientEvents extends SignalingEvents {
  /** Failed over to another URL of the list (right after 'state' 'connected', before the rooms' 'rejoined'). */
  moved: [url: string, from: string];
  closed: [error: RtcAgentError | undefined];
}

export interface JsonRpcClientOptions {
  /** One WebSocket URL (`ws://`/`wss://`), or several servers serving the same rooms, tried in order. */
  url: string | readonly string[];
  /** Makes the WebSocket: `ws` in Node, `(url) => new WebSocket(url)` in browsers. */
  webSocket: WebSocketFactory;
  accessToken?: string;
  /** Called for a token before every (re)connect; beats `accessToken`. */
  accessTokenFactory?: () => string | Promise<string>;
  /** Put the token in `?access_token=` instead of an Authorization header (browsers cannot set headers). */
  tokenInQuery?: boolean;
  /** Reconnect attempts after a drop, over all URLs together; 0 = never reconnect. */
  maxReconnectAttempts: number;
  reconnectIntervalMs: number;
  log: EngineLogger;
  /** Overrides {@link DEFAULT_RPC_HELLO_TIMEOUT_MS}, {@link DEFAULT_RPC_KEEP_ALIVE_MS}, {@link DEFAULT_RPC_SERVER_TIMEOUT_MS}. */
  helloTimeoutMs?: number;
  keepAliveMs?: number;
  serverTimeoutMs?: number;
}

/** A connection that answered hello, and the rtc-agent extensions it offers. */
interface Started {
  link: RpcLink;
  extensions: Set<string>;
}

interface JoinedRoom {
  hello: JoinHello;
  inbound: RoomInbound;
}

export class JsonRpcClient extends Emitter<JsonRpcClientEvents> implements Signaling {
  readonly urls: readonly string[];
  private readonly log: EngineLogger;
  private link: RpcLink | null = null;
  private extensionsValue = new Set<string>();
  private readonly joined = new Map<string, JoinedRoom>();
  /** Session ids other stacks leave out of their signals (docs/jsonrpc.md, "Session ids"). */
  private readonly stamper = new SessionStamper('rpc');
  private stateValue: SignalingState = 'disconnected';
  private closing = false;
  private closedEmitted = false;
  private keepAlive: ReturnType<typeof setInterval> | null = null;
  private readonly closeSignal = new AbortController();
  /** This client as the shared connect and reconnect loops see it (failover-loop.ts). */
  private readonly failover: FailoverClient<Started>;

  constructor(private readonly options: JsonRpcClientOptions) {
    super();
    this.urls = typeof options.url === 'string' ? [options.url] : [...options.url];
    if (this.urls.length === 0) throw new RtcAgentError(ErrorCode.CONFIG, 'no JSON-RPC server URL given', { details: { setting: 'hubUrl' } });
    this.log = options.log;
    this.failover = {
      urls: this.urls,
      log: this.log,
      noun: 'JSON-RPC server',
      closeSignal: this.closeSignal.signal,
      closing: () => this.closing,
      start: (index, signal) => this.start(index, signal),
      discard: ({ link }) => link.close(RpcCloseCode.Normal, '', new RtcAgentError(ErrorCode.CLOSED, 'closed')),
      classify: (err) => (err instanceof RtcAgentError ? err : new RtcAgentError(ErrorCode.HUB_UNREACHABLE, String(err))),
    };
  }

  get state(): SignalingState {
    return this.stateValue;
  }

  get connected(): boolean {
    return this.link?.open ?? false;
  }

  /** The server connected to now (or last). */
  get url(): string {
    return this.link?.url ?? this.urls[0]!;
  }

  /** rtc-agent's extensions this server has (`relay`, `signal`, `members`, `ping`); none for other servers. */
  get extensions(): ReadonlySet<string> {
    return this.extensionsValue;
  }

  /** Whether relay() can carry data (the server has rtc-agent's `relay` extension). */
  get relayAvailable(): boolean {
    return this.extensionsValue.has('relay');
  }

  private setState(state: SignalingState): void {
    if (this.stateValue === state) return;
    this.stateValue = state;
    this.emit('state', state);
  }

  // ---------------------------------------------------------------- connecting

  private async headersAndUrl(url: string): Promise<{ url: string; headers: Record<string, string> }> {
    const token = this.options.accessTokenFactory ? await this.options.accessTokenFactory() : this.options.accessToken;
    if (token === undefined || token === '') return { url, headers: {} };
    if (!this.options.tokenInQuery) return { url, headers: { Authorization: `Bearer ${token}` } };
    const u = new URL(url);
    u.searchParams.set('access_token', token);
    return { url: u.href, headers: {} };
  }

  /** Opens a link to URL `index` and learns its extensions; the link is not in use yet. */
  private async start(index: number, signal: AbortSignal): Promise<Started> {
    const url = this.urls[index]!;
    const { url: target, headers } = await this.headersAndUrl(url);
    const link = await RpcLink.open(this.options.webSocket, target, index, headers, signal);
    // Messages may arrive before hello's answer (a server that greets); they wait for the link to be in use.
    link.attach({ message: (m, p) => this.live(link) && this.onServerMessage(m, p), closed: (code, reason) => this.linkClosed(link, code, reason) });
    let extensions = new Set<string>();
    try {
      const hello = await link.call<RpcHelloResult>(RpcMethod.Hello, {}, this.options.helloTimeoutMs ?? DEFAULT_RPC_HELLO_TIMEOUT_MS);
      if (isObject(hello) && Array.isArray(hello.extensions)) extensions = new Set(hello.extensions.filter((e): e is string => typeof e === 'string'));
    } catch (err) {
      const code = (err as RtcAgentError).code;
      if (!link.open) throw err;
      // -32601 is the answer of a server we did not build: no extensions. Silence, likewise.
      this.log.debug({ url, code }, 'the JSON-RPC server has no rtc-agent extensions');
    }
    return { link, extensions };
  }

  private live(link: RpcLink): boolean {
    return this.link === link;
  }

  /**
   * Connects to the first server that accepts, in list order; fails with HUB_UNREACHABLE /
   * UNAUTHORIZED / … naming every server and why. `signal` bounds the whole connect; each server
   * but the last also gets at most {@link DEFAULT_RPC_CONNECT_TIMEOUT_MS}.
   */
  async connect(signal?: AbortSignal): Promise<void> {
    if (this.closing) throw new RtcAgentError(ErrorCode.CLOSED, 'JSON-RPC client is closed');
    this.setState('connecting');
    let started: Started;
    try {
      started = await connectFirst(this.failover, DEFAULT_RPC_CONNECT_TIMEOUT_MS, signal);
    } catch (err) {
      // close() meanwhile has already said 'closed'.
      if (!this.closing) this.setState('disconnected');
      throw err;
    }
    this.use(started.link, started.extensions);
    this.setState('connected');
  }

  private use(link: RpcLink, extensions: Set<string>): void {
    const hadRelay = this.link === null ? undefined : this.relayAvailable;
    this.link = link;
    this.extensionsValue = extensions;
    if (!extensions.has('relay') && hadRelay !== false) {
      this.log.warn(
        { hub: link.url },
        "relay is unavailable: this JSON-RPC signaling server offers no relay (rtc-agent's extension); messages wait for a P2P link and fail with RTC_ERR_SEND_TIMEOUT when none opens",
      );
    }
    this.startKeepAlive(link);
  }

  private startKeepAlive(link: RpcLink): void {
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.keepAlive = null;
    if (!this.extensionsValue.has('ping')) return;
    const every = this.options.keepAliveMs ?? DEFAULT_RPC_KEEP_ALIVE_MS;
    const timeout = this.options.serverTimeoutMs ?? DEFAULT_RPC_SERVER_TIMEOUT_MS;
    this.keepAlive = setInterval(() => {
      if (!this.live(link)) return;
      if (Date.now() - link.lastReceivedAt > timeout) {
        this.log.info({ hub: link.url, timeoutMs: timeout }, 'JSON-RPC server silent for too long; reconnecting');
        link.close(RpcCloseCode.Normal, '', new RtcAgentError(ErrorCode.TIMEOUT, `no message from ${link.url} for ${timeout} ms`));
        this.linkClosed(link, 4000, `${ErrorCode.TIMEOUT}: server timeout`);
        return;
      }
      link.call(RpcMethod.Ping, {}, timeout).catch(() => undefined);
    }, every);
    unref(this.keepAlive);
  }

  private linkClosed(link: RpcLink, code: number, reason: string): void {
    if (!this.live(link)) return;
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.keepAlive = null;
    if (this.closing) {
      this.finish(undefined);
      return;
    }
    // A client closed for breaking limits would only be closed again.
    const again = this.options.maxReconnectAttempts > 0 && code !== RpcCloseCode.PolicyViolation;
    const error = closeError(code, reason, link.url);
    if (again) void this.reconnect(link, error);
    else this.finish(error);
  }

  /** Reconnects as the SignalR client does (src/signaling/hub-failover.ts) and rejoins every room. */
  private async reconnect(lost: RpcLink, cause: RtcAgentError | undefined): Promise<void> {
    this.log.warn({ hub: lost.url, reason: cause?.message }, 'JSON-RPC server connection lost; reconnecting');
    this.setState('reconnecting');
    const outcome = await reconnectToAny(this.failover, lost, {
      maxAttempts: this.options.maxReconnectAttempts,
      intervalMs: this.options.reconnectIntervalMs,
      perAttemptMs: DEFAULT_RPC_CONNECT_TIMEOUT_MS,
    });
    if (outcome.kind === 'failed') this.finish(outcome.error);
    if (outcome.kind !== 'connected') return;
    const { link, extensions } = outcome.link;
    this.use(link, extensions);
    this.log.info({ hub: link.url, from: lost.url }, link.url === lost.url ? 'JSON-RPC server reconnected' : 'moved to another JSON-RPC server');
    this.setState('connected');
    if (link.url !== lost.url) this.emit('moved', link.url, lost.url);
    void this.rejoinAll();
  }

  private async rejoinAll(): Promise<void> {
    for (const [room, { hello, inbound }] of [...this.joined]) {
      try {
        const result = await this.announce(room, hello);
        if (this.joined.get(room)?.inbound === inbound) inbound.rejoined(result);
      } catch (err) {
        const error = err instanceof RtcAgentError ? err : new RtcAgentError(ErrorCode.HUB_UNREACHABLE, String(err));
        this.log.warn({ room, code: error.code }, 'rejoin failed');
        inbound.rejoinFailed(error);
      }
    }
  }

  // ---------------------------------------------------------------- rooms

  private call<T = unknown>(method: string, params: Record<string, unknown>): Promise<T> {
    const link = this.link;
    if (!link || !link.open) return Promise.reject(new RtcAgentError(ErrorCode.HUB_UNREACHABLE, `JSON-RPC server is ${this.stateValue}; ${method} not sent`));
    return link.call<T>(method, params);
  }

  private async announce(room: string, hello: JoinHello): Promise<JoinResult> {
    const params: Record<string, unknown> = { room, name: hello.name, capabilities: hello.capabilities };
    // Our extensions' servers derive a stable peer id from the agent key; others get no secret.
    if (this.extensionsValue.size > 0) {
      if (hello.agentKey !== undefined) params.agentKey = hello.agentKey;
      if (hello.meta !== undefined) params.meta = hello.meta;
    }
    const raw = await this.call(RpcMethod.Announce, params);
    return joinResultOf(raw, room, hello, Date.now());
  }

  /** Joins `room` (`announce`); its notifications go to `inbound` from now on, and after every reconnect. */
  async join(room: string, hello: JoinHello, inbound: RoomInbound): Promise<{ result: JoinResult; room: RoomSignaling }> {
    if (this.joined.has(room)) throw new RtcAgentError(ErrorCode.BAD_REQUEST, `room '${room}' is already joined on this connection`);
    this.joined.set(room, { hello, inbound });
    let result: JoinResult;
    try {
      result = await this.announce(room, hello);
    } catch (err) {
      if (this.joined.get(room)?.inbound === inbound) this.joined.delete(room);
      throw err;
    }
    return { result, room: this.roomSignaling(room, inbound) };
  }

  private roomSignaling(room: string, inbound: RoomInbound): RoomSignaling {
    const client = this;
    return {
      signal: (to, signal) => this.sendSignal(room, to, signal),
      signalConfirmed: (to, signal) => this.sendSignal(room, to, signal),
      relay: (to, payload) => {
        if (!this.relayAvailable) {
          return Promise.reject(new RtcAgentError(ErrorCode.RELAY_UNAVAILABLE, `JSON-RPC server ${this.url} offers no relay (rtc-agent's extension); only P2P links carry data`));
        }
        return this.call(RpcMethod.Relay, { room, to, payload: toBase64(payload) }).then(() => undefined);
      },
      members: async () => {
        if (!this.extensionsValue.has('members')) throw new RtcAgentError(ErrorCode.UNKNOWN_METHOD, `JSON-RPC server ${this.url} has no member list`);
        const result = await this.call<{ participants?: unknown }>(RpcMethod.Members, { room });
        return participantsOf(isObject(result) ? result.participants : undefined, '', Date.now());
      },
      leave: async () => {
        if (this.joined.get(room)?.inbound !== inbound) return;
        this.joined.delete(room);
        this.stamper.forget(room);
        if (this.connected) await this.call(RpcMethod.Disconnect, { room });
      },
      get connected() {
        return client.connected;
      },
    };
  }

  private async sendSignal(room: string, to: string, signal: SignalPayload): Promise<void> {
    this.stamper.observe(room, to, signal);
    const { method, params } = signalToRpc(signal);
    if (method === RpcMethod.Signal && !this.extensionsValue.has('signal')) {
      // restart / bye / probe have no standard method; a peer of another stack would not know them.
      this.log.debug({ room, to, type: signal.type }, 'signal has no JSON-RPC form on this server; not sent');
      return;
    }
    await this.call(method, { room, to, ...params });
  }

  // ---------------------------------------------------------------- inbound

  /** The room a notification is for: its `room`, or the only room joined (servers with one room per connection). */
  private roomOf(params: Record<string, unknown>): [string, JoinedRoom] | undefined {
    const room = params.room;
    if (typeof room === 'string') {
      const joined = this.joined.get(room);
      return joined ? [room, joined] : undefined;
    }
    if (this.joined.size === 1) return [...this.joined][0];
    return undefined;
  }

  /** A notification (or request) from the server; false for methods this client does not know. */
  private onServerMessage(method: string, rawParams: unknown): boolean {
    let params: Record<string, unknown>;
    try {
      params = namedParams(method, rawParams);
    } catch {
      this.log.debug({ method }, 'server message with positional params; dropped');
      return true;
    }
    const known = method === RpcNotification.PeerJoined || method === RpcNotification.PeerLeft || method === RpcNotification.Relayed || isSignalMethod(method);
    if (!known) return false;
    const target = this.roomOf(params);
    if (!target) {
      this.log.debug({ method, room: params.room }, 'server message for a room not joined; dropped');
      return true;
    }
    const [room, { inbound }] = target;
    const from = params.from ?? params.peerId ?? params.peer_id;
    switch (method) {
      case RpcNotification.PeerJoined: {
        const p: Participant | undefined = participantFromRpc(isObject(params.peer) ? params.peer : params, Date.now());
        if (p) inbound.peerJoined(p);
        return true;
      }
      case RpcNotification.PeerLeft: {
        const peer = typeof from === 'string' ? from : isObject(params.peer) ? participantFromRpc(params.peer, 0)?.peerId : undefined;
        if (peer === undefined) return true;
        this.stamper.forget(room, peer);
        inbound.peerLeft(peer, typeof params.reason === 'string' ? params.reason : 'left');
        return true;
      }
      case RpcNotification.Relayed: {
        if (typeof from !== 'string' || typeof params.payload !== 'string') return true;
        let bytes: Uint8Array;
        try {
          bytes = fromBase64(params.payload);
        } catch {
          this.log.debug({ room, from }, 'relayed payload is not base64; dropped');
          return true;
        }
        inbound.relayed(from, bytes);
        return true;
      }
      default: {
        if (typeof from !== 'string') {
          this.log.debug({ method, room }, 'signal without a sender; dropped');
          return true;
        }
        let signal: SignalPayload;
        try {
          signal = signalFromRpc(method, params);
        } catch (err) {
          this.log.debug({ method, room, from, reason: (err as Error).message }, 'malformed signal dropped');
          return true;
        }
        inbound.signal(from, this.stamper.fill(room, from, signal));
        return true;
      }
    }
  }

  // ---------------------------------------------------------------- closing

  private finish(error: RtcAgentError | undefined): void {
    this.setState('closed');
    if (this.closedEmitted) return;
    this.closedEmitted = true;
    if (error) this.log.warn({ hub: this.url, code: error.code, reason: error.message }, 'JSON-RPC server connection closed');
    this.emit('closed', error);
  }

  /** Closes the connection (and any reconnect in progress); idempotent. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.joined.clear();
    this.closeSignal.abort();
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.keepAlive = null;
    this.link?.close(RpcCloseCode.Normal, '', new RtcAgentError(ErrorCode.CLOSED, 'JSON-RPC client closed'));
    this.finish(undefined);
  }
}
