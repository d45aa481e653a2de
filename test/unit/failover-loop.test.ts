/**
 * The connect and reconnect loops both signalling clients share (src/signaling/failover-loop.ts),
 * with fake servers: which server each attempt goes to, that an attempt that never answers is
 * given up on after its bound, what close() does to a loop, and the errors when nothing accepts.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode, RtcAgentError } from '../../src/errors.js';
import { silentEngineLogger } from '../../src/engine/log.js';
import { connectFirst, reconnectToAny, type FailoverClient } from '../../src/signaling/failover-loop.js';

type Behaviour = 'accept' | 'refuse' | 'silent';

/** Servers that accept, refuse at once, or never answer (until the attempt's signal aborts). */
function fakeClient(behaviours: Behaviour[]) {
  const close = new AbortController();
  const attempts: number[] = [];
  const discarded: string[] = [];
  let closing = false;
  const urls = behaviours.map((_, i) => `http://hub-${i}/hub`);
  const client: FailoverClient<string> = {
    urls,
    log: silentEngineLogger(),
    noun: 'hub',
    closeSignal: close.signal,
    closing: () => closing,
    start: (index, signal) => {
      attempts.push(index);
      const b = behaviours[index];
      if (b === 'accept') return Promise.resolve(`link-${index}`);
      if (b === 'refuse') return Promise.reject(new RtcAgentError(ErrorCode.HUB_UNREACHABLE, `hub ${urls[index]} refused`));
      return new Promise((_, reject) => signal.addEventListener('abort', () => reject(new RtcAgentError(ErrorCode.HUB_UNREACHABLE, `hub ${urls[index]}: no answer in time`)), { once: true }));
    },
    discard: (link) => discarded.push(link),
    classify: (err) => (err instanceof RtcAgentError ? err : new RtcAgentError(ErrorCode.HUB_UNREACHABLE, String(err))),
  };
  return {
    client,
    attempts,
    discarded,
    close: () => {
      closing = true;
      close.abort();
    },
  };
}

describe('connectFirst', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('takes the first server that accepts, in list order', async () => {
    const f = fakeClient(['refuse', 'accept', 'accept']);
    await expect(connectFirst(f.client, 10_000)).resolves.toBe('link-1');
    expect(f.attempts).toEqual([0, 1]);
  });

  it('gives a server that never answers its bound, then tries the next', async () => {
    vi.useFakeTimers();
    const f = fakeClient(['silent', 'accept']);
    const connected = connectFirst(f.client, 10_000);
    await vi.advanceTimersByTimeAsync(9_999);
    expect(f.attempts).toEqual([0]);
    await vi.advanceTimersByTimeAsync(1);
    await expect(connected).resolves.toBe('link-1');
    expect(vi.getTimerCount()).toBe(0);
  });

  it("bounds the last server by the caller's signal alone when there is one", async () => {
    vi.useFakeTimers();
    const f = fakeClient(['silent']);
    const caller = new AbortController();
    const connected = connectFirst(f.client, 10_000, caller.signal);
    const outcome = connected.catch((err: RtcAgentError) => err);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(f.attempts).toEqual([0]);
    caller.abort();
    expect(((await outcome) as RtcAgentError).code).toBe(ErrorCode.HUB_UNREACHABLE);
  });

  it('names every server and why when none accepts', async () => {
    const f = fakeClient(['refuse', 'refuse']);
    const err = (await connectFirst(f.client, 10_000).catch((e: unknown) => e)) as RtcAgentError;
    expect(err.code).toBe(ErrorCode.HUB_UNREACHABLE);
    expect(err.message).toContain('none of 2 hubs accepted the connection');
    expect(err.message).toContain('http://hub-0/hub');
    expect(err.message).toContain('http://hub-1/hub');
  });

  it('close() ends an attempt at once with CLOSED, and tries no other server', async () => {
    const f = fakeClient(['silent', 'accept']);
    const connected = connectFirst(f.client, 10_000).catch((e: unknown) => e);
    f.close();
    expect(((await connected) as RtcAgentError).code).toBe(ErrorCode.CLOSED);
    expect(f.attempts).toEqual([0]);
  });
});

describe('reconnectToAny', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const options = { maxAttempts: 6, intervalMs: 100, perAttemptMs: 10_000 };

  it('tries the lost server first, then the others in turn, and returns the first that accepts', async () => {
    const f = fakeClient(['refuse', 'refuse', 'accept']);
    const outcome = await reconnectToAny(f.client, { index: 1, url: f.client.urls[1]! }, options);
    expect(outcome).toEqual({ kind: 'connected', link: 'link-2' });
    expect(f.attempts).toEqual([1, 2]);
  });

  it('gives a silent server its bound and moves on', async () => {
    vi.useFakeTimers();
    const f = fakeClient(['refuse', 'silent', 'accept']);
    const outcome = reconnectToAny(f.client, { index: 0, url: f.client.urls[0]! }, options);
    // (The pauses before attempts 1 and 2 are 0 ms, which timers make 1 ms.)
    await vi.advanceTimersByTimeAsync(9_990);
    expect(f.attempts).toEqual([0, 1]);
    await vi.advanceTimersByTimeAsync(20);
    await expect(outcome).resolves.toEqual({ kind: 'connected', link: 'link-2' });
    expect(f.attempts).toEqual([0, 1, 2]);
  });

  it("reports the last attempt's failure once the attempts are spent", async () => {
    vi.useFakeTimers();
    const f = fakeClient(['refuse', 'refuse']);
    const outcome = reconnectToAny(f.client, { index: 0, url: f.client.urls[0]! }, { ...options, maxAttempts: 4 });
    await vi.advanceTimersByTimeAsync(1_000);
    const done = await outcome;
    expect(done.kind).toBe('failed');
    expect(f.attempts).toEqual([0, 1, 0, 1]);
    expect(done.kind === 'failed' && done.error.message).toBe('hub http://hub-1/hub refused');
  });

  it('with no attempt allowed, fails naming the lost server', async () => {
    const f = fakeClient(['accept']);
    const outcome = await reconnectToAny(f.client, { index: 0, url: f.client.urls[0]! }, { ...options, maxAttempts: 0 });
    expect(outcome.kind === 'failed' && outcome.error.message).toBe('lost hub http://hub-0/hub, and no reconnect attempt is allowed');
    expect(f.attempts).toEqual([]);
  });

  it('close() during the backoff pause ends the loop quietly', async () => {
    vi.useFakeTimers();
    const f = fakeClient(['refuse']);
    const outcome = reconnectToAny(f.client, { index: 0, url: f.client.urls[0]! }, options);
    await vi.advanceTimersByTimeAsync(0);
    expect(f.attempts).toEqual([0]);
    f.close();
    await expect(outcome).resolves.toEqual({ kind: 'closed' });
    expect(vi.getTimerCount()).toBe(0);
  });
});
