import { createLogger, type Logger } from '../log/logger.js';
import type { LevelWithSilent } from 'pino';

/** What commands get from the composition root: streams, the logger factory, signal handling. */
export interface CliContext {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** The one root logger (made on first use, at the level the command asked for). */
  logger(level?: string): Logger;
  /** Resolves on the first SIGINT or SIGTERM; a second one exits at once. */
  untilSignal(): Promise<NodeJS.Signals>;
}

export function createCliContext(): CliContext {
  let root: Logger | undefined;
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    logger(level) {
      root ??= createLogger({ level: (level ?? process.env.RTC_AGENT_LOG_LEVEL ?? 'info') as LevelWithSilent });
      return root;
    },
    untilSignal() {
      return new Promise((resolve) => {
        const onSignal = (signal: NodeJS.Signals): void => {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          // A second signal while closing means "now": exit with the conventional 128+n.
          const force = (s: NodeJS.Signals): void => process.exit(s === 'SIGINT' ? 130 : 143);
          process.once('SIGINT', force);
          process.once('SIGTERM', force);
          resolve(signal);
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
      });
    },
  };
}
