import { InvalidArgumentError } from 'commander';
import { isLogLevel } from '../log/logger.js';

/** commander value parsers: each names the problem so `--port x` fails with a clear message. */
export function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError('must be a port number 0-65535 (0 picks a free port)');
  return n;
}

export function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n <= 0 || !Number.isSafeInteger(n)) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

export function parseLogLevel(value: string): string {
  if (!isLogLevel(value)) throw new InvalidArgumentError('must be one of fatal, error, warn, info, debug, trace, silent');
  return value;
}

export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
