/**
 * The project's one error class. Every failure a user or a program can see carries a stable
 * `code` from {@link ErrorCode}; the README's "Error codes" table mirrors this list. Codes are
 * never reused for a different meaning.
 */

export const ErrorCode = {
  /** A setting (option, env var, flag or config file entry) is invalid. */
  CONFIG: 'RTC_ERR_CONFIG',
  /** Missing, invalid or expired token (HTTP 401 on negotiate/connect). */
  UNAUTHORIZED: 'RTC_ERR_UNAUTHORIZED',
  /** The token is valid but does not allow this (e.g. a room outside its `rooms` claim). */
  FORBIDDEN: 'RTC_ERR_FORBIDDEN',
  /** A hub method was called with missing or wrongly typed arguments. */
  BAD_REQUEST: 'RTC_ERR_BAD_REQUEST',
  /** A room name does not match the allowed pattern. */
  INVALID_ROOM_NAME: 'RTC_ERR_INVALID_ROOM_NAME',
  /** The caller used a room it has not joined. */
  NOT_IN_ROOM: 'RTC_ERR_NOT_IN_ROOM',
  /** `to` names a peer that is not a member of the room. */
  PEER_NOT_IN_ROOM: 'RTC_ERR_PEER_NOT_IN_ROOM',
  /** The room has reached its member limit. */
  ROOM_FULL: 'RTC_ERR_ROOM_FULL',
  /** The connection has joined as many rooms as it may. */
  TOO_MANY_ROOMS: 'RTC_ERR_TOO_MANY_ROOMS',
  /** A message is larger than the configured limit. */
  MESSAGE_TOO_LARGE: 'RTC_ERR_MESSAGE_TOO_LARGE',
  /** The connection sends faster than its configured rate. */
  RATE_LIMITED: 'RTC_ERR_RATE_LIMITED',
  /** The connection kept breaking limits and was closed. */
  ABUSE: 'RTC_ERR_ABUSE',
  /** A recipient could not keep up; its outbound queue overflowed and it was closed. */
  SLOW_CONSUMER: 'RTC_ERR_SLOW_CONSUMER',
  /** The invocation named a hub method that does not exist. */
  UNKNOWN_METHOD: 'RTC_ERR_UNKNOWN_METHOD',
  /** Malformed SignalR or JSON-RPC input: bad JSON, wrong field types, bad framing. */
  PROTOCOL: 'RTC_ERR_PROTOCOL',
  /** The SignalR handshake failed (unsupported protocol or version, or it timed out). */
  HANDSHAKE: 'RTC_ERR_HANDSHAKE',
  /** The client sent nothing for longer than the client timeout. */
  TIMEOUT: 'RTC_ERR_TIMEOUT',
  /** The hub is shutting down. */
  SHUTTING_DOWN: 'RTC_ERR_SHUTTING_DOWN',
  /** The operation was aborted through its AbortSignal. */
  ABORTED: 'RTC_ERR_ABORTED',
  /** The hub could not be reached (connection refused, DNS, timeout) or negotiate failed. */
  HUB_UNREACHABLE: 'RTC_ERR_HUB_UNREACHABLE',
  /** A send could not be accepted in time (no path to the peer, or its buffer stayed full). */
  SEND_TIMEOUT: 'RTC_ERR_SEND_TIMEOUT',
  /** The signaling server offers no relay (a JSON-RPC server without rtc-agent's extension): only P2P carries data. */
  RELAY_UNAVAILABLE: 'RTC_ERR_RELAY_UNAVAILABLE',
  /** More unacknowledged data for a peer than the resend buffer may hold. */
  BUFFER_FULL: 'RTC_ERR_BUFFER_FULL',
  /** `to` names a peer this room does not know. */
  UNKNOWN_PEER: 'RTC_ERR_UNKNOWN_PEER',
  /** The agent or room was closed. */
  CLOSED: 'RTC_ERR_CLOSED',
  /** node-datachannel could not be loaded (missing platform package, wrong ABI); links use the relay. */
  NATIVE_UNAVAILABLE: 'RTC_ERR_NATIVE_UNAVAILABLE',
  /** A native P2P link failed (PeerConnection creation, remote description, ICE/DTLS, send). */
  P2P_FAILED: 'RTC_ERR_P2P_FAILED',
  /** A send on a P2P link that is not open (still connecting, or closed). */
  LINK_NOT_OPEN: 'RTC_ERR_LINK_NOT_OPEN',
  /** A peer's E2EE public key (identity or session key) is malformed or unusable (e.g. a low-order point). */
  E2EE_BAD_PUBLIC_KEY: 'RTC_ERR_E2EE_BAD_PUBLIC_KEY',
  /** A sealed frame names a different recipient: it was meant for another peer (misrouted or redirected). */
  E2EE_WRONG_RECIPIENT: 'RTC_ERR_E2EE_WRONG_RECIPIENT',
  /** A sealed frame came from the right pair of keys but a different room secret (or none on one side). */
  E2EE_ROOM_SECRET_MISMATCH: 'RTC_ERR_E2EE_ROOM_SECRET_MISMATCH',
  /** A sealed frame was made with different public keys than this side knows: a substituted key (MITM?) or stale keys. */
  E2EE_KEY_MISMATCH: 'RTC_ERR_E2EE_KEY_MISMATCH',
  /** A sealed frame failed authentication: its ciphertext, tag or header was altered, or it is truncated. */
  E2EE_FORGED: 'RTC_ERR_E2EE_FORGED',
  /** A sealed frame was already received (or is too old to tell): a replay. */
  E2EE_REPLAY: 'RTC_ERR_E2EE_REPLAY',
  /** A peer sent an unencrypted frame while E2EE is required. */
  E2EE_PLAINTEXT: 'RTC_ERR_E2EE_PLAINTEXT',
  /** A known peer presented a different identity key than the one remembered for it (trust on first use). */
  IDENTITY_CHANGED: 'RTC_ERR_IDENTITY_CHANGED',
  /** An E2EE key file (identity or known peers) is malformed, owned by someone else, or has unsafe permissions. */
  KEY_FILE: 'RTC_ERR_KEY_FILE',
  /** A bug: something that should not happen did. */
  INTERNAL: 'RTC_ERR_INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const KNOWN_CODES = new Set<string>(Object.values(ErrorCode));

export interface RtcAgentErrorOptions {
  cause?: unknown;
  /** Extra machine-readable facts (e.g. the setting's name). Never secrets. */
  details?: Record<string, unknown>;
}

export class RtcAgentError extends Error {
  override readonly name = 'RtcAgentError';
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: RtcAgentErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
  }

  /**
   * The text sent to SignalR clients: `CODE: message`. Clients (and an ASP.NET Core hub that
   * wraps it in a HubException) keep the code findable with {@link parseErrorCode}.
   */
  toWire(): string {
    return `${this.code}: ${this.message}`;
  }
}

/** Finds a stable error code anywhere in a message (ASP.NET wraps hub errors in extra text). */
export function parseErrorCode(message: string): ErrorCode | undefined {
  const match = /RTC_ERR_[A-Z_]+/.exec(message);
  if (match && KNOWN_CODES.has(match[0])) return match[0] as ErrorCode;
  return undefined;
}

export function isRtcAgentError(err: unknown, code?: ErrorCode): err is RtcAgentError {
  return err instanceof RtcAgentError && (code === undefined || err.code === code);
}
