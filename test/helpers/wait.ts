/**
 * The suite's one polling helper. Tests wait for a condition (an event counted, a state reached, a
 * file written), never for time to pass; the timeout is only a failure guard, and the failure says
 * what was awaited. No vitest imports, so child-process fixtures can use it too.
 */

/**
 * Failure guard of {@link waitUntil}: generous, because several test runs share 2 cores and a
 * condition that holds in 50 ms on an idle machine can take seconds on a loaded one.
 */
export const DEFAULT_WAIT_TIMEOUT_MS = 10_000;
/** How often a condition is re-checked: short, since checks are cheap and waits end on the first hit. */
export const DEFAULT_WAIT_INTERVAL_MS = 10;

// Taken at load time, so waitUntil keeps real time even inside a test that fakes timers or Date.
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;
const realNow = performance.now.bind(performance);

export interface WaitOptions {
  /** What is awaited, for the failure message ("the daemon's token file to exist"). */
  what: string;
  /** Failure guard; {@link DEFAULT_WAIT_TIMEOUT_MS} by default. */
  timeoutMs?: number;
  /** Re-check period; {@link DEFAULT_WAIT_INTERVAL_MS} by default. */
  intervalMs?: number;
}

type Truthy<T> = Exclude<T, false | null | undefined | 0 | ''>;

/**
 * Re-checks `condition` until it returns a truthy value (or a promise of one) and resolves with
 * that value. A condition that throws ends the wait with its error (e.g. "the child exited first").
 * Fails after `timeoutMs` with `timed out after N ms waiting for <what> (last value: …)`.
 */
export async function waitUntil<T>(condition: () => T | Promise<T>, options: WaitOptions): Promise<Truthy<T>> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS;
  const intervalMs = options.intervalMs ?? DEFAULT_WAIT_INTERVAL_MS;
  const deadline = realNow() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value as Truthy<T>;
    if (realNow() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${options.what} (last value: ${describe(value)})`);
    }
    await new Promise((resolve) => realSetTimeout(resolve, intervalMs));
  }
}

function describe(value: unknown): string {
  try {
    return (JSON.stringify(value) ?? String(value)).slice(0, 300);
  } catch {
    return String(value);
  }
}

/**
 * Waits for `promise`, failing after `ms` with `<what>: not within N ms`: the failure guard for a
 * wait on one event (a process exit, a reply) rather than on a condition.
 */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = realSetTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)))]);
  } finally {
    realClearTimeout(timer);
  }
}
