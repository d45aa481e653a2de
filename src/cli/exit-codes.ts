import { ErrorCode, RtcAgentError } from '../errors.js';

/** Exit codes of every command; the README's "Exit codes" table mirrors this. */
export const ExitCode = {
  OK: 0,
  /** A runtime failure not covered below. */
  FAILURE: 1,
  /** Bad flags, bad config, a bad argument (missing file, bad room name): the command did not start. */
  USAGE: 2,
  /** The hub could not be reached. */
  HUB_UNREACHABLE: 3,
  /** The hub refused the token (401/403) or the room (forbidden). */
  AUTH_REFUSED: 4,
  /** Peers did not find each other through the hub in time (smoke), or too few came (--wait-peers). */
  SIGNALING_TIMEOUT: 5,
  /** Peers met but could not open P2P links (when P2P was required). */
  P2P_FAILED: 6,
  /** Not everything sent was acknowledged by the peers it was for (smoke: lost, duplicated or reordered). */
  DELIVERY_LOSS: 7,
  /** A daemon client (send, peers, status, events, stop) found no daemon at the control address. */
  DAEMON_NOT_RUNNING: 8,
  /** A peer refused what was sent (wrong room secret, plaintext into E2EE, file refused). */
  REFUSED: 9,
  /** Ended by a first SIGINT before the job was done (128 + 2); a second one ends at once with it too. */
  INTERRUPTED: 130,
  /** Likewise for SIGTERM (128 + 15). */
  TERMINATED: 143,
  /** The reader of stdout went away (EPIPE) before the job was done, as a shell reports SIGPIPE (128 + 13). */
  OUTPUT_CLOSED: 141,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** What ends a command from outside: a signal, or the reader of stdout going away (EPIPE). */
export type StopReason = 'SIGINT' | 'SIGTERM' | 'EPIPE';

/** The exit code of a command a stop ended before its job was done: 128 + the signal's number. */
export function stopExitCode(reason: StopReason): ExitCode {
  if (reason === 'SIGINT') return ExitCode.INTERRUPTED;
  if (reason === 'SIGTERM') return ExitCode.TERMINATED;
  return ExitCode.OUTPUT_CLOSED;
}

/** The exit code for an error that ended a command. */
export function exitCodeForError(err: unknown): ExitCode {
  if (!(err instanceof RtcAgentError)) return ExitCode.FAILURE;
  switch (err.code) {
    case ErrorCode.CONFIG:
    case ErrorCode.INVALID_ROOM_NAME:
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

/**
 * A command ended with a specific exit code and one plain line saying why (no error code prefix):
 * "bob refused 2 messages: it uses a different room secret", "only 0 of 1 peers joined …".
 */
export class CommandFailed extends Error {
  override readonly name = 'CommandFailed';
  constructor(
    readonly exitCode: ExitCode,
    message: string,
  ) {
    super(message);
  }
}
