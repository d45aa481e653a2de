/**
 * Callers waiting for "something may have changed" (an ack, a drained buffer, a new path): each
 * wait() resolves on the next wake() or once its timeout passed, whichever comes first.
 *
 * A sender at full window waits once per message, so a timer per wait (set, then cleared by the
 * wake a few hundred µs later) was a measurable part of every message's cost. One timer serves
 * every waiter instead, armed for the earliest deadline; a wake leaves it armed (unref'd: it
 * keeps no process alive) and it re-arms itself for whoever still waits when it fires.
 * {@link dispose} clears it.
 */
import { unref } from './timers.js';

interface Waiter {
  resolve: () => void;
  deadline: number;
}

export class Waiters {
  private waiting: Waiter[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private timerAt = Number.POSITIVE_INFINITY;

  /** Resolves on the next wake(), or after `timeoutMs`. */
  wait(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const deadline = Date.now() + timeoutMs;
      this.waiting.push({ resolve, deadline });
      if (deadline < this.timerAt) this.arm(deadline);
    });
  }

  wake(): void {
    if (this.waiting.length === 0) return;
    const woken = this.waiting;
    this.waiting = [];
    for (const w of woken) w.resolve();
  }

  get size(): number {
    return this.waiting.length;
  }

  /** Wakes everyone and clears the timer (the owner closed). Idempotent. */
  dispose(): void {
    this.wake();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Number.POSITIVE_INFINITY;
  }

  private arm(at: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.expire(), Math.max(0, at - Date.now()));
    unref(this.timer);
  }

  private expire(): void {
    this.timer = null;
    this.timerAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    const left: Waiter[] = [];
    let next = Number.POSITIVE_INFINITY;
    for (const w of this.waiting) {
      if (w.deadline <= now) w.resolve();
      else {
        left.push(w);
        next = Math.min(next, w.deadline);
      }
    }
    this.waiting = left;
    if (left.length > 0) this.arm(next);
  }
}
