/**
 * The agent's side of the room contract, over the official @microsoft/signalr client: connect
 * with automatic and stateful reconnect, join rooms and rejoin them by itself after a reconnect,
 * and surface hub callbacks as typed events.
 */
import { EventEmitter } from 'node:events';
import * as signalR from '@microsoft/signalr';
import { ErrorCode, RtcAgentError, parseErrorCode } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { ClientMethod, HubMethod, type JoinHello, type JoinResult, type MembersResult, type Participant, type SignalPayload } from '../protocol/room-contract.js';

/** Longest pause between two hub reconnect attempts. */
export const MAX_RECONNECT_DELAY_MS = 30_000;
/** How long connect() may take before it gives up (negotiate + transport + handshake). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

export type SignalingState = 'disconnected' | 'connecting' | 'connected' | 'reconnecting' | 'closed';

export interface HubClientEvents {
  'peer-joined': [room: string, participant: Participant];
  'peer-left': [room: string, peerId: string, reason: string];
  signal: [room: string, from: string, signal: SignalPayload];
  relayed: [room: string, from: string, payload: string];
  state: [state: SignalingState];
  /** A room was joined again after a reconnect; `result` lists who is there now. */
  rejoined: [room: string, result: JoinResult];
  /** Rejoining a room after a reconnect failed. */
  'rejoin-failed': [room: string, error: RtcAgentError];
  /** Reconnecting gave up (or the hub closed for good); nothing more will arrive. */
  closed: [error: RtcAgentError | undefined];
}

export interface HubClientOptions {
  hubUrl: string;
  accessToken?: string;
  /**
   * Called for a token before every negotiate and (re)connect, so a reconnect after the hub closed
   * an expired token's connection carries a fresh one. Beats `accessToken`.
   */
  accessTokenFactory?: () => string | Promise<string>;
  /** 0 = never reconnect. */
  maxReconnectAttempts: number;
  reconnectIntervalMs: number;
  log: Logger;
}

/** Exponential backoff from `reconnectIntervalMs`, first retry at once, capped, with jitter. */
export class BackoffRetryPolicy implements signalR.IRetryPolicy {
  constructor(
    private readonly maxAttempts: number,
    private readonly baseMs: number,
  ) {}

  nextRetryDelayInMilliseconds(ctx: signalR.RetryContext): number | null {
    if (ctx.previousRetryCount >= this.maxAttempts) return null;
    if (ctx.previousRetryCount === 0) return 0;
    const delay = Math.min(MAX_RECONNECT_DELAY_MS, this.baseMs * 2 ** (ctx.previousRetryCount - 1));
    return Math.round(delay * (0.8 + Math.random() * 0.4));
  }
}

/** Routes the SignalR client's log into pino; its "Information" lines are debug detail for us. */
class PinoSignalRLogger implements signalR.ILogger {
  constructor(private readonly out: Logger) {}
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

/** Maps what the SignalR client throws to a stable code. */
export function classifyHubError(err: unknown, hubUrl: string): RtcAgentError {
  if (err instanceof RtcAgentError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const code = parseErrorCode(message);
  if (code) return new RtcAgentError(code, message.slice(message.indexOf(code) + code.length + 2) || message, { cause: err });
  if (/\b401\b|Unauthorized/i.test(message)) {
    return new RtcAgentError(ErrorCode.UNAUTHORIZED, `hub ${hubUrl} refused the token (401)`, { cause: err });
  }
  if (/\b403\b|Forbidden/i.test(message)) {
    return new RtcAgentError(ErrorCode.FORBIDDEN, `hub ${hubUrl} refused the connection (403)`, { cause: err });
  }
  return new RtcAgentError(ErrorCode.HUB_UNREACHABLE, `cannot reach hub ${hubUrl}: ${message}`, { cause: err });
}

export class HubClient extends EventEmitter<HubClientEvents> {
  private readonly conn: signalR.HubConnection;
  private readonly joined = new Map<string, JoinHello>();
  private stateValue: SignalingState = 'disconnected';
  private closing = false;

  constructor(private readonly options: HubClientOptions) {
    super();
    const http: signalR.IHttpConnectionOptions = {};
    const token = options.accessToken;
    if (options.accessTokenFactory) http.accessTokenFactory = options.accessTokenFactory;
    else if (token !== undefined) http.accessTokenFactory = () => token;
    let builder = new signalR.HubConnectionBuilder()
      .withUrl(options.hubUrl, http)
      .configureLogging(new PinoSignalRLogger(options.log))
      .withStatefulReconnect();
    if (options.maxReconnectAttempts > 0) {
      builder = builder.withAutomaticReconnect(new BackoffRetryPolicy(options.maxReconnectAttempts, options.reconnectIntervalMs));
    }
    this.conn = builder.build();
    // Handlers return nothing: a returned value would be sent back as a (unexpected) client result.
    this.conn.on(ClientMethod.PeerJoined, (room: string, p: Participant) => {
      this.emit('peer-joined', room, p);
    });
    this.conn.on(ClientMethod.PeerLeft, (room: string, peerId: string, reason: string) => {
      this.emit('peer-left', room, peerId, reason);
    });
    this.conn.on(ClientMethod.Signal, (room: string, from: string, signal: SignalPayload) => {
      this.emit('signal', room, from, signal);
    });
    this.conn.on(ClientMethod.Relayed, (room: string, from: string, payload: string) => {
      this.emit('relayed', room, from, payload);
    });
    this.conn.onreconnecting((err) => {
      options.log.warn({ reason: err?.message }, 'hub connection lost; reconnecting');
      this.setState('reconnecting');
    });
    this.conn.onreconnected(() => {
      options.log.info('hub reconnected');
      this.setState('connected');
      void this.rejoinAll();
    });
    this.conn.onclose((err) => {
      this.setState('closed');
      const error = this.closing || !err ? undefined : classifyHubError(err, options.hubUrl);
      if (error) options.log.warn({ code: error.code, reason: error.message }, 'hub connection closed');
      this.emit('closed', error);
    });
  }

  get state(): SignalingState {
    return this.stateValue;
  }

  get connected(): boolean {
    return this.conn.state === signalR.HubConnectionState.Connected;
  }

  private setState(state: SignalingState): void {
    if (this.stateValue === state) return;
    this.stateValue = state;
    this.emit('state', state);
  }

  /** Connects once; fails with HUB_UNREACHABLE / UNAUTHORIZED / ABORTED instead of retrying. */
  async connect(signal: AbortSignal = AbortSignal.timeout(DEFAULT_CONNECT_TIMEOUT_MS)): Promise<void> {
    this.setState('connecting');
    const aborted = new Promise<never>((_, reject) => {
      const onAbort = (): void =>
        reject(new RtcAgentError(ErrorCode.HUB_UNREACHABLE, `cannot reach hub ${this.options.hubUrl}: no connection within the timeout`, { cause: signal.reason }));
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      await Promise.race([this.conn.start(), aborted]);
      this.setState('connected');
    } catch (err) {
      this.setState('disconnected');
      void this.conn.stop().catch(() => undefined);
      throw classifyHubError(err, this.options.hubUrl);
    }
  }

  async join(room: string, hello: JoinHello): Promise<JoinResult> {
    const result = await this.invoke<JoinResult>(HubMethod.Join, room, hello);
    this.joined.set(room, hello);
    return result;
  }

  async leave(room: string): Promise<void> {
    this.joined.delete(room);
    if (this.connected) await this.invoke(HubMethod.Leave, room);
  }

  signal(room: string, to: string, signal: SignalPayload): Promise<void> {
    return this.invoke(HubMethod.Signal, room, to, signal);
  }

  /** Completes once the hub accepted the payload (its backpressure reaches us through this). */
  relay(room: string, to: string | null, payload: string): Promise<void> {
    return this.invoke(HubMethod.Relay, room, to, payload);
  }

  /** The room's members as the hub lists them now (contract feature `members`). */
  members(room: string): Promise<MembersResult> {
    return this.invoke<MembersResult>(HubMethod.Members, room);
  }

  private async invoke<T = void>(method: string, ...args: unknown[]): Promise<T> {
    if (!this.connected) throw new RtcAgentError(ErrorCode.HUB_UNREACHABLE, `hub is ${this.stateValue}; ${method} not sent`);
    try {
      return (await this.conn.invoke(method, ...args)) as T;
    } catch (err) {
      throw classifyHubError(err, this.options.hubUrl);
    }
  }

  private async rejoinAll(): Promise<void> {
    for (const [room, hello] of this.joined) {
      try {
        const result = await this.invoke<JoinResult>(HubMethod.Join, room, hello);
        this.emit('rejoined', room, result);
      } catch (err) {
        const error = classifyHubError(err, this.options.hubUrl);
        this.options.log.warn({ room, code: error.code }, 'rejoin failed');
        this.emit('rejoin-failed', room, error);
      }
    }
  }

  /** Stops the connection; idempotent. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.joined.clear();
    await this.conn.stop().catch(() => undefined);
    this.setState('closed');
  }
}
