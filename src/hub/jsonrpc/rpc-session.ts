/**
 * One JSON-RPC connection (a WebSocket on `/rpc`) as the room methods see it: a {@link Caller} with
 * memberships, rate limit and strikes, exactly like a SignalR connection's Session, so rooms,
 * hub-stamped senders, auth and limits are the same code for both protocols. Frames are handled
 * in order, one at a time; while a method applies backpressure (a Relay to a slow member, a Join
 * waiting for the cluster) the socket is not read.
 */
import { randomBytes } from 'node:crypto';
import type { WebSocket } from 'ws';
import { ErrorCode, RtcAgentError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import { RpcCloseCode, closeReason, type JsonRpcRequest, type JsonRpcResponse } from '../../protocol/jsonrpc/messages.js';
import { SessionStamper } from '../../protocol/jsonrpc/signaling.js';
import { randomPeerId } from '../../protocol/peer-id.js';
import type { SignalPayload } from '../../protocol/room-contract.js';
import type { AuthUser } from '../auth.js';
import type { HubLimits } from '../options.js';
import { StrikeCounter, TokenBucket } from '../rate-limiter.js';
import type { Caller } from '../room-methods.js';
import { RecordTranslator, toNotification } from './outbound.js';

/** Handles one inbound text frame; a promise holds the next frame until it settles. */
export type FrameHandler = (session: RpcSession, text: string) => Promise<void> | undefined;

export interface RpcSessionOptions {
  ws: WebSocket;
  user: AuthUser | null;
  limits: HubLimits;
  log: Logger;
  onFrame: FrameHandler;
  /** Called once when the connection is gone, with the error it was closed for (undefined: the client left). */
  onClosed: (session: RpcSession, error: RtcAgentError | undefined) => void;
  now: number;
}

export class RpcSession implements Caller {
  readonly connectionId = randomBytes(16).toString('base64url');
  readonly memberships = new Map<string, string>();
  readonly fallbackPeerId = randomPeerId();
  readonly user: AuthUser | null;
  readonly log: Logger;
  /** Session ids of negotiations this client leaves out (docs/jsonrpc.md, "Session ids"). */
  readonly stamper = new SessionStamper('jr');
  lastReceivedAt: number;
  lastSentAt: number;
  private readonly ws: WebSocket;
  private readonly limits: HubLimits;
  private readonly bucket: TokenBucket;
  private readonly strikes: StrikeCounter;
  private readonly translator = new RecordTranslator();
  private readonly onFrame: FrameHandler;
  private readonly onClosed: RpcSessionOptions['onClosed'];
  private pendingBytes = 0;
  private writableWaiters: (() => void)[] = [];
  private queue: string[] = [];
  private busy = false;
  private closedWith: RtcAgentError | undefined;
  private state: 'open' | 'closing' | 'closed' = 'open';

  constructor(o: RpcSessionOptions) {
    this.ws = o.ws;
    this.user = o.user;
    this.limits = o.limits;
    this.onFrame = o.onFrame;
    this.onClosed = o.onClosed;
    this.lastReceivedAt = o.now;
    this.lastSentAt = o.now;
    this.log = o.log.child({ conn: this.connectionId });
    this.bucket = new TokenBucket(o.limits.messagesPerSecond, o.limits.messageBurst, o.now);
    this.strikes = new StrikeCounter(o.limits.maxStrikes, o.limits.strikeWindowMs);
    o.ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => this.onMessage(data, isBinary));
    o.ws.on('pong', () => (this.lastReceivedAt = Date.now()));
    o.ws.on('close', () => this.finish());
    o.ws.on('error', (err) => this.log.debug({ err: err.message }, 'websocket error'));
  }

  get open(): boolean {
    return this.state === 'open';
  }

  // ---------------------------------------------------------------- inbound

  private onMessage(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
    if (this.state !== 'open') return;
    this.lastReceivedAt = Date.now();
    const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    // JSON-RPC is text; a binary frame holding UTF-8 JSON is taken as text rather than refused.
    if (isBinary) this.log.debug('binary frame taken as UTF-8 text');
    this.queue.push(buffer.toString('utf8'));
    if (!this.busy) void this.drain();
  }

  /** Handles queued frames in order; the socket is paused while a frame's methods are pending. */
  private async drain(): Promise<void> {
    this.busy = true;
    try {
      while (this.queue.length > 0 && this.state === 'open') {
        const pending = this.onFrame(this, this.queue.shift() as string);
        if (!pending) continue;
        this.ws.pause();
        try {
          await pending;
        } catch (err) {
          this.log.error({ err }, 'JSON-RPC frame failed');
        } finally {
          if (this.state === 'open') this.ws.resume();
        }
      }
    } finally {
      this.busy = false;
    }
  }

  /** Takes a token from the rate limiter. */
  withinRate(now: number): boolean {
    return this.bucket.take(now);
  }

  /** Counts a rejected message; closes the connection when the client keeps misbehaving. */
  strike(now: number, last: RtcAgentError): void {
    if (this.strikes.add(now)) {
      this.close(
        new RtcAgentError(ErrorCode.ABUSE, `closed after more than ${this.limits.maxStrikes} rejected messages in ${this.limits.strikeWindowMs} ms (last: ${last.code})`),
        RpcCloseCode.PolicyViolation,
      );
    }
  }

  // ---------------------------------------------------------------- outbound

  /** Sends one response, a batch of responses, or a notification. */
  sendMessage(message: JsonRpcResponse | JsonRpcResponse[] | JsonRpcRequest): void {
    this.sendText(JSON.stringify(message));
  }

  sendInvocation(target: string, args: unknown[]): void {
    const message = toNotification(target, args, (room, from, signal) => this.observe(room, from, signal));
    if (message) this.sendMessage(message);
    else this.log.debug({ target }, 'no JSON-RPC form for this call; not sent');
  }

  sendInvocationRecord(record: string): void {
    const text = this.translator.translate(record);
    if (text !== undefined) this.sendText(text);
  }

  private observe(room: string, from: string, signal: SignalPayload): void {
    this.stamper.observe(room, from, signal);
  }

  private sendText(text: string): void {
    if (this.state !== 'open') return;
    const bytes = text.length;
    this.pendingBytes += bytes;
    this.lastSentAt = Date.now();
    this.ws.send(text, () => {
      this.pendingBytes -= bytes;
      this.notifyDrained();
    });
    if (this.pendingBytes > this.limits.outboundMaxBytes) {
      this.log.warn({ queued: this.pendingBytes }, 'JSON-RPC client does not read fast enough; closing it');
      this.close(new RtcAgentError(ErrorCode.SLOW_CONSUMER, `more than ${this.limits.outboundMaxBytes} bytes queued for this client`), RpcCloseCode.TooSlow);
    }
  }

  whenWritable(): Promise<void> | undefined {
    if (this.state !== 'open' || this.pendingBytes < this.limits.outboundHighWaterBytes) return undefined;
    return new Promise((resolve) => this.writableWaiters.push(resolve));
  }

  private notifyDrained(): void {
    if (this.writableWaiters.length === 0) return;
    if (this.state !== 'open' || this.pendingBytes < this.limits.outboundHighWaterBytes) this.releaseWriters();
  }

  private releaseWriters(): void {
    const waiters = this.writableWaiters;
    this.writableWaiters = [];
    for (const resolve of waiters) resolve();
  }

  destroyAsSlow(): void {
    this.close(new RtcAgentError(ErrorCode.SLOW_CONSUMER, 'this client did not read its messages in time'), RpcCloseCode.TooSlow);
  }

  /** Sends a WebSocket ping (every client answers with a pong, browsers included). */
  ping(now: number): void {
    if (this.state !== 'open') return;
    this.lastSentAt = now;
    this.ws.ping();
  }

  // ---------------------------------------------------------------- lifecycle

  /** The error this connection was closed with (undefined: open, or the client closed it). */
  get error(): RtcAgentError | undefined {
    return this.closedWith;
  }

  /** Closes with a close frame naming the error (`RTC_ERR_…: message`). Idempotent. */
  close(error?: RtcAgentError, code: number = RpcCloseCode.Normal): void {
    if (this.state !== 'open') return;
    this.state = 'closing';
    this.closedWith = error;
    if (error) this.log.debug({ code: error.code, reason: error.message }, 'closing JSON-RPC connection');
    this.queue = [];
    this.releaseWriters();
    try {
      this.ws.close(code, error ? closeReason(error) : undefined);
    } catch {
      this.ws.terminate();
    }
  }

  /** Cuts the socket at once (a client that does not answer our close, or a dead one). Idempotent. */
  terminate(error?: RtcAgentError): void {
    if (this.state === 'closed') return;
    this.closedWith ??= error;
    this.ws.terminate();
    this.finish();
  }

  private finish(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.queue = [];
    this.releaseWriters();
    this.onClosed(this, this.closedWith);
  }
}
