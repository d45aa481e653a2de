import { ErrorCode, RtcAgentError } from '../errors.js';

/** Exit codes of every command; the README's "Exit codes" table mirrors this. */
export const ExitCode = {
  OK: 0,
  /** A runtime failure not covered below. */
  FAILURE: 1,
  /** Bad flags, bad config: the command did not start. */
  USAGE: 2,
  /** The hub could not be reached. */
  HUB_UNREACHABLE: 3,
  /** The hub refused the token (401/403) or the room (forbidden). */
  AUTH_REFUSED: 4,
  /** Peers did not find each other through the hub in time. */
  SIGNALING_TIMEOUT: 5,
  /** Peers met but could not open P2P links (when P2P was required). */
  P2P_FAILED: 6,
  /** Messages were lost, duplicated or reordered. */
  DELIVERY_LOSS: 7,
  /** A daemon client (send, peers, status, events, stop) found no daemon at the control address. */
  DAEMON_NOT_RUNNING: 8,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** The exit code for an error that ended a command. */
export function exitCodeForError(err: unknown): ExitCode {
  if (!(err instanceof RtcAgentError)) return ExitCode.FAILURE;
  switch (err.code) {
    case ErrorCode.CONFIG:
      return ExitCode.USAGE;
    case ErrorCode.HUB_UNREACHABLE:
      return ExitCode.HUB_UNREACHABLE;
    case ErrorCode.UNAUTHORIZED:
    case ErrorCode.FORBIDDEN:
      return ExitCode.AUTH_REFUSED;
    default:
      return ExitCode.FAILURE;
  }
}
