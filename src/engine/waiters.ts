/**
 * Callers waiting for "something may have changed" (an ack, a drained buffer, a new path): each
 * wait() resolves on the next wake() or after its timeout, whichever comes first, and leaves no
 * timer behind.
 */
export class Waiters {
  private waiting: (() => void)[] = [];

  /** Resolves on the next wake(), or after `timeoutMs`. */
  wait(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        const i = this.waiting.indexOf(done);
        if (i >= 0) this.waiting.splice(i, 1);
        resolve();
      }, timeoutMs);
      this.waiting.push(done);
    });
  }

  wake(): void {
    if (this.waiting.length === 0) return;
    for (const w of this.waiting.splice(0)) w();
  }

  get size(): number {
    return this.waiting.length;
  }
}
