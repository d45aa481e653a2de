import { InvalidArgumentError } from 'commander';
import type { LevelWithSilent } from 'pino';
import { ROOM_NAME_PATTERN } from '../protocol/room-contract.js';

/**
 * pino's levels, listed here rather than imported from src/log: loading pino just to parse flags
 * would slow every command's start (`--help`, local checks); the type checks each entry is one of pino's.
 */
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const satisfies readonly LevelWithSilent[];

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
  if (!(LOG_LEVELS as readonly string[]).includes(value)) throw new InvalidArgumentError(`must be one of ${LOG_LEVELS.join(', ')}`);
  return value;
}

export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** `--room`: checked here, so a bad name exits 2 before anything connects (the hub would refuse it). */
export function parseRoom(value: string): string {
  if (!ROOM_NAME_PATTERN.test(value)) throw new InvalidArgumentError('room names are 1-64 of A-Z a-z 0-9 . _ - starting with a letter or digit');
  return value;
}

/** A repeatable `--room`. */
export function collectRooms(value: string, previous: string[] | undefined): string[] {
  return collect(parseRoom(value), previous);
}

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A duration with a unit (`90s`, `15m`, `12h`, `7d`), in ms. A bare number is refused rather than
 * guessed: JWT claims count seconds, the other flags milliseconds.
 */
export function parseDurationMs(value: string): number {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError('must be a duration with a unit, e.g. 90s, 15m, 12h or 7d');
  const ms = Number(match[1]) * (DURATION_UNITS_MS[match[2] as string] as number);
  if (!Number.isSafeInteger(ms)) throw new InvalidArgumentError('is too large');
  if (ms <= 0) throw new InvalidArgumentError('must be longer than 0');
  return ms;
}
