/**
 * One logical SignalR connection: handshake, record framing, ordered processing of inbound
 * messages, coalesced outbound writes, keep-alive and timeouts, and stateful reconnect. It knows
 * nothing about rooms; hub methods arrive through {@link ConnectionEvents.invocation}.
 */
import { randomBytes } from 'node:crypto';
import { ErrorCode, RtcAgentError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import {
  MessageType,
  isTrackable,
  isUnknownMessage,
  parseHandshakeRequest,
  parseHubMessage,
  type HubMessage,
  type InvocationMessage,
  type StreamInvocationMessage,
} from '../protocol/signalr/hub-messages.js';
import { RECORD_SEPARATOR, splitRecords, writeRecord } from '../protocol/signalr/text-format.js';
import type { AuthUser } from './auth.js';
import type { ResolvedHubOptions, TransportName } from './options.js';
import { ReplayBuffer } from './replay-buffer.js';

/** What a transport (WebSocket, SSE stream, long-poll queue) offers the connection. */
export interface TransportSink {
  readonly name: TransportName;
  /** Hands one frame (one or more records) to the transport. */
  write(frame: string): void;
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
}

export type ConnectionState = 'negotiated' | 'open' | 'resumable' | 'closed';

/**
 * An inbound record over the message limit, kept in the inbox so it is answered, counted for
 * stateful reconnect and struck in order with the messages around it.
 */
interface OversizeRecord {
  /** The record's message type, or -1 when it is not a JSON object with an integer type. */
  type: number;
  /** Set for an Invocation / StreamInvocation that expects an answer. */
  invocationId: string | undefined;
  error: RtcAgentError;
}

/** A record that failed to parse: the connection closes when processing reaches it, not before. */
interface MalformedRecord {
  type: -1;
  malformed: RtcAgentError;
}

type InboxItem = HubMessage | OversizeRecord | MalformedRecord;

function isOversize(item: InboxItem): item is OversizeRecord {
  return 'error' in item && item.error instanceof RtcAgentError;
}

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
  private inboundText = '';
  /** A malformed record is queued: ignore further input, the connection is about to close. */
  private inputRejected = false;
  private inbox: InboxItem[] = [];
  private processing: Promise<void> | null = null;
  private outbox: string[] = [];
  private outboxBytes = 0;
  private flushScheduled = false;
  private writableWaiters: (() => void)[] = [];
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
      this.writeRaw(writeRecord(JSON.stringify({ type: MessageType.Sequence, sequenceId: this.replay.resendStart() })));
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
    this.outbox = [];
    this.outboxBytes = 0;
    this.inboundText = '';
    if (this.replay && !this.replay.overflowed && this.handshakeDone) {
      this.state = 'resumable';
      this.transportLostAt = now;
      this.replay.transportLost();
      this.log.debug('transport lost; keeping the connection for stateful reconnect');
      this.releaseWriters();
      return;
    }
    this.finish(undefined);
  }

  // ---------------------------------------------------------------- inbound

  /**
   * Feeds text from the transport. Returns a promise when processing has to wait (a hub method
   * applying backpressure), so the transport can stop reading; undefined when everything is done.
   */
  receive(text: string, now: number): Promise<void> | undefined {
    if (this.state === 'closed' || this.inputRejected) return this.processing ?? undefined;
    this.lastReceivedAt = now;
    const limit = this.options.limits.maxMessageBytes;
    this.inboundText += text;
    if (!this.handshakeDone) {
      const end = this.inboundText.indexOf(RECORD_SEPARATOR);
      if (end === -1) {
        if (this.inboundText.length > limit) {
          this.rejectHandshake('handshake request is too large or has no record separator');
        }
        return undefined;
      }
      const record = this.inboundText.slice(0, end);
      this.inboundText = this.inboundText.slice(end + 1);
      if (!this.completeHandshake(record)) return undefined;
    }
    const { records, rest } = splitRecords(this.inboundText);
    this.inboundText = rest;
    for (const record of records) {
      if (record.length === 0) continue;
      this.unackedInboundBytes += record.length;
      // The limit is in UTF-8 bytes; a UTF-16 code unit takes at most 3, so short records skip the count.
      if (record.length * 3 > limit && Buffer.byteLength(record) > limit) {
        this.inbox.push(oversizeRecord(record, limit));
        continue;
      }
      let msg;
      try {
        msg = parseHubMessage(record);
      } catch (err) {
        // A malformed message means both sides disagree on the protocol; ASP.NET closes too. The
        // messages before it are still handled, in order; nothing after it is.
        this.inbox.push({ type: -1, malformed: err as RtcAgentError });
        this.inputRejected = true;
        this.inboundText = '';
        break;
      }
      if (isUnknownMessage(msg)) continue;
      this.inbox.push(msg);
    }
    if (!this.inputRejected && rest.length > limit) {
      // An unfinished record already past the limit: close once the complete ones before it are handled.
      this.inbox.push({ type: -1, malformed: new RtcAgentError(ErrorCode.MESSAGE_TOO_LARGE, `a message is larger than the ${limit}-byte limit`) });
      this.inputRejected = true;
      this.inboundText = '';
    }
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

  private completeHandshake(record: string): boolean {
    let request;
    try {
      request = parseHandshakeRequest(record);
    } catch (err) {
      this.rejectHandshake((err as RtcAgentError).message);
      return false;
    }
    if (request.protocol !== 'json') {
      this.rejectHandshake(`The protocol '${request.protocol}' is not supported.`);
      return false;
    }
    if (request.version !== 1 && request.version !== 2) {
      this.rejectHandshake(`The server does not support version ${request.version} of the '${request.protocol}' protocol.`);
      return false;
    }
    this.protocolVersion = request.version;
    // Stateful reconnect needs all three: asked for in negotiate, WebSockets, handshake version 2.
    if (this.statefulRequested && this.transportName === 'WebSockets' && this.protocolVersion >= 2) {
      this.replay = new ReplayBuffer(this.options.limits.reconnectBufferBytes);
    }
    this.handshakeDone = true;
    this.writeRaw(writeRecord('{}'));
    this.events.handshake(this);
    return true;
  }

  private rejectHandshake(reason: string): void {
    this.log.debug({ reason }, 'handshake rejected');
    this.events.error(this, ErrorCode.HANDSHAKE);
    this.writeRaw(writeRecord(JSON.stringify({ error: reason })));
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
    if (this.state === 'closed') return;
    const record = writeRecord(JSON.stringify(msg));
    if (this.replay && isTrackable(msg.type)) this.replay.recordSent(record);
    if (this.sink) this.writeRaw(record);
  }

  /**
   * Sends an Invocation record serialised once by the caller: a broadcast to 50 members then costs
   * one JSON.stringify, not 50. `record` must be a complete record (JSON + separator) of type 1.
   */
  sendInvocationRecord(record: string): void {
    if (this.state === 'closed') return;
    if (this.replay) this.replay.recordSent(record);
    if (this.sink) this.writeRaw(record);
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

  private writeRaw(record: string): void {
    if (!this.sink) return;
    this.outbox.push(record);
    this.outboxBytes += record.length;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // Coalesce everything produced in this turn into one frame: far fewer syscalls under load,
      // and the client splits records on 0x1E anyway.
      queueMicrotask(() => this.flush());
    }
  }

  private flush(checkLimit = true): void {
    this.flushScheduled = false;
    if (this.outbox.length === 0 || !this.sink) return;
    const frame = this.outbox.length === 1 ? (this.outbox[0] as string) : this.outbox.join('');
    this.outbox = [];
    this.outboxBytes = 0;
    this.lastSentAt = Date.now();
    this.sink.write(frame);
    if (checkLimit) this.checkOutboundLimit();
  }

  /** Bytes queued towards this client and not yet handed to the OS. */
  queuedBytes(): number {
    return this.outboxBytes + (this.sink?.bufferedBytes() ?? 0);
  }

  /**
   * Resolves when this client's queue is below the high-water mark; undefined if it already is.
   * Senders to this client await it: the hub's end-to-end backpressure.
   */
  whenWritable(): Promise<void> | undefined {
    if (this.state !== 'open' || this.queuedBytes() < this.options.limits.outboundHighWaterBytes) return undefined;
    return new Promise((resolve) => this.writableWaiters.push(resolve));
  }

  /** Called by transports whenever they flushed something. */
  notifyDrained(): void {
    if (this.writableWaiters.length === 0) return;
    if (this.state !== 'open' || this.queuedBytes() < this.options.limits.outboundHighWaterBytes) this.releaseWriters();
  }

  private releaseWriters(): void {
    const waiters = this.writableWaiters;
    this.writableWaiters = [];
    for (const resolve of waiters) resolve();
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
    if (id !== undefined) this.writeRaw(writeRecord(JSON.stringify({ type: MessageType.Ack, sequenceId: id })));
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
    if (this.replay && now - this.lastAckAt >= ACK_INTERVAL_MS) this.sendAck(now);
    // Long polling has its own keep-alive (the poll itself), as in ASP.NET Core.
    if (this.transportName === 'LongPolling') return;
    if (now - this.lastSentAt >= o.keepAliveIntervalMs) {
      this.lastSentAt = now;
      this.writeRaw(writeRecord(JSON.stringify({ type: MessageType.Ping })));
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
      this.writeRaw(writeRecord(JSON.stringify(close)));
    }
    this.flush(false);
    this.state = 'closed';
    this.inbox = [];
    this.releaseWriters();
    const sink = this.sink;
    this.sink = null;
    sink?.end();
    this.events.closed(this, error);
  }
}

/**
 * Describes an oversize record. It is parsed in full to find its type and top-level invocationId:
 * the official client writes `invocationId` after `arguments`, so no prefix of the record has it.
 * The record is bounded by the transport's frame limit (a few times the message limit).
 */
function oversizeRecord(record: string, limit: number): OversizeRecord {
  const error = new RtcAgentError(ErrorCode.MESSAGE_TOO_LARGE, `message of ${Buffer.byteLength(record)} bytes exceeds the ${limit}-byte limit`);
  let value: unknown;
  try {
    value = JSON.parse(record);
  } catch {
    return { type: -1, invocationId: undefined, error };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { type: -1, invocationId: undefined, error };
  const obj = value as Record<string, unknown>;
  const type = typeof obj.type === 'number' && Number.isInteger(obj.type) ? obj.type : -1;
  const answerable = type === MessageType.Invocation || type === MessageType.StreamInvocation;
  const invocationId = answerable && typeof obj.invocationId === 'string' ? obj.invocationId : undefined;
  return { type, invocationId, error };
}
