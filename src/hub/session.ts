/**
 * A connection as the room methods see it: a {@link Caller} with memberships, rate limit and
 * strike count. One per {@link HubClientConnection}.
 */
import { ErrorCode, RtcAgentError } from '../errors.js';
import { randomPeerId } from '../protocol/peer-id.js';
import type { AuthUser } from './auth.js';
import type { HubClientConnection } from './connection.js';
import type { HubLimits } from './options.js';
import { StrikeCounter, TokenBucket } from './rate-limiter.js';
import type { Caller } from './room-methods.js';
import { SharedInvocation } from './shared-invocation.js';
import type { HubProtocolName } from './wire-codec.js';

export class Session implements Caller {
  readonly memberships = new Map<string, string>();
  readonly fallbackPeerId = randomPeerId();
  private readonly bucket: TokenBucket;
  private readonly strikes: StrikeCounter;

  constructor(
    readonly conn: HubClientConnection,
    private readonly limits: HubLimits,
    now: number,
  ) {
    this.bucket = new TokenBucket(limits.messagesPerSecond, limits.messageBurst, now);
    this.strikes = new StrikeCounter(limits.maxStrikes, limits.strikeWindowMs);
    // Oversize messages are rejected by the connection itself; they count as strikes all the same.
    conn.onClientFault = (error, at) => this.strike(at, error);
  }

  get connectionId(): string {
    return this.conn.connectionId;
  }

  get user(): AuthUser | null {
    return this.conn.user;
  }

  get protocol(): HubProtocolName | null {
    return this.conn.protocol;
  }

  sendInvocation(target: string, args: unknown[]): void {
    this.conn.sendInvocation(target, args);
  }

  sendInvocationRecord(record: string): void {
    this.sendShared(SharedInvocation.fromJsonRecord(record, undefined), false);
  }

  sendShared(invocation: SharedInvocation, droppable: boolean): boolean {
    return this.conn.sendShared(invocation, droppable);
  }

  whenWritable(): Promise<void> | undefined {
    return this.conn.whenWritable();
  }

  /** Takes a token from the rate limiter. */
  withinRate(now: number): boolean {
    return this.bucket.take(now);
  }

  /** Counts a rejected message; closes the connection when the client keeps misbehaving. */
  strike(now: number, last: RtcAgentError): void {
    if (this.strikes.add(now)) {
      this.conn.close(
        new RtcAgentError(
          ErrorCode.ABUSE,
          `closed after more than ${this.limits.maxStrikes} rejected messages in ${this.limits.strikeWindowMs} ms (last: ${last.code})`,
        ),
      );
    }
  }
}
