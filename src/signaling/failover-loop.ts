/**
 * The I/O half of hub failover, shared by both signalling clients (SignalR: hub-client.ts,
 * JSON-RPC: jsonrpc-client.ts): connecting to the first server of the list that accepts, and the
 * reconnect attempts after a drop, each attempt bounded. Which server and when is
 * hub-failover.ts's; what a connection is, is the client's (`start`).
 */
import { ErrorCode, RtcAgentError } from '../errors.js';
import type { EngineLogger } from '../engine/log.js';
import { deadline } from '../util/deadline.js';
import { delay } from './delay.js';
import { hubForAttempt, noHubAccepted, reconnectDelayMs, type HubFailure } from './hub-failover.js';

/** What the loops need from a client. */
export interface FailoverClient<L> {
  /** The servers, in the order they are tried. */
  readonly urls: readonly string[];
  readonly log: EngineLogger;
  /** How logs and errors name a server: 'hub', 'JSON-RPC server'. */
  readonly noun: string;
  /** Aborted by the client's close(): ends a pause or an attempt at once. */
  readonly closeSignal: AbortSignal;
  closing(): boolean;
  /** A started connection to server `index`, or a rejection; it must give up when `signal` aborts. */
  start(index: number, signal: AbortSignal): Promise<L>;
  /** A connection that started after close(): stopped, never used. */
  discard(link: L): void;
  /** Any rejection of `start` as the error users see (RTC_ERR_HUB_UNREACHABLE, UNAUTHORIZED…). */
  classify(err: unknown, url: string): RtcAgentError;
}

/**
 * Connects to the first server that accepts, in list order; throws the error naming every server
 * and why each failed. `signal` bounds the whole connect; each server but the last also gets at
 * most `perServerMs` (the last too when there is no `signal`), so one that never answers does not
 * use up the others' time.
 */
export async function connectFirst<L>(client: FailoverClient<L>, perServerMs: number, signal?: AbortSignal): Promise<L> {
  const { urls, log, noun } = client;
  const failures: HubFailure[] = [];
  for (let index = 0; index < urls.length; index++) {
    const last = index === urls.length - 1;
    const url = urls[index]!;
    const bound = deadline(last && signal ? undefined : perServerMs, client.closeSignal, signal);
    let link: L;
    try {
      link = await client.start(index, bound.signal);
    } catch (err) {
      if (client.closing()) throw new RtcAgentError(ErrorCode.CLOSED, `closed while connecting to the ${noun}`, { cause: err });
      const error = client.classify(err, url);
      failures.push({ url, error });
      if (signal?.aborted) break;
      if (!last) log.info({ hub: url, code: error.code, reason: error.message }, `${noun} did not accept the connection; trying the next`);
      continue;
    } finally {
      bound.dispose();
    }
    if (client.closing()) {
      client.discard(link);
      throw new RtcAgentError(ErrorCode.CLOSED, `closed while connecting to the ${noun}`);
    }
    return link;
  }
  throw noHubAccepted(failures);
}

export type ReconnectOutcome<L> =
  | { kind: 'connected'; link: L }
  /** close() was called meanwhile: nothing to report. */
  | { kind: 'closed' }
  /** Every attempt failed: the last one's error (or why none was allowed). */
  | { kind: 'failed'; error: RtcAgentError };

/**
 * Reconnect attempts after the connection to server `lostIndex` went away: the same server first,
 * then the others in turn, with backoff once every one was tried (hub-failover.ts), each attempt
 * bounded by `perAttemptMs`, until one accepts or `maxAttempts` (over all servers) are spent.
 */
export async function reconnectToAny<L>(client: FailoverClient<L>, lost: { index: number; url: string }, options: { maxAttempts: number; intervalMs: number; perAttemptMs: number }): Promise<ReconnectOutcome<L>> {
  const { urls, log, noun } = client;
  const max = options.maxAttempts;
  let lastFailure: RtcAgentError | undefined;
  try {
    for (let attempt = 0; attempt < max; attempt++) {
      const index = hubForAttempt(attempt, lost.index, urls.length);
      await delay(reconnectDelayMs(attempt, urls.length, options.intervalMs), client.closeSignal);
      const url = urls[index]!;
      log.debug({ hub: url, attempt: attempt + 1, of: max }, `reconnecting to ${noun}`);
      const bound = deadline(options.perAttemptMs, client.closeSignal);
      let link: L;
      try {
        link = await client.start(index, bound.signal);
      } catch (err) {
        if (client.closing()) return { kind: 'closed' };
        lastFailure = client.classify(err, url);
        log.info({ hub: url, attempt: attempt + 1, of: max, code: lastFailure.code, reason: lastFailure.message }, `${noun} reconnect attempt failed`);
        continue;
      } finally {
        bound.dispose();
      }
      if (client.closing()) {
        client.discard(link);
        return { kind: 'closed' };
      }
      return { kind: 'connected', link };
    }
  } catch (err) {
    // Only close() aborts the pause.
    if (client.closing()) return { kind: 'closed' };
    lastFailure = new RtcAgentError(ErrorCode.INTERNAL, `${noun} reconnect failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
  return { kind: 'failed', error: lastFailure ?? new RtcAgentError(ErrorCode.HUB_UNREACHABLE, `lost ${noun} ${lost.url}, and no reconnect attempt is allowed`) };
}
