import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

export const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface CreateLoggerOptions {
  level?: LevelWithSilent;
  /** Pretty, human-readable output (pino-pretty). Defaults to "stderr is a terminal". */
  pretty?: boolean;
  /** Where log lines go; stderr by default so stdout stays clean for URLs and data. */
  fd?: number;
}

/**
 * Makes the root logger. Called once, at a composition root (the CLI, a test, a program using
 * the library); everything below receives it or a child of it and never creates its own.
 */
export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  const fd = options.fd ?? 2;
  const pretty = options.pretty ?? Boolean(process.stderr.isTTY);
  if (pretty) {
    return pino({
      level,
      transport: { target: 'pino-pretty', options: { destination: fd, colorize: true, translateTime: 'SYS:HH:MM:ss.l' } },
    });
  }
  return pino({ level }, pino.destination({ fd, sync: true }));
}

/** A logger that drops everything: the default for library users who pass none. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

export function isLogLevel(value: string): value is LevelWithSilent {
  return (LOG_LEVELS as readonly string[]).includes(value);
}
