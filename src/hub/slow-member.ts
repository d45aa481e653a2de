/**
 * What the hub does about one recipient that reads slower than its senders send (issue 13: a
 * member that stops reading must not stop its room). The rules, per connection:
 *
 * 1. Below the high-water mark (1 MiB queued) everything is delivered and nobody waits.
 * 2. Above it, senders to this member wait for it to drain — end-to-end backpressure, so a bulk
 *    transfer to a live reader goes at the reader's pace and loses nothing — but for at most
 *    {@link DEFAULT_SLOW_MEMBER_WAIT_MS}. A member that has not drained by then is **lagging**.
 * 3. Nobody waits for a lagging member: its senders, and so the rest of its rooms, go on at full
 *    speed. Its relayed frames are still queued, up to {@link relayCapBytes}; past that they are
 *    dropped (counted), which the agents' end-to-end resend repairs for reliable data. Control
 *    messages (signals, joins, completions) are never dropped.
 * 4. A member that lagged is not waited for again for {@link DEFAULT_SLOW_MEMBER_PROBATION_MS}, so
 *    a reader that keeps falling behind costs its rooms one short wait, not one per refill.
 * 5. A member lagging without a break for {@link DEFAULT_SLOW_MEMBER_CLOSE_MS} is closed
 *    (RTC_ERR_SLOW_CONSUMER); anything that takes its queue past `outboundMaxBytes` closes it at once.
 *
 * So the hub holds at most `outboundMaxBytes` (16 MiB by default) for any one member.
 */

/**
 * Senders wait at most this for a recipient above the high-water mark. A reader that cannot take
 * one more frame within 50 ms is already a megabyte behind and reads slower than the room sends;
 * its room must not wait for it. Short enough that the one wait it costs the others stays well
 * inside the bound (their largest gap < 250 ms, p99 latency < 50 ms).
 */
export const DEFAULT_SLOW_MEMBER_WAIT_MS = 50;
/** After lagging, a member is not waited for again for this long (rule 4). */
export const DEFAULT_SLOW_MEMBER_PROBATION_MS = 10_000;
/**
 * A member lagging this long without a break is closed. As long as ASP.NET Core's and our old
 * slow-consumer wait, and a third of the client timeout: a laptop lid closed for a moment gets its
 * queue, one gone for good stops costing memory and its peers' resends within seconds.
 */
export const DEFAULT_SLOW_MEMBER_CLOSE_MS = 10_000;

export interface SlowMemberLimits {
  /** Senders wait above this (rule 2); a lagging member recovers below it. */
  highWaterBytes: number;
  /** Past this the member is closed (rule 5). */
  maxBytes: number;
  waitMs: number;
  probationMs: number;
  closeMs: number;
}

export interface SlowMemberHooks {
  /** Bytes queued towards the member and not yet handed to the OS. */
  queuedBytes(): number;
  /** The member started or stopped lagging. */
  changed(lagging: boolean): void;
}

/** Rule 3's cap: relayed frames stop below the close limit, leaving room for control messages. */
export function relayCapBytes(limits: Pick<SlowMemberLimits, 'highWaterBytes' | 'maxBytes'>): number {
  return Math.max(limits.highWaterBytes, limits.maxBytes - limits.highWaterBytes);
}

export class SlowMemberGuard {
  private laggingSince: number | undefined;
  private lastLaggedAt = -Infinity;
  private waiters: (() => void)[] = [];
  private deadline: ReturnType<typeof setTimeout> | null = null;
  private readonly relayCap: number;

  constructor(
    private readonly limits: SlowMemberLimits,
    private readonly hooks: SlowMemberHooks,
  ) {
    this.relayCap = relayCapBytes(limits);
  }

  get lagging(): boolean {
    return this.laggingSince !== undefined;
  }

  /** Whether a relayed frame of `size` bytes is queued (true) or dropped (rule 3). */
  admitsRelay(size: number): boolean {
    return !this.lagging || this.hooks.queuedBytes() + size <= this.relayCap;
  }

  /**
   * Resolves once the member's queue is below the high-water mark, or it turned out to be lagging;
   * undefined when nobody needs to wait (below the mark, lagging, or on probation).
   */
  whenWritable(now: number): Promise<void> | undefined {
    if (this.lagging || this.hooks.queuedBytes() < this.limits.highWaterBytes) return undefined;
    if (now - this.lastLaggedAt < this.limits.probationMs) {
      this.startLagging(now);
      return undefined;
    }
    this.deadline ??= setTimeout(() => this.expire(), this.limits.waitMs);
    // A hub with only slow members left must still be able to exit.
    this.deadline.unref?.();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The transport handed something to the OS. */
  drained(): void {
    if (this.hooks.queuedBytes() >= this.limits.highWaterBytes) return;
    if (this.lagging) {
      this.laggingSince = undefined;
      this.hooks.changed(false);
    }
    this.release();
  }

  /** True when the member lagged too long and must be closed (rule 5). */
  overdue(now: number): boolean {
    return this.laggingSince !== undefined && now - this.laggingSince >= this.limits.closeMs;
  }

  /** Releases every waiter (the connection closed or lost its transport). Idempotent. */
  release(): void {
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = null;
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }

  private expire(): void {
    this.deadline = null;
    if (this.hooks.queuedBytes() >= this.limits.highWaterBytes) this.startLagging(Date.now());
    this.release();
  }

  private startLagging(now: number): void {
    if (this.lagging) return;
    this.laggingSince = now;
    this.lastLaggedAt = now;
    this.hooks.changed(true);
  }
}
