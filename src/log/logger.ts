import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

export const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface CreateLoggerOptions {
  /** `warn` by default: a library says nothing unless something is wrong. */
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
  const level = options.level ?? 'warn';
  const fd = options.fd ?? 2;
  const color = colorWanted(fd === 2 ? Boolean(process.stderr.isTTY) : false);
  // FORCE_COLOR asks for colored (so human-readable) lines even through a pipe, e.g. into `less -R`.
  const pretty = options.pretty ?? (Boolean(process.stderr.isTTY) || (fd === 2 && forceColor() === true));
  if (pretty) {
    return pino({
      level,
      transport: { target: 'pino-pretty', options: { destination: fd, colorize: color, translateTime: 'SYS:HH:MM:ss.l' } },
    });
  }
  return pino({ level }, pino.destination({ fd, sync: true }));
}

/** FORCE_COLOR set: true (any value but 0/false), false (0/false), undefined when unset. */
function forceColor(env: NodeJS.ProcessEnv = process.env): boolean | undefined {
  const v = env.FORCE_COLOR;
  if (v === undefined) return undefined;
  return !['0', 'false'].includes(v.trim().toLowerCase());
}

/**
 * Whether output to a stream should be colored: NO_COLOR (any non-empty value, no-color.org) wins,
 * then FORCE_COLOR (`0`/`false` off, anything else on), else whether the stream is a terminal.
 */
export function colorWanted(isTerminal: boolean, env: NodeJS.ProcessEnv = process.env): boolean {
  if ((env.NO_COLOR ?? '') !== '') return false;
  return forceColor(env) ?? isTerminal;
}

/** A logger that drops everything: the default for library users who pass none. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

export function isLogLevel(value: string): value is LevelWithSilent {
  return (LOG_LEVELS as readonly string[]).includes(value);
}
