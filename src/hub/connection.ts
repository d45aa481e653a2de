/**
 * One logical SignalR connection: handshake (JSON or MessagePack hub protocol, chosen by the
 * client per connection as with ASP.NET Core), ordered processing of inbound messages, coalesced
 * outbound writes, keep-alive and timeouts, stateful reconnect, and what happens when the client
 * reads slower than it is sent to (slow-member.ts). It knows nothing about rooms; hub methods
 * arrive through {@link ConnectionEvents.invocation}.
 */
import { randomBytes } from 'node:crypto';
import { ErrorCode, RtcAgentError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { MessageType, isTrackable, type HubMessage, type InvocationMessage, type StreamInvocationMessage } from '../protocol/signalr/hub-messages.js';
import type { AuthUser } from './auth.js';
import { HandshakeReader, handshakeError, handshakeResponse } from './handshake.js';
import type { ResolvedHubOptions, TransportName } from './options.js';
import { ReplayBuffer } from './replay-buffer.js';
import type { SharedInvocation } from './shared-invocation.js';
import { Outbox } from './outbox.js';
import { SlowMemberGuard } from './slow-member.js';
import { isOversize, type HubProtocolName, type InboxItem, type OversizeRecord, type WireCodec, type WireRecord } from './wire-codec.js';

/** What a transport (WebSocket, SSE stream, long-poll queue) offers the connection. */
export interface TransportSink {
  readonly name: TransportName;
  /** Hands one frame (one or more records) to the transport: text for JSON, bytes for MessagePack. */
  write(frame: WireRecord): void;
  /** Bytes accepted by write() and not yet handed to the OS (or, for long polling, not yet polled). */
  bufferedBytes(): number;
  /** Ends the transport after what was written has been flushed. Idempotent. */
  end(): void;
  /** Optional periodic check (long polling uses it to notice a client that stopped polling). */
  tick?(now: number): void;
}

export interface ConnectionEvents {
  /** A hub method call. Return a promise to hold further inbound processing until it settles. */
  invocation(conn: HubClientConnection, msg: InvocationMessage | StreamInvocationMessage): void | Promise<void>;
  handshake(conn: HubClientConnection): void;
  closed(conn: HubClientConnection, error: RtcAgentError | undefined): void;
  /** Counted for metrics; `code` is the stable code of an error sent to or closing this client. */
  error(conn: HubClientConnection, code: string): void;
  /** The client started or stopped lagging (slow-member.ts); counted for metrics. */
  lagging?(conn: HubClientConnection, lagging: boolean): void;
}

export type ConnectionState = 'negotiated' | 'open' | 'resumable' | 'closed';

/** Stateful reconnect: ack what we received at least this often while traffic flows. */
const ACK_INTERVAL_MS = 100;
/** Ack at once when this many unacked bytes arrived, so the client's 100 kB send window never stalls. */
const ACK_EAGER_BYTES = 32 * 1024;

function newId(bytes: number): string {
  return randomBytes(bytes).toString('base64url');
}

export class HubClientConnection {
  /** Public id (shown to apps as `connectionId`). */
  readonly connectionId: string;
  /** Secret id used in `?id=` (SignalR's connectionToken); URL-safe by construction. */
  readonly token: string;
  readonly log: Logger;
  state: ConnectionState = 'negotiated';
  transportName: TransportName | null = null;
  /** Filled by the hub (room memberships etc.). */
  readonly items = new Map<string, unknown>();
  /** Told about client faults detected below the hub methods (oversize messages), to count strikes. */
  onClientFault: ((error: RtcAgentError, now: number) => void) | null = null;

  private sink: TransportSink | null = null;
  private lastAttached: TransportSink | null = null;
  private handshakeDone = false;
  private protocolVersion = 0;
  /** Set by the handshake: the hub protocol this client speaks. */
  private codec: WireCodec | null = null;
  private readonly handshake: HandshakeReader;
  /** A malformed record is queued: ignore further input, the connection is about to close. */
  private inputRejected = false;
  private inbox: InboxItem[] = [];
  private processing: Promise<void> | null = null;
  private readonly outbox = new Outbox(() => this.flush());
  private readonly slow: SlowMemberGuard;
  private replay: ReplayBuffer | null = null;
  private unackedInboundBytes = 0;
  private lastAckAt = 0;

  private readonly createdAt: number;
  private lastReceivedAt: number;
  private lastSentAt: number;
  private transportLostAt = 0;
  private firstPingSeen = false;
  private closeError: RtcAgentError | undefined;

  constructor(
    readonly user: AuthUser | null,
    /** The client asked for stateful reconnect in negotiate (`useStatefulReconnect=true`). */
    readonly statefulRequested: boolean,
    private readonly options: ResolvedHubOptions,
    private readonly events: ConnectionEvents,
    parentLog: Logger,
    now: number,
    /** Ids negotiated by another hub of the cluster; fresh random ones otherwise. */
    ids?: { connectionId: string; token: string },
  ) {
    this.connectionId = ids?.connectionId ?? newId(16);
    this.token = ids?.token ?? newId(24);
    this.createdAt = now;
    this.lastReceivedAt = now;
    this.lastSentAt = now;
    this.log = parentLog.child({ conn: this.connectionId });
    const limits = options.limits;
    this.handshake = new HandshakeReader(limits.maxMessageBytes);
    this.slow = new SlowMemberGuard(
      {
        highWaterBytes: limits.outboundHighWaterBytes,
        maxBytes: limits.outboundMaxBytes,
        waitMs: options.slowMemberWaitMs,
        probationMs: options.slowMemberProbationMs,
        closeMs: options.slowMemberCloseMs,
      },
      {
        queuedBytes: () => this.queuedBytes(),
        changed: (lagging) => {
          this.log.debug({ queued: this.queuedBytes() }, lagging ? 'client reads slower than it is sent to: lagging, senders no longer wait for it' : 'client caught up');
          this.events.lagging?.(this, lagging);
        },
      },
    );
  }

  /** The hub protocol negotiated in the handshake; null before it. */
  get protocol(): HubProtocolName | null {
    return this.codec?.protocol ?? null;
  }

  /** Senders no longer wait for this client (slow-member.ts). */
  get lagging(): boolean {
    return this.slow.lagging;
  }

  get isStateful(): boolean {
    return this.replay !== null;
  }

  /** The most recently attached transport, even after it ended (long polling answers late polls). */
  get lastSink(): TransportSink | null {
    return this.lastAttached;
  }

  get handshakeCompleted(): boolean {
    return this.handshakeDone;
  }

  /** Attaches a transport: the first one, or a resumed WebSocket after a drop. */
  attach(sink: TransportSink, now: number): void {
    const resuming = this.state === 'resumable';
    this.sink = sink;
    this.lastAttached = sink;
    this.transportName = sink.name;
    this.state = 'open';
    this.lastReceivedAt = now;
    if (resuming && this.replay) {
      this.log.debug({ from: this.replay.resendStart() }, 'stateful reconnect: resuming');
      this.writeMessage({ type: MessageType.Sequence, sequenceId: this.replay.resendStart() });
      for (const record of this.replay.unacked()) this.writeRaw(record);
    }
  }

  /** True if a dropped transport of this connection may be replaced by `name` now. */
  canResume(name: TransportName): boolean {
    return this.state === 'resumable' && name === 'WebSockets' && this.replay !== null && !this.replay.overflowed;
  }

  /** The transport went away without a Close (socket error, client abort, EventSource closed). */
  transportLost(sink: TransportSink, now: number): void {
    if (this.sink !== sink || this.state === 'closed') return;
    this.sink = null;
    this.outbox.clear();
    this.codec?.reset();
    this.handshake.reset();
    if (this.replay && !this.replay.overflowed && this.handshakeDone) {
      this.state = 'resumable';
      this.transportLostAt = now;
      this.replay.transportLost();
      this.log.debug('transport lost; keeping the connection for stateful reconnect');
      this.slow.release();
      return;
    }
    this.finish(undefined);
  }

  // ---------------------------------------------------------------- inbound

  /**
   * Feeds what the transport received (WebSocket frames and POST bodies alike: the handshake is
   * JSON text even for MessagePack). Returns a promise when processing has to wait (a hub method
   * applying backpressure), so the transport can stop reading; undefined when everything is done.
   */
  receive(data: Uint8Array | string, now: number): Promise<void> | undefined {
    if (this.state === 'closed' || this.inputRejected) return this.processing ?? undefined;
    this.lastReceivedAt = now;
    let chunk: Uint8Array = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    if (!this.codec) {
      const outcome = this.handshake.read(chunk, this.transportName);
      if (outcome.kind === 'incomplete') return undefined;
      if (outcome.kind === 'rejected') {
        this.rejectHandshake(outcome.reason);
        return undefined;
      }
      this.acceptHandshake(outcome.codec, outcome.version);
      chunk = outcome.rest;
      if (chunk.length === 0) return this.processing ?? undefined;
    }
    const { items, size, rejected } = (this.codec as WireCodec).decode(chunk);
    this.unackedInboundBytes += size;
    for (const item of items) this.inbox.push(item);
    if (rejected) this.inputRejected = true;
    if (this.replay && this.unackedInboundBytes >= ACK_EAGER_BYTES) this.sendAck(now);
    return this.runInbox();
  }

  private runInbox(): Promise<void> | undefined {
    if (this.processing) return this.processing;
    while (this.inbox.length > 0) {
      const msg = this.inbox.shift() as InboxItem;
      const pending = this.handle(msg);
      if (pending) {
        this.processing = this.continueInbox(pending).finally(() => {
          this.processing = null;
        });
        return this.processing;
      }
    }
    return undefined;
  }

  private async continueInbox(first: Promise<void>): Promise<void> {
    await first.catch((err: unknown) => this.log.error({ err }, 'hub method failed'));
    while (this.inbox.length > 0 && this.state !== 'closed') {
      const pending = this.handle(this.inbox.shift() as InboxItem);
      if (pending) await pending.catch((err: unknown) => this.log.error({ err }, 'hub method failed'));
    }
  }

  private handle(msg: InboxItem): Promise<void> | undefined {
    if (this.state === 'closed') return undefined;
    if ('malformed' in msg) {
      this.close(msg.malformed);
      return undefined;
    }
    if (this.replay) {
      // An oversize record is numbered like any other, so our Acks match the client's count and a
      // replayed copy of it is recognised as a duplicate.
      const kind = isTrackable(msg.type) ? 'trackable' : msg.type === MessageType.Sequence && !isOversize(msg) ? 'sequence' : 'other';
      if (!this.replay.accept(kind)) return undefined;
    }
    if (isOversize(msg)) {
      this.rejectOversize(msg);
      return undefined;
    }
    switch (msg.type) {
      case MessageType.Invocation:
      case MessageType.StreamInvocation:
        return this.events.invocation(this, msg) ?? undefined;
      case MessageType.Ping:
        this.firstPingSeen = true;
        return undefined;
      case MessageType.Close:
        this.log.debug({ error: msg.error }, 'client closed the connection');
        this.finish(undefined, { sendClose: false });
        return undefined;
      case MessageType.Ack:
        this.replay?.ack(msg.sequenceId);
        this.notifyDrained();
        return undefined;
      case MessageType.Sequence:
        if (this.replay && !this.replay.resetSequence(msg.sequenceId)) {
          this.close(new RtcAgentError(ErrorCode.PROTOCOL, `Sequence ${msg.sequenceId} is beyond the messages received`));
        }
        return undefined;
      case MessageType.StreamItem:
      case MessageType.Completion:
      case MessageType.CancelInvocation:
        // The hub never streams to clients or asks for client results, so these answer nothing of ours.
        return undefined;
    }
  }

  private acceptHandshake(codec: WireCodec, version: number): void {
    this.codec = codec;
    this.protocolVersion = version;
    // Stateful reconnect needs all three: asked for in negotiate, WebSockets, handshake version 2.
    if (this.statefulRequested && this.transportName === 'WebSockets' && this.protocolVersion >= 2) {
      this.replay = new ReplayBuffer(this.options.limits.reconnectBufferBytes);
    }
    this.handshakeDone = true;
    this.writeRaw(handshakeResponse(codec));
    this.events.handshake(this);
  }

  private rejectHandshake(reason: string): void {
    this.log.debug({ reason }, 'handshake rejected');
    this.events.error(this, ErrorCode.HANDSHAKE);
    this.writeRaw(handshakeError(reason));
    this.finish(new RtcAgentError(ErrorCode.HANDSHAKE, reason), { sendClose: false });
  }

  private rejectOversize(record: OversizeRecord): void {
    // Answer the invocation if it has an id so the caller learns why; otherwise drop it.
    if (record.invocationId !== undefined) this.sendCompletionError(record.invocationId, record.error);
    this.events.error(this, record.error.code);
    this.log.debug({ type: record.type }, 'oversize message rejected');
    this.onClientFault?.(record.error, Date.now());
  }

  // ---------------------------------------------------------------- outbound

  /** Sends a hub message. Trackable messages are numbered for stateful reconnect. */
  send(msg: HubMessage): void {
    if (this.state === 'closed' || !this.codec) return;
    const record = this.codec.encode(msg);
    if (this.replay && isTrackable(msg.type)) this.replay.recordSent(record);
    if (this.sink) this.writeRaw(record);
  }

  /**
   * Sends an Invocation serialised once for every recipient (in this client's protocol). A
   * `droppable` one (a Relayed frame) is dropped instead while this client lags and its queue is
   * full (slow-member.ts); returns false then. Throws BAD_REQUEST when the invocation cannot be
   * put in this client's protocol (a JSON sender's payload that is not base64, for MessagePack).
   */
  sendShared(invocation: SharedInvocation, droppable: boolean): boolean {
    if (this.state === 'closed' || !this.codec) return true;
    const record = invocation.record(this.codec.protocol);
    if (droppable && this.sink && !this.slow.admitsRelay(record.length)) {
      return false;
    }
    if (this.replay) this.replay.recordSent(record);
    if (this.sink) this.writeRaw(record);
    return true;
  }

  sendInvocation(target: string, args: unknown[]): void {
    this.send({ type: MessageType.Invocation, target, arguments: args });
  }

  sendCompletion(invocationId: string, result: unknown): void {
    this.send(result === undefined ? { type: MessageType.Completion, invocationId } : { type: MessageType.Completion, invocationId, result });
  }

  sendCompletionError(invocationId: string, error: RtcAgentError): void {
    this.send({ type: MessageType.Completion, invocationId, error: error.toWire() });
  }

  /** A message that is not numbered for stateful reconnect (Ping, Ack, Sequence, Close). */
  private writeMessage(msg: HubMessage): void {
    if (this.codec) this.writeRaw(this.codec.encode(msg));
  }

  private writeRaw(record: WireRecord): void {
    if (this.sink) this.outbox.push(record);
  }

  private flush(checkLimit = true): void {
    const frame = this.outbox.take();
    if (frame === null || !this.sink) return;
    this.lastSentAt = Date.now();
    this.sink.write(frame);
    if (checkLimit) this.checkOutboundLimit();
  }

  /** Bytes queued towards this client and not yet handed to the OS. */
  queuedBytes(): number {
    return this.outbox.bytes + (this.sink?.bufferedBytes() ?? 0);
  }

  /**
   * Resolves when this client's queue is below the high-water mark, or after a short bound when it
   * lags (slow-member.ts); undefined if nobody needs to wait. Senders to this client await it: the
   * hub's end-to-end backpressure, which a client that stopped reading cannot turn into a stall.
   */
  whenWritable(): Promise<void> | undefined {
    if (this.state !== 'open') return undefined;
    return this.slow.whenWritable(Date.now());
  }

  /** Called by transports whenever they flushed something. */
  notifyDrained(): void {
    this.slow.drained();
  }

  private checkOutboundLimit(): void {
    const queued = this.queuedBytes();
    if (queued > this.options.limits.outboundMaxBytes) {
      this.log.warn({ queued }, 'client does not read fast enough; closing it');
      this.destroy(new RtcAgentError(ErrorCode.SLOW_CONSUMER, `more than ${this.options.limits.outboundMaxBytes} bytes queued for this client`));
    }
  }

  private sendAck(now: number): void {
    const id = this.replay?.takeAckDue();
    this.unackedInboundBytes = 0;
    this.lastAckAt = now;
    if (id !== undefined) this.writeMessage({ type: MessageType.Ack, sequenceId: id });
  }

  // ---------------------------------------------------------------- lifecycle

  /** Periodic checks, driven by the hub's one shared ticker. */
  tick(now: number): void {
    const o = this.options;
    switch (this.state) {
      case 'negotiated':
        if (now - this.createdAt > o.disconnectTimeoutMs) this.finish(undefined, { sendClose: false });
        return;
      case 'resumable':
        if (now - this.transportLostAt > o.disconnectTimeoutMs) this.finish(undefined, { sendClose: false });
        return;
      case 'closed':
        return;
      case 'open':
        break;
    }
    this.sink?.tick?.(now);
    if (this.state !== 'open') return;
    if (!this.handshakeDone) {
      if (now - this.createdAt > o.handshakeTimeoutMs) this.rejectHandshake('Handshake was canceled.');
      return;
    }
    if (this.slow.overdue(now)) {
      this.log.warn({ queued: this.queuedBytes() }, 'client has not caught up for too long; closing it');
      this.destroy(new RtcAgentError(ErrorCode.SLOW_CONSUMER, `did not read its messages for ${this.options.slowMemberCloseMs} ms`));
      return;
    }
    if (this.replay && now - this.lastAckAt >= ACK_INTERVAL_MS) this.sendAck(now);
    // Long polling has its own keep-alive (the poll itself), as in ASP.NET Core.
    if (this.transportName === 'LongPolling') return;
    if (now - this.lastSentAt >= o.keepAliveIntervalMs) {
      this.lastSentAt = now;
      this.writeMessage({ type: MessageType.Ping });
    }
    // Like ASP.NET Core, the client timeout runs once the client has shown it sends pings.
    if (this.firstPingSeen && now - this.lastReceivedAt > o.clientTimeoutMs) {
      this.log.debug('client timeout elapsed');
      this.destroy(new RtcAgentError(ErrorCode.TIMEOUT, `no message from the client for ${o.clientTimeoutMs} ms`));
    }
  }

  /**
   * Graceful close: sends a Close message (with the error, if any) and ends the transport.
   * Idempotent.
   */
  close(error?: RtcAgentError, allowReconnect = false): void {
    this.finish(error, { sendClose: true, allowReconnect });
  }

  /** Abrupt close: the transport is ended without waiting for anything else. Idempotent. */
  destroy(error: RtcAgentError): void {
    this.finish(error, { sendClose: true, allowReconnect: true });
  }

  get closedWith(): RtcAgentError | undefined {
    return this.closeError;
  }

  private finish(error: RtcAgentError | undefined, how: { sendClose: boolean; allowReconnect?: boolean } = { sendClose: true }): void {
    if (this.state === 'closed') return;
    const wasOpen = this.state === 'open';
    this.closeError = error;
    if (error) {
      this.events.error(this, error.code);
      this.log.debug({ code: error.code, reason: error.message }, 'closing connection');
    }
    if (how.sendClose && wasOpen && this.handshakeDone) {
      const close: HubMessage = { type: MessageType.Close };
      if (error) close.error = error.toWire();
      if (how.allowReconnect) close.allowReconnect = true;
      this.writeMessage(close);
    }
    this.flush(false);
    this.state = 'closed';
    this.inbox = [];
    this.slow.release();
    const sink = this.sink;
    this.sink = null;
    sink?.end();
    this.events.closed(this, error);
  }
}
