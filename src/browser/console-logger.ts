/**
 * The engine's logger for browsers: lines on the page's console (devtools filters them by level),
 * each with its component bindings and fields as one object, so nothing is flattened into text.
 * Node uses pino instead; both satisfy {@link EngineLogger}.
 */
import type { EngineLogger, LogFn } from '../engine/log.js';

export type BrowserLogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent';

export const BROWSER_LOG_LEVELS: readonly BrowserLogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'silent'];

/** The console methods used; the page's `console` by default. */
export interface ConsoleLike {
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

const RANK: Record<BrowserLogLevel, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, silent: 100 };

export interface ConsoleLoggerOptions {
  level: BrowserLogLevel;
  console?: ConsoleLike;
  /** Put before every line (default `[rtc-agent]`). */
  prefix?: string;
}

/** A logger writing at `level` and above to the console. */
export function createConsoleLogger(options: ConsoleLoggerOptions): EngineLogger {
  const out = options.console ?? globalThis.console;
  return make(out, RANK[options.level], options.prefix ?? '[rtc-agent]', {});
}

function make(out: ConsoleLike, threshold: number, prefix: string, bindings: Record<string, unknown>): EngineLogger {
  const at = (level: Exclude<BrowserLogLevel, 'silent'>): LogFn => {
    if (RANK[level] < threshold) return () => undefined;
    const write = level === 'trace' || level === 'debug' ? out.debug : level === 'info' ? out.info : level === 'warn' ? out.warn : out.error;
    return ((objOrMsg: object | string, msg?: string): void => {
      const fields = typeof objOrMsg === 'string' ? bindings : { ...bindings, ...objOrMsg };
      const text = typeof objOrMsg === 'string' ? objOrMsg : (msg ?? '');
      if (Object.keys(fields).length === 0) write.call(out, `${prefix} ${text}`);
      else write.call(out, `${prefix} ${text}`, fields);
    }) as LogFn;
  };
  return {
    child: (more) => make(out, threshold, prefix, { ...bindings, ...more }),
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
  };
}
