/**
 * The logger the engine writes to: the subset of pino's API it calls, so a pino logger (Node) or
 * a console-backed one (browsers) fits. The platform's composition root makes it; the engine only
 * makes children.
 */
export interface LogFn {
  (obj: object, msg?: string): void;
  (msg: string): void;
}

export interface EngineLogger {
  child(bindings: Record<string, unknown>): EngineLogger;
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

/** A logger that drops everything. */
export function silentEngineLogger(): EngineLogger {
  const drop = (): void => undefined;
  const log: EngineLogger = { child: () => log, trace: drop, debug: drop, info: drop, warn: drop, error: drop };
  return log;
}
