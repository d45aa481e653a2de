import type { LevelWithSilent } from 'pino';
import type { Logger } from '../log/logger.js';
import { stopExitCode, type StopReason } from './exit-codes.js';

export type { StopReason } from './exit-codes.js';

/** What commands get from the composition root: streams, the logger factory, signal handling. */
export interface CliContext {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /**
   * The one root logger (made on first use, at the level the command asked for). Loads pino, so
   * commands call it only once they start real work: `--help` and local checks stay fast.
   */
  logger(level?: string): Promise<Logger>;
  /**
   * Resolves on the first SIGINT or SIGTERM (or an EPIPE on stdout); a second signal exits at once
   * with 128+n. A signal that arrives while nothing waits for one also exits at once with 128+n:
   * the command is in a phase with nothing to clean up.
   */
  untilSignal(): Promise<StopReason>;
  /** The stop that arrived, if any: lets a command tell "interrupted" from "finished". */
  readonly stopped: StopReason | undefined;
}

export function createCliContext(): CliContext {
  let root: Promise<Logger> | undefined;
  let stopped: StopReason | undefined;
  const waiters: ((reason: StopReason) => void)[] = [];

  const stop = (reason: StopReason): void => {
    if (stopped !== undefined) {
      // A second signal while closing means "now". A late EPIPE changes nothing.
      if (reason !== 'EPIPE') process.exit(stopExitCode(reason));
      return;
    }
    stopped = reason;
    if (waiters.length === 0) {
      // Nobody to clean up (help printed, a local check running): end now, quietly.
      process.exit(reason === 'EPIPE' ? Number(process.exitCode ?? 0) : stopExitCode(reason));
    }
    for (const w of waiters.splice(0)) w(reason);
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  // `rtc-agent --help | head -2`: the reader left; without a listener Node throws the EPIPE at us.
  const onStreamError = (err: NodeJS.ErrnoException): void => {
    if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') stop('EPIPE');
    else throw err;
  };
  process.stdout.on('error', onStreamError);
  // Nowhere left to report a broken stderr: drop what cannot be written.
  process.stderr.on('error', () => undefined);

  return {
    stdout: process.stdout,
    stderr: process.stderr,
    logger(level) {
      root ??= import('../log/logger.js').then(({ createLogger }) =>
        createLogger({ level: (level ?? process.env.RTC_AGENT_LOG_LEVEL ?? 'info') as LevelWithSilent }),
      );
      return root;
    },
    untilSignal() {
      if (stopped !== undefined) return Promise.resolve(stopped);
      return new Promise((resolve) => waiters.push(resolve));
    },
    get stopped() {
      return stopped;
    },
  };
}
