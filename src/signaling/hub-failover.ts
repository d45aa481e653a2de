/**
 * The pure half of hub failover: which hub each reconnect attempt goes to, when it starts, and the
 * error that names every hub when none answers. The loops that do the I/O, for both signalling
 * clients, are in failover-loop.ts.
 */
import { ErrorCode, RtcAgentError } from '../errors.js';

/** Longest pause between two hub reconnect attempts. */
export const MAX_RECONNECT_DELAY_MS = 30_000;

/**
 * Attempts on the hub that was lost before the others are tried: one. A hub that is up (a network
 * blip, an expired token's close, a restart already done) takes the connection back at once and
 * keeps it where it was; a hub that refuses once is dead or restarting, and another hub serving
 * the same rooms answers sooner than it comes back.
 */
export const SAME_HUB_ATTEMPTS = 1;

/**
 * The hub (an index into the list) of reconnect attempt `attempt`, counted from 0 over every hub
 * since the connection to hub `lost` was lost: the lost hub first, then the next ones in list
 * order, cycling (the lost hub included: it may be back).
 */
export function hubForAttempt(attempt: number, lost: number, hubCount: number): number {
  if (attempt < SAME_HUB_ATTEMPTS) return lost;
  return (lost + 1 + (attempt - SAME_HUB_ATTEMPTS)) % hubCount;
}

/**
 * Delay before reconnect attempt `attempt` (counted as in {@link hubForAttempt}). The first round
 * goes at once, since another hub is likely up; after it, exponential backoff from `baseMs`,
 * capped at {@link MAX_RECONNECT_DELAY_MS}, with ±20 % jitter so agents dropped together do not
 * come back together. With one hub: at once, then base, 2×base, 4×base…
 */
export function reconnectDelayMs(attempt: number, hubCount: number, baseMs: number, random: () => number = Math.random): number {
  if (attempt < hubCount) return 0;
  const delay = Math.min(MAX_RECONNECT_DELAY_MS, baseMs * 2 ** (attempt - hubCount));
  return Math.round(delay * (0.8 + random() * 0.4));
}

/** One hub that did not take the connection, and why. */
export interface HubFailure {
  url: string;
  error: RtcAgentError;
}

/**
 * The error of a connect that no hub accepted. One hub: its own error, as it always was. Several:
 * one error naming every hub and why each failed, with the code they share (all refused the token:
 * UNAUTHORIZED) or else HUB_UNREACHABLE; `details.hubs` lists them for programs.
 */
export function noHubAccepted(failures: readonly HubFailure[]): RtcAgentError {
  const [first] = failures;
  if (first === undefined) return new RtcAgentError(ErrorCode.HUB_UNREACHABLE, 'no hub URL to connect to');
  if (failures.length === 1) return first.error;
  const codes = new Set(failures.map((f) => f.error.code));
  const code = codes.size === 1 ? first.error.code : ErrorCode.HUB_UNREACHABLE;
  const each = failures.map((f, i) => `(${i + 1}) ${f.error.message.includes(f.url) ? '' : `${f.url}: `}${f.error.toWire()}`);
  return new RtcAgentError(code, `none of ${failures.length} hubs accepted the connection: ${each.join('; ')}`, {
    cause: first.error,
    details: { hubs: failures.map((f) => ({ url: f.url, code: f.error.code, reason: f.error.message })) },
  });
}
