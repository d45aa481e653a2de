/**
 * What a failed hub connection means, in words that say what to do: the SignalR client's errors
 * mapped to stable codes (404 with "did you mean …/hub?", 401/403, a port fetch() refuses).
 * Platform-neutral, like the client.
 */
import { ErrorCode, RtcAgentError, parseErrorCode } from '../errors.js';

/**
 * Ports fetch() refuses to connect to, in Node and in browsers alike (the Fetch standard's "bad
 * ports", https://fetch.spec.whatwg.org/#port-blocking): a hub there is unreachable for the SignalR
 * client whatever runs on it, and the client says only "fetch failed".
 */
export const FETCH_BLOCKED_PORTS: ReadonlySet<number> = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109, 110, 111, 113, 115, 117, 119,
  123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990,
  993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
]);

/** The port a hub URL connects to (its default for the scheme when none is written), or undefined for a bad URL. */
export function hubUrlPort(hubUrl: string): number | undefined {
  try {
    const u = new URL(hubUrl);
    return u.port !== '' ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
  } catch {
    return undefined;
  }
}

/** Why fetch() will never reach this hub URL (a blocked port), with the fix; undefined when it may. */
export function fetchBlockedReason(hubUrl: string): string | undefined {
  const port = hubUrlPort(hubUrl);
  if (port === undefined || !FETCH_BLOCKED_PORTS.has(port)) return undefined;
  return `port ${port} is one that fetch() (Node's and browsers') refuses to connect to, so no SignalR client can reach a hub there; run the hub on another port, e.g. rtc-agent hub --port 8080`;
}

/** "did you mean …/hub?" for a 404 from a URL that is not the hub's usual path. */
function notFoundHint(hubUrl: string): string {
  try {
    const u = new URL(hubUrl);
    if (u.pathname.replace(/\/+$/, '') === '/hub') return 'is an rtc-agent or SignalR hub running there, on this path?';
    return `did you mean ${u.origin}/hub?`;
  } catch {
    return 'is the path right?';
  }
}

/** Maps what the SignalR client throws to a stable code, with a message that says what to do. */
export function classifyHubError(err: unknown, hubUrl: string): RtcAgentError {
  if (err instanceof RtcAgentError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const code = parseErrorCode(message);
  if (code) return new RtcAgentError(code, message.slice(message.indexOf(code) + code.length + 2) || message, { cause: err });
  if (/\b401\b|Unauthorized/i.test(message)) {
    return new RtcAgentError(ErrorCode.UNAUTHORIZED, `hub ${hubUrl} refused the token (401)`, { cause: err });
  }
  if (/\b403\b|Forbidden/i.test(message)) {
    return new RtcAgentError(ErrorCode.FORBIDDEN, `hub ${hubUrl} refused the connection (403)`, { cause: err });
  }
  if (/Status code '404'/.test(message)) {
    return new RtcAgentError(ErrorCode.HUB_UNREACHABLE, `no hub at ${hubUrl} (HTTP 404): ${notFoundHint(hubUrl)}`, { cause: err, details: { status: 404 } });
  }
  const blocked = /fetch failed/.test(message) ? fetchBlockedReason(hubUrl) : undefined;
  if (blocked) return new RtcAgentError(ErrorCode.HUB_UNREACHABLE, `cannot reach hub ${hubUrl}: ${blocked}`, { cause: err, details: { blockedPort: true } });
  return new RtcAgentError(ErrorCode.HUB_UNREACHABLE, `cannot reach hub ${hubUrl}: ${message}`, { cause: err });
}

/** The handshake error of a hub without the MessagePack hub protocol (ASP.NET Core's words, and ours). */
export function refusesMessagePack(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  return /protocol 'messagepack' is not supported/i.test(message);
}
