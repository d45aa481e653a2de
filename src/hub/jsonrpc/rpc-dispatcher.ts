/**
 * JSON-RPC 2.0 on one connection, as the spec says: every request with an `id` gets exactly one
 * response (result or error object), notifications get none (not even errors), a batch gets one
 * array of the responses its requests are owed (nothing at all when it held only notifications),
 * and input that is not JSON or not a request is answered with -32700 / -32600 and never closes
 * the connection by itself. Requests are handled in order, a batch's too, so a batch's `announce`
 * is done before the `offer` after it. Every rejection counts as a strike, as on SignalR.
 */
import { ErrorCode, RtcAgentError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import {
  JsonRpcErrorCode,
  expectsResponse,
  failure,
  parseFrame,
  success,
  toJsonRpcError,
  type JsonRpcErrorObject,
  type JsonRpcInbound,
  type JsonRpcResponse,
} from '../../protocol/jsonrpc/messages.js';
import type { HubMetrics } from '../metrics.js';
import type { HubLimits } from '../options.js';
import type { RpcHandler } from './rpc-methods.js';
import type { RpcSession } from './rpc-session.js';

/**
 * Entries one batch may hold. Each is rate limited like a message of its own; the cap only stops
 * a single frame from making the hub queue thousands of responses (the spec sets no limit).
 */
export const DEFAULT_MAX_BATCH_ENTRIES = 100;

/** Codes that mean "the client did something wrong"; they count as strikes towards a close. */
const CLIENT_FAULTS = new Set<string>([
  ErrorCode.BAD_REQUEST,
  ErrorCode.INVALID_ROOM_NAME,
  ErrorCode.NOT_IN_ROOM,
  ErrorCode.PEER_NOT_IN_ROOM,
  ErrorCode.UNKNOWN_METHOD,
  ErrorCode.RATE_LIMITED,
  ErrorCode.MESSAGE_TOO_LARGE,
  ErrorCode.FORBIDDEN,
  ErrorCode.PROTOCOL,
]);

function protocolError(code: number, message: string): JsonRpcErrorObject {
  return { code, message, data: { code: ErrorCode.PROTOCOL } };
}

export class RpcDispatcher {
  constructor(
    private readonly methods: Map<string, RpcHandler>,
    private readonly limits: HubLimits,
    private readonly metrics: HubMetrics,
    private readonly log: Logger,
    private readonly maxBatchEntries = DEFAULT_MAX_BATCH_ENTRIES,
  ) {}

  /** Handles one text frame; a promise when a method is still running (the session holds the next frame). */
  handleFrame(session: RpcSession, text: string): Promise<void> | undefined {
    const now = Date.now();
    const oversize = text.length * 3 > this.limits.maxMessageBytes && Buffer.byteLength(text) > this.limits.maxMessageBytes;
    const frame = parseFrame(text);
    switch (frame.kind) {
      case 'parse-error':
        this.refuse(session, now, ErrorCode.PROTOCOL);
        session.sendMessage(failure(null, protocolError(JsonRpcErrorCode.ParseError, `Parse error: ${frame.why}`)));
        return undefined;
      case 'empty-batch':
        this.refuse(session, now, ErrorCode.PROTOCOL);
        session.sendMessage(failure(null, protocolError(JsonRpcErrorCode.InvalidRequest, 'Invalid Request: an empty batch')));
        return undefined;
      case 'single': {
        const pending = this.entry(session, frame.entry, oversize, now);
        if (!(pending instanceof Promise)) {
          if (pending) session.sendMessage(pending);
          return undefined;
        }
        return pending.then((response) => {
          if (response) session.sendMessage(response);
        });
      }
      case 'batch': {
        if (frame.entries.length > this.maxBatchEntries) {
          this.refuse(session, now, ErrorCode.PROTOCOL);
          session.sendMessage(failure(null, protocolError(JsonRpcErrorCode.InvalidRequest, `Invalid Request: a batch of ${frame.entries.length} exceeds the hub's ${this.maxBatchEntries} entries`)));
          return undefined;
        }
        return this.batch(session, frame.entries, oversize ? JSON.parse(text) as unknown[] : undefined, now);
      }
    }
  }

  /** Runs a batch's entries in order and answers with one array, or nothing when no entry is owed a response. */
  private batch(session: RpcSession, entries: JsonRpcInbound[], raw: unknown[] | undefined, now: number): Promise<void> | undefined {
    const responses: JsonRpcResponse[] = [];
    const send = (): void => {
      if (responses.length > 0) session.sendMessage(responses);
    };
    for (let i = 0; i < entries.length; i++) {
      // In a frame over the message limit, each entry is measured on its own.
      const oversize = raw !== undefined && Buffer.byteLength(JSON.stringify(raw[i])) > this.limits.maxMessageBytes;
      const result = this.entry(session, entries[i] as JsonRpcInbound, oversize, now);
      if (result instanceof Promise) {
        return (async () => {
          const first = await result;
          if (first) responses.push(first);
          for (let j = i + 1; j < entries.length && session.open; j++) {
            const later = raw !== undefined && Buffer.byteLength(JSON.stringify(raw[j])) > this.limits.maxMessageBytes;
            const r = await this.entry(session, entries[j] as JsonRpcInbound, later, Date.now());
            if (r) responses.push(r);
          }
          send();
        })();
      }
      if (result) responses.push(result);
    }
    send();
    return undefined;
  }

  /** The response one entry is owed (undefined for a notification), or a promise of it. */
  private entry(session: RpcSession, entry: JsonRpcInbound, oversize: boolean, now: number): JsonRpcResponse | undefined | Promise<JsonRpcResponse | undefined> {
    if (entry.kind !== 'request') {
      // A response from the client answers nothing: the hub sends no requests.
      const why = entry.kind === 'invalid' ? entry.why : 'the hub sends no requests, so a response answers nothing';
      this.refuse(session, now, ErrorCode.PROTOCOL);
      return failure(entry.kind === 'invalid' ? entry.id : null, protocolError(JsonRpcErrorCode.InvalidRequest, `Invalid Request: ${why}`));
    }
    const request = entry.request;
    const id = expectsResponse(request) ? (request.id as string | number | null) : undefined;
    const fail = (err: unknown): JsonRpcResponse | undefined => this.fail(session, id, request.method, err);
    if (oversize) return fail(new RtcAgentError(ErrorCode.MESSAGE_TOO_LARGE, `a message is larger than the ${this.limits.maxMessageBytes}-byte limit`));
    if (!session.withinRate(now)) {
      return fail(new RtcAgentError(ErrorCode.RATE_LIMITED, `more than ${this.limits.messagesPerSecond} messages per second (burst ${this.limits.messageBurst}); slow down`));
    }
    const handler = this.methods.get(request.method);
    if (!handler) return fail(new RtcAgentError(ErrorCode.UNKNOWN_METHOD, `Method not found: '${request.method.slice(0, 64)}'`));
    let result: unknown;
    try {
      result = handler(session, request.params);
    } catch (err) {
      return fail(err);
    }
    if (result instanceof Promise) {
      return result.then(
        (value: unknown) => (id === undefined ? undefined : success(id, value)),
        (err: unknown) => fail(err),
      );
    }
    return id === undefined ? undefined : success(id, result);
  }

  private fail(session: RpcSession, id: string | number | null | undefined, method: string, err: unknown): JsonRpcResponse | undefined {
    let error: RtcAgentError;
    if (err instanceof RtcAgentError) {
      error = err;
    } else {
      // Never leak internals to clients; the log has the stack.
      this.log.error({ err, method }, 'JSON-RPC method threw');
      error = new RtcAgentError(ErrorCode.INTERNAL, 'internal error in the hub');
    }
    this.refuse(session, Date.now(), error.code, error);
    if (id === undefined) {
      session.log.debug({ method: method.slice(0, 64), code: error.code, reason: error.message }, 'notification rejected');
      return undefined;
    }
    return failure(id, toJsonRpcError(error));
  }

  /** Counts a rejection (metrics) and, for the client's own faults, a strike. */
  private refuse(session: RpcSession, now: number, code: string, error?: RtcAgentError): void {
    this.metrics.errors.inc({ code });
    if (CLIENT_FAULTS.has(code)) session.strike(now, error ?? new RtcAgentError(ErrorCode.PROTOCOL, 'malformed JSON-RPC input'));
  }
}
