/**
 * Turns SignalR invocations into hub method calls and sends exactly one Completion for every
 * invocation that has an id (result or error), never one for fire-and-forget sends.
 */
import { ErrorCode, RtcAgentError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { MessageType, type InvocationMessage, type StreamInvocationMessage } from '../protocol/signalr/hub-messages.js';
import type { HubMetrics } from './metrics.js';
import type { HubLimits } from './options.js';
import type { HubMethodHandler } from './room-methods.js';
import type { Session } from './session.js';

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
]);

export class InvocationDispatcher {
  constructor(
    private readonly methods: Map<string, HubMethodHandler>,
    private readonly limits: HubLimits,
    private readonly metrics: HubMetrics,
    private readonly log: Logger,
  ) {}

  dispatch(session: Session, msg: InvocationMessage | StreamInvocationMessage): void | Promise<void> {
    const now = Date.now();
    const id = msg.invocationId;
    if (!session.withinRate(now)) {
      this.fail(session, id, new RtcAgentError(ErrorCode.RATE_LIMITED, `more than ${this.limits.messagesPerSecond} messages per second (burst ${this.limits.messageBurst}); slow down`), now);
      return;
    }
    if (msg.type === MessageType.StreamInvocation || (msg.streamIds !== undefined && msg.streamIds.length > 0)) {
      this.fail(session, id, new RtcAgentError(ErrorCode.BAD_REQUEST, `streaming is not supported ('${msg.target.slice(0, 64)}')`), now);
      return;
    }
    const handler = this.methods.get(msg.target.toLowerCase());
    if (!handler) {
      // ASP.NET Core's wording, behind our stable code.
      this.fail(session, id, new RtcAgentError(ErrorCode.UNKNOWN_METHOD, `Unknown hub method '${msg.target.slice(0, 64)}'`), now);
      return;
    }
    let result: unknown;
    try {
      result = handler(session, msg.arguments);
    } catch (err) {
      this.fail(session, id, err, now);
      return;
    }
    if (result instanceof Promise) {
      return result.then(
        (value: unknown) => this.complete(session, id, value),
        (err: unknown) => this.fail(session, id, err, Date.now()),
      );
    }
    this.complete(session, id, result);
  }

  private complete(session: Session, id: string | undefined, value: unknown): void {
    if (id !== undefined) session.conn.sendCompletion(id, value === undefined ? undefined : value);
  }

  private fail(session: Session, id: string | undefined, err: unknown, now: number): void {
    let error: RtcAgentError;
    if (err instanceof RtcAgentError) {
      error = err;
    } else {
      // Never leak internals to clients; the log has the stack.
      this.log.error({ err }, 'hub method threw');
      error = new RtcAgentError(ErrorCode.INTERNAL, 'internal error in the hub');
    }
    this.metrics.errors.inc({ code: error.code });
    if (id !== undefined) session.conn.sendCompletionError(id, error);
    else session.conn.log.debug({ code: error.code, reason: error.message }, 'fire-and-forget message rejected');
    if (CLIENT_FAULTS.has(error.code)) session.strike(now, error);
  }
}
