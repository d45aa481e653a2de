/**
 * The agent's side of the room contract, over the official @microsoft/signalr client — the
 * engine's {@link Signaling} seam, for Node and browsers alike (no Node APIs here): connect to the
 * first of its hubs that answers; when the connection is lost (and stateful reconnect could not
 * resume it), reconnect with a fresh connection, to the same hub first and then to the others in
 * turn; rejoin the rooms with the same hello (so the same peer id). Each room's callbacks go
 * straight to that room's {@link RoomInbound}. Relay payloads are bytes at this seam: over
 * SignalR's MessagePack hub protocol they travel as bytes, over the JSON protocol as base64.
 */
import * as signalR from '@microsoft/signalr';
import { fromBase64, toBase64 } from '../engine/bytes.js';
import { Emitter } from '../engine/emitter.js';
import type { EngineLogger } from '../engine/log.js';
import type { RoomInbound, RoomSignaling, Signaling, SignalingEvents, SignalingState } from '../engine/signaling.js';
import { ErrorCode, RtcAgentError } from '../errors.js';
import { ClientMethod, HubMethod, type JoinHello, type JoinResult, type MembersResult, type Participant, type SignalPayload } from '../protocol/room-contract.js';
import { classifyHubError, refusesMessagePack } from './hub-errors.js';
import { connectFirst, reconnectToAny, type FailoverClient } from './failover-loop.js';

export type { SignalingState } from '../engine/signaling.js';

export { MAX_RECONNECT_DELAY_MS } from './hub-failover.js';
export { FETCH_BLOCKED_PORTS, classifyHubError, fetchBlockedReason, hubUrlPort } from './hub-errors.js';

/**
 * How long one hub may take to accept a connection (negotiate + transport + handshake) before the
 * next one is tried, or connect() gives up on the last one.
 */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

export interface HubClientEvents extends SignalingEvents {
  /**
   * The connection failed over to another hub of the list (emitted right after 'state'
   * 'connected', before the rooms' 'rejoined').
   */
  moved: [url: string, from: string];
  /**
   * Reconnecting gave up (the error of the last attempt: why the hubs refused) or the hub closed
   * for good; nothing more will arrive. Emitted once; `undefined` after close().
   */
  closed: [error: RtcAgentError | undefined];
}

/** A room that wants no callbacks (a one-off Join, e.g. `rtc-agent doctor`'s round trip). */
export const IGNORE_ROOM: RoomInbound = {
  peerJoined: () => undefined,
  peerLeft: () => undefined,
  signal: () => undefined,
  relayed: () => undefined,
  rejoined: () => undefined,
  rejoinFailed: () => undefined,
};

/**
 * The SignalR hub protocol: `messagepack` carries relayed bytes as bytes (no base64: a third fewer
 * bytes and no encode/decode per frame); `json` is the text protocol every SignalR hub speaks.
 */
export type HubProtocolChoice = 'messagepack' | 'json';

export interface HubClientOptions {
  /**
   * One hub URL, or several hubs serving the same rooms: connect() tries them in order and takes
   * the first that answers; when the connection is lost, the same hub is tried once and then the
   * others, cycling.
   */
  hubUrl: string | readonly string[];
  accessToken?: string;
  /**
   * Called for a token before every negotiate and (re)connect, so a reconnect after the hub closed
   * an expired token's connection carries a fresh one. Beats `accessToken`.
   */
  accessTokenFactory?: () => string | Promise<string>;
  /** Reconnect attempts after a drop, over all hubs together; 0 = never reconnect. */
  maxReconnectAttempts: number;
  reconnectIntervalMs: number;
  /**
   * Hub protocol for every connection (default `json`: a browser page keeps the text protocol
   * unless it asks; the Node agent's `hubProtocol` setting defaults to `messagepack`).
   */
  hubProtocol?: HubProtocolChoice;
  /**
   * Makes the MessagePack protocol object (`() => new MessagePackHubProtocol()` from
   * @microsoft/signalr-protocol-msgpack), needed with `hubProtocol: 'messagepack'`. Injected so a
   * browser bundle that keeps JSON does not carry the MessagePack library.
   */
  messagePack?: () => signalR.IHubProtocol;
  log: EngineLogger;
}

/** Routes the SignalR client's log into pino; its "Information" lines are debug detail for us. */
class PinoSignalRLogger implements signalR.ILogger {
  constructor(private readonly out: EngineLogger) {}
  log(level: signalR.LogLevel, message: string): void {
    switch (level) {
      // The agent reports what matters (lost hub, reconnected, gave up) in its own words; the
      // client's errors are detail for whoever looks closer.
      case signalR.LogLevel.Critical:
      case signalR.LogLevel.Error:
        this.out.info({ signalr: true }, message);
        return;
      case signalR.LogLevel.Warning:
        this.out.debug({ signalr: true }, message);
        return;
      case signalR.LogLevel.Information:
      case signalR.LogLevel.Debug:
        this.out.debug({ signalr: true }, message);
        return;
      default:
        this.out.trace({ signalr: true }, message);
    }
  }
}

/** One HubConnection to one hub of the list; every reconnect attempt makes a new one. */
interface Link {
  readonly conn: signalR.HubConnection;
  readonly url: string;
  readonly index: number;
  /** Set by the retry policy: the SignalR client would reconnect, so {@link HubClient.reconnect} does. */
  reconnect?: boolean;
}

export class HubClient extends Emitter<HubClientEvents> implements Signaling {
  /** The hub URLs in the order they are tried. */
  readonly urls: readonly string[];
  private readonly http: signalR.IHttpConnectionOptions = {};
  private readonly signalRLog: signalR.ILogger;
  private readonly log: EngineLogger;
  /** The connection in use (or being reconnected); null before connect() succeeds. */
  private link: Link | null = null;
  /** Rooms joined (rejoined after a reconnect) and where their callbacks go. */
  private readonly joined = new Map<string, { hello: JoinHello; inbound: RoomInbound }>();
  private stateValue: SignalingState = 'disconnected';
  private closing = false;
  private closedEmitted = false;
  /** Aborted by close(): ends a reconnect's pause or connection attempt. */
  private readonly closeSignal = new AbortController();
  /** This client as the shared connect and reconnect loops see it (failover-loop.ts). */
  private readonly failover: FailoverClient<Link>;
  /**
   * MessagePack: relay payloads go as bytes; JSON: as base64 text. Turned off for good when a hub
   * refuses MessagePack in its handshake (an ASP.NET Core hub without AddMessagePackProtocol).
   */
  private binary: boolean;

  constructor(private readonly options: HubClientOptions) {
    super();
    this.urls = typeof options.hubUrl === 'string' ? [options.hubUrl] : [...options.hubUrl];
    if (this.urls.length === 0) throw new RtcAgentError(ErrorCode.CONFIG, 'no hub URL given', { details: { setting: 'hubUrl' } });
    this.log = options.log;
    this.failover = {
      urls: this.urls,
      log: this.log,
      noun: 'hub',
      closeSignal: this.closeSignal.signal,
      closing: () => this.closing,
      start: (index, signal) => this.startLink(index, signal),
      discard: (link) => void link.conn.stop().catch(() => undefined),
      classify: classifyHubError,
    };
    const protocol = options.hubProtocol ?? 'json';
    if (protocol !== 'json' && protocol !== 'messagepack') {
      throw new RtcAgentError(ErrorCode.CONFIG, `hubProtocol must be 'messagepack' or 'json', got '${String(protocol)}'`, { details: { setting: 'hubProtocol' } });
    }
    this.binary = protocol === 'messagepack';
    if (this.binary && !options.messagePack) {
      throw new RtcAgentError(ErrorCode.CONFIG, "hubProtocol 'messagepack' needs the messagePack protocol factory", { details: { setting: 'hubProtocol' } });
    }
    this.signalRLog = new PinoSignalRLogger(options.log);
    const token = options.accessToken;
    if (options.accessTokenFactory) this.http.accessTokenFactory = options.accessTokenFactory;
    else if (token !== undefined) this.http.accessTokenFactory = () => token;
  }

  get state(): SignalingState {
    return this.stateValue;
  }

  get connected(): boolean {
    return this.link?.conn.state === signalR.HubConnectionState.Connected;
  }

  /** The hub connected to now (or last): after a failover, another entry of {@link urls}. */
  get url(): string {
    return this.link?.url ?? this.urls[0]!;
  }

  private setState(state: SignalingState): void {
    if (this.stateValue === state) return;
    this.stateValue = state;
    this.emit('state', state);
  }

  /** A connection to hub `index`, wired to this client's events; not started. */
  private open(index: number): Link {
    const url = this.urls[index]!;
    let builder = new signalR.HubConnectionBuilder().withUrl(url, this.http).configureLogging(this.signalRLog).withStatefulReconnect();
    // One protocol object per connection: it holds no state across messages, but costs nothing.
    if (this.binary) builder = builder.withHubProtocol(this.options.messagePack!());
    if (this.options.maxReconnectAttempts > 0) {
      // The client's own reconnect goes to the same URL only, and its attempts can hang (a hub that
      // drops packets: 100 s per negotiate). It is asked only whether to reconnect at all (not after
      // a hub's Close without allowReconnect); the reconnecting is ours.
      builder = builder.withAutomaticReconnect({
        nextRetryDelayInMilliseconds: () => {
          link.reconnect = !this.closing;
          return null;
        },
      });
    }
    const link: Link = { conn: builder.build(), url, index };
    const conn = link.conn;
    // Callbacks of a connection that is no longer the one in use are stale: dropped.
    const live = (): boolean => this.link === link;
    // Each callback goes to its room's own inbound (one receive door per room). Handlers return
    // nothing: a returned value would be sent back as an (unexpected) client result.
    const to = (room: unknown): RoomInbound | undefined => (live() && typeof room === 'string' ? this.joined.get(room)?.inbound : undefined);
    conn.on(ClientMethod.PeerJoined, (room: string, p: Participant) => {
      to(room)?.peerJoined(p);
    });
    conn.on(ClientMethod.PeerLeft, (room: string, peerId: string, reason: string) => {
      to(room)?.peerLeft(peerId, reason);
    });
    conn.on(ClientMethod.Signal, (room: string, from: string, signal: SignalPayload) => {
      to(room)?.signal(from, signal);
    });
    conn.on(ClientMethod.Relayed, (room: string, from: string, payload: unknown) => {
      const inbound = to(room);
      if (!inbound) return;
      // MessagePack: `bin`, decoded as bytes (a view into the received frame, which nobody reuses).
      if (payload instanceof Uint8Array) {
        inbound.relayed(from, payload);
        return;
      }
      let bytes: Uint8Array;
      try {
        if (typeof payload !== 'string') throw new TypeError('not a string');
        bytes = fromBase64(payload);
      } catch {
        this.log.debug({ room, from }, 'relayed payload is neither bytes nor base64; dropped');
        return;
      }
      inbound.relayed(from, bytes);
    });
    conn.onclose((err) => {
      if (live()) this.linkClosed(link, err);
    });
    return link;
  }

  private linkClosed(link: Link, err: Error | undefined): void {
    if (this.closing) this.finish(undefined);
    else if (link.reconnect) void this.reconnect(link, err);
    else this.finish(err ? classifyHubError(err, link.url) : undefined);
  }

  /**
   * Reconnects after `lost` went away: fresh connections, to the same hub first and then to the
   * others in turn (src/signaling/hub-failover.ts), until one accepts or maxReconnectAttempts
   * (counted over all hubs) is spent; then 'closed' with the last attempt's failure, e.g. the
   * hub's 401 for a token it no longer accepts.
   */
  private async reconnect(lost: Link, cause: Error | undefined): Promise<void> {
    this.log.warn({ hub: lost.url, reason: cause?.message }, 'hub connection lost; reconnecting');
    this.setState('reconnecting');
    const outcome = await reconnectToAny(this.failover, lost, {
      maxAttempts: this.options.maxReconnectAttempts,
      intervalMs: this.options.reconnectIntervalMs,
      perAttemptMs: DEFAULT_CONNECT_TIMEOUT_MS,
    });
    if (outcome.kind === 'connected') this.adopt(outcome.link, lost.url);
    else if (outcome.kind === 'failed') this.finish(outcome.error);
  }

  /** Makes a freshly connected link the one in use and rejoins every room on it. */
  private adopt(link: Link, from: string): void {
    if (this.closing) {
      void link.conn.stop().catch(() => undefined);
      return;
    }
    this.link = link;
    if (link.url === from) this.log.info({ hub: link.url }, 'hub reconnected');
    else this.log.info({ hub: link.url, from }, 'moved to another hub');
    this.setState('connected');
    if (link.url !== from) this.emit('moved', link.url, from);
    void this.rejoinAll();
  }

  /**
   * A started connection to hub `index`. A hub that refuses MessagePack in its handshake (ASP.NET
   * Core without AddMessagePackProtocol says "The protocol 'messagepack' is not supported.") is
   * asked again at once over JSON, and this client stays on JSON.
   */
  private async startLink(index: number, signal: AbortSignal): Promise<Link> {
    const link = this.open(index);
    try {
      await this.start(link, signal);
      return link;
    } catch (err) {
      if (!this.binary || !refusesMessagePack(err)) throw err;
      this.binary = false;
      this.log.warn({ hub: link.url }, "the hub does not speak SignalR's MessagePack protocol; using JSON (relay payloads as base64; hubProtocol: 'json' skips this try)");
      const json = this.open(index);
      await this.start(json, signal);
      return json;
    }
  }

  /** Starts a link's connection, or fails (and stops it) when `signal` aborts first. */
  private async start(link: Link, signal: AbortSignal): Promise<void> {
    let onAbort = (): void => undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () =>
        reject(new RtcAgentError(ErrorCode.HUB_UNREACHABLE, `cannot reach hub ${link.url}: no connection within the timeout`, { cause: signal.reason }));
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      await Promise.race([link.conn.start(), aborted]);
    } catch (err) {
      void link.conn.stop().catch(() => undefined);
      throw classifyHubError(err, link.url);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Connects to the first hub that accepts, in list order; fails with HUB_UNREACHABLE /
   * UNAUTHORIZED / … (naming every hub and why each failed, when there are several) instead of
   * retrying. `signal` bounds the whole connect (default: {@link DEFAULT_CONNECT_TIMEOUT_MS});
   * each hub but the last also gets at most DEFAULT_CONNECT_TIMEOUT_MS, so a hub that never
   * answers does not use up the time of the others.
   */
  async connect(signal?: AbortSignal): Promise<void> {
    if (this.closing) throw new RtcAgentError(ErrorCode.CLOSED, 'hub client is closed');
    this.setState('connecting');
    try {
      this.link = await connectFirst(this.failover, DEFAULT_CONNECT_TIMEOUT_MS, signal);
    } catch (err) {
      // close() meanwhile has already said 'closed'.
      if (!this.closing) this.setState('disconnected');
      throw err;
    }
    this.setState('connected');
  }

  /**
   * Joins `room`; its callbacks go to `inbound` from now on (the hub may announce a newcomer in the
   * same frame as the result), and it is rejoined with the same hello after every reconnect.
   */
  async join(room: string, hello: JoinHello, inbound: RoomInbound): Promise<{ result: JoinResult; room: RoomSignaling }> {
    if (this.joined.has(room)) throw new RtcAgentError(ErrorCode.BAD_REQUEST, `room '${room}' is already joined on this connection`);
    this.joined.set(room, { hello, inbound });
    let result: JoinResult;
    try {
      result = await this.invoke<JoinResult>(HubMethod.Join, room, hello);
    } catch (err) {
      if (this.joined.get(room)?.inbound === inbound) this.joined.delete(room);
      throw err;
    }
    return { result, room: this.roomSignaling(room, inbound) };
  }

  /** One room's calls; they stop working once the room left. */
  private roomSignaling(room: string, inbound: RoomInbound): RoomSignaling {
    const client = this;
    return {
      signal: (to, signal) => this.sendOnly(HubMethod.Signal, room, to, signal),
      signalConfirmed: (to, signal) => this.invoke(HubMethod.Signal, room, to, signal),
      // Completes once the hub accepted the payload (its backpressure reaches us through this).
      // The MessagePack protocol serialises during invoke(), so the caller may reuse `payload` after.
      relay: (to, payload) => this.invoke(HubMethod.Relay, room, to, this.binary ? payload : toBase64(payload)),
      members: () => this.invoke<MembersResult>(HubMethod.Members, room).then((r) => r.participants),
      leave: async () => {
        if (this.joined.get(room)?.inbound !== inbound) return;
        this.joined.delete(room);
        if (this.connected) await this.invoke(HubMethod.Leave, room);
      },
      get connected() {
        return client.connected;
      },
    };
  }

  /** Fails fast with HUB_UNREACHABLE while (re)connecting or failing over: callers resend. */
  private async invoke<T = void>(method: string, ...args: unknown[]): Promise<T> {
    const link = this.liveLink(method);
    try {
      return (await link.conn.invoke(method, ...args)) as T;
    } catch (err) {
      throw classifyHubError(err, link.url);
    }
  }

  /**
   * A hub call with no answer (SignalR's non-blocking invocation): resolves once written, and the
   * hub's refusal, if any, is not reported. Fails fast with HUB_UNREACHABLE like invoke().
   */
  private async sendOnly(method: string, ...args: unknown[]): Promise<void> {
    const link = this.liveLink(method);
    try {
      await link.conn.send(method, ...args);
    } catch (err) {
      throw classifyHubError(err, link.url);
    }
  }

  private liveLink(method: string): Link {
    const link = this.link;
    if (!link || link.conn.state !== signalR.HubConnectionState.Connected) {
      throw new RtcAgentError(ErrorCode.HUB_UNREACHABLE, `hub is ${this.stateValue}; ${method} not sent`);
    }
    return link;
  }

  private async rejoinAll(): Promise<void> {
    for (const [room, { hello, inbound }] of [...this.joined]) {
      try {
        const result = await this.invoke<JoinResult>(HubMethod.Join, room, hello);
        if (this.joined.get(room)?.inbound === inbound) inbound.rejoined(result);
      } catch (err) {
        const error = classifyHubError(err, this.url);
        this.log.warn({ room, code: error.code }, 'rejoin failed');
        inbound.rejoinFailed(error);
      }
    }
  }

  /** 'closed' once, whatever ended the client. */
  private finish(error: RtcAgentError | undefined): void {
    this.setState('closed');
    if (this.closedEmitted) return;
    this.closedEmitted = true;
    if (error) this.log.warn({ hub: this.url, code: error.code, reason: error.message }, 'hub connection closed');
    this.emit('closed', error);
  }

  /** Stops the connection (and any failover in progress); idempotent. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.joined.clear();
    this.closeSignal.abort();
    const conn = this.link?.conn;
    const pending = conn ? statefulAckTimer(conn) : undefined;
    await conn?.stop().catch(() => undefined);
    pending?.release();
    this.finish(undefined);
  }
}

/**
 * @microsoft/signalr 10's stateful-reconnect buffer (MessageBuffer) acks received messages on a
 * 1 s timer that stop() does not clear, so a process that just closed its agent stayed alive for
 * up to a second (measured: ~1 s from close() to exit). This reaches the buffer (a private field,
 * taken before stop() drops it) and clears that timer after stop(); with nothing left to ack, the
 * timer's only job is gone. If a future client renames the fields this silently does nothing, and
 * test/agent/lifecycle.test.ts ("leaves no timer behind") says so.
 */
function statefulAckTimer(conn: signalR.HubConnection): { release(): void } | undefined {
  const buffer = (conn as unknown as { _messageBuffer?: { _ackTimerHandle?: ReturnType<typeof setTimeout> } })._messageBuffer;
  if (!buffer || typeof buffer !== 'object') return undefined;
  return {
    release: () => {
      if (buffer._ackTimerHandle === undefined) return;
      clearTimeout(buffer._ackTimerHandle);
      buffer._ackTimerHandle = undefined;
    },
  };
}
