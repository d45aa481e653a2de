/**
 * deadline(): the bound the hub clients put on a connect attempt. It must fire after a garbage
 * collection (Node 20's AbortSignal.any of a timeout may not: nodejs/node#57736), pass a parent's
 * abort on with its reason, and let go of everything on dispose().
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { deadline } from '../../src/util/deadline.js';

function aborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(signal.reason), { once: true }));
}

describe('deadline', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('still fires after garbage collections while nobody but its listener holds it', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const parent = new AbortController();
    // Only the promise's listener keeps the signal; the test holds no reference to the Deadline.
    const fired = aborted(deadline(300, parent.signal).signal);
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      gc();
    }
    const reason = (await fired) as DOMException;
    expect(reason.name).toBe('TimeoutError');
  });

  it("passes a parent's abort on with the parent's reason, and then stops its timer", async () => {
    vi.useFakeTimers();
    const parent = new AbortController();
    const d = deadline(1_000, undefined, parent.signal);
    parent.abort(new Error('closing'));
    expect(d.signal.aborted).toBe(true);
    expect((d.signal.reason as Error).message).toBe('closing');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('is aborted at once when a parent already is', () => {
    const parent = new AbortController();
    parent.abort('gone');
    expect(deadline(1_000, parent.signal).signal.reason).toBe('gone');
  });

  it('after dispose(), neither the timer nor a parent aborts it (dispose twice is harmless)', () => {
    vi.useFakeTimers();
    const parent = new AbortController();
    const d = deadline(1_000, parent.signal);
    d.dispose();
    d.dispose();
    expect(vi.getTimerCount()).toBe(0);
    parent.abort();
    vi.advanceTimersByTime(2_000);
    expect(d.signal.aborted).toBe(false);
  });

  it('without ms, only the parents bound it', () => {
    vi.useFakeTimers();
    const parent = new AbortController();
    const d = deadline(undefined, parent.signal);
    vi.advanceTimersByTime(3_600_000);
    expect(d.signal.aborted).toBe(false);
    parent.abort();
    expect(d.signal.aborted).toBe(true);
  });
});
