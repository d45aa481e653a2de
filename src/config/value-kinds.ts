/**
 * Value kinds: how one setting's value is read from an env string (`fromEnv`) and checked when it
 * comes from JSON or code (`check`). A kind never builds the final error message: it throws
 * {@link Invalid} with the reason and the offending value, and the resolver adds the setting's
 * name and source and decides whether the value may be shown (secrets never are).
 */
import { isIP } from 'node:net';

/** A value failed its kind's check. `why` reads after "setting 'x' from <source> ". */
export class Invalid extends Error {
  /** The offending value, when showing it helps (see {@link hasGot}). */
  readonly got: unknown;
  readonly hasGot: boolean;

  constructor(readonly why: string, ...got: [] | [unknown]) {
    super(why);
    this.hasGot = got.length > 0;
    this.got = got[0];
  }
}

export interface ValueKind<T> {
  /** Human description for docs and `--help`. */
  readonly type: string;
  fromEnv(raw: string): T;
  check(value: unknown): T;
}

/** Node's timers overflow past 2^31-1 ms (they then fire after 1 ms), so no ms setting may exceed it. */
export const MAX_TIMER_MS = 2_147_483_647;

/** The lowest port an ICE range may use: below 1024 needs root on most systems. */
export const MIN_ICE_PORT = 1024;

/** "a string", "an array", "null": how a wrong value is described when it is not shown. */
export function typeName(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function requireString(value: unknown, why: string): string {
  if (typeof value !== 'string') throw new Invalid(why, value);
  return value;
}

interface IntOptions {
  min: number;
  max: number;
  /** The reason for a non-integer, e.g. "must be a positive integer". */
  why: string;
  type: string;
}

export function intKind(o: IntOptions): ValueKind<number> {
  const check = (value: unknown): number => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < o.min) throw new Invalid(o.why, value);
    if (value > o.max) throw new Invalid(`must be at most ${o.max}`, value);
    return value;
  };
  return {
    type: o.type,
    check,
    fromEnv(raw) {
      if (!/^\+?\d+$/.test(raw)) throw new Invalid(o.why, raw);
      return check(Number(raw));
    },
  };
}

/** Milliseconds: positive, and within what setTimeout can represent. */
export const positiveMs = intKind({ min: 1, max: MAX_TIMER_MS, why: 'must be a positive integer', type: 'positive integer (ms)' });
export const nonNegativeInt = intKind({ min: 0, max: Number.MAX_SAFE_INTEGER, why: 'must be an integer ≥ 0', type: 'integer ≥ 0' });

export const positiveBytes = intKind({ min: 1, max: Number.MAX_SAFE_INTEGER, why: 'must be a positive number of bytes', type: 'positive integer (bytes)' });

const TRUE_WORDS = ['true', '1', 'yes'];
const FALSE_WORDS = ['false', '0', 'no'];

export const booleanKind: ValueKind<boolean> = {
  type: 'boolean (env: true/false, 1/0, yes/no)',
  check(value) {
    if (typeof value !== 'boolean') throw new Invalid('must be true or false', value);
    return value;
  },
  fromEnv(raw) {
    const word = raw.toLowerCase();
    if (TRUE_WORDS.includes(word)) return true;
    if (FALSE_WORDS.includes(word)) return false;
    throw new Invalid('must be one of true, false, 1, 0, yes, no', raw);
  },
};

export function enumKind<T extends string>(values: readonly T[]): ValueKind<T> {
  const why = `must be one of ${values.join(', ')}`;
  const check = (value: unknown): T => {
    if (typeof value !== 'string' || !(values as readonly string[]).includes(value)) throw new Invalid(why, value);
    return value as T;
  };
  return { type: values.join(' | '), check, fromEnv: (raw) => check(raw.toLowerCase()) };
}

function stringKind(type: string, validate: (s: string) => string): ValueKind<string> {
  return { type, check: (value) => validate(requireString(value, 'must be a string')), fromEnv: validate };
}

/** A display name: shown to other peers, so short and free of control characters. */
export const displayName = stringKind('string, 1–64 characters', (s) => {
  if (s.trim() === '') throw new Invalid('must not be empty', s);
  if ([...s].length > 64) throw new Invalid('must be at most 64 characters', s);
  if (/\p{Cc}/u.test(s)) throw new Invalid('must not contain control characters', s);
  return s;
});

/** Any non-empty string (user names, secrets: the resolver decides what may be shown). */
export const nonEmptyString = stringKind('string', (s) => {
  if (s === '') throw new Invalid('must not be empty', s);
  return s;
});

/** A bearer token goes into an HTTP header and a query string: no whitespace, no "Bearer " prefix. */
export const bearerToken = stringKind('string (JWT)', (s) => {
  if (s === '') throw new Invalid('must not be empty', s);
  if (/^bearer\s/i.test(s)) throw new Invalid("must be the token alone, without 'Bearer '");
  if (/[\s\p{Cc}]/u.test(s)) throw new Invalid('must not contain whitespace or control characters');
  return s;
});

/** What a hub URL must be, for messages. */
const HUB_URL_FORMS = 'an http:// or https:// URL (SignalR) or a ws:// or wss:// URL (JSON-RPC)';

/**
 * A hub: a SignalR hub (http, https; SignalR negotiates over HTTP) or a JSON-RPC 2.0 signaling
 * server (ws, wss; a WebSocket from the start). A webrtc:// room URI names a hub and a room: it
 * goes to the CLI or createAgent, which split it (src/config/room-uri.ts).
 */
export const hubUrl = stringKind('http(s) or ws(s) URL', (s) => {
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    throw new Invalid(`must be ${HUB_URL_FORMS}`, s);
  }
  if (url.protocol === 'webrtc:' || url.protocol === 'webrtcs:' || url.protocol === 'webrtc-game:') {
    throw new Invalid(`must be ${HUB_URL_FORMS}; a ${url.protocol}// room URI names a room too: give it to the CLI (rtc-agent chat ${s}) or to createAgent({ hubUrl })`, s);
  }
  if (!['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol)) throw new Invalid(`must be ${HUB_URL_FORMS}`, s);
  return s;
});

function isWebSocketScheme(url: string): boolean {
  return /^wss?:/i.test(url);
}

function checkHubUrlList(entries: unknown[]): string[] {
  if (entries.length === 0) throw new Invalid(`must list at least one hub: ${HUB_URL_FORMS}`);
  const seen = new Map<string, number>();
  return entries.map((entry: unknown, i) => {
    // A single URL keeps the plain messages; in a list, the message says which entry is wrong.
    const where = entries.length === 1 ? '' : `has a bad entry ${i + 1} of ${entries.length}: `;
    if (typeof entry !== 'string') throw new Invalid(`${where}must be a string`, entry);
    let url: string;
    try {
      url = hubUrl.check(entry);
    } catch (err) {
      if (!(err instanceof Invalid)) throw err;
      throw new Invalid(`${where}${err.why}`, entry);
    }
    // Failover goes between hubs serving the same rooms, which speak one protocol.
    const first = entries[0];
    if (i > 0 && typeof first === 'string' && isWebSocketScheme(first) !== isWebSocketScheme(url)) {
      throw new Invalid(`${where}mixes SignalR (http/https) and JSON-RPC (ws/wss) hubs; the hubs of one list speak one protocol`, entry);
    }
    // The same hub twice is a typo for another hub more often than not, and it would spend
    // failover attempts on a hub already known to be down: refused, not merged.
    const key = new URL(url).href;
    const dup = seen.get(key);
    if (dup !== undefined) throw new Invalid(`lists the same hub twice (entries ${dup + 1} and ${i + 1}); give each hub once`, entry);
    seen.set(key, i);
    return url;
  });
}

function splitUrls(raw: string): string[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/**
 * One hub URL or several, in the order the agent tries them: an array, or a comma-separated
 * string (env, flags, and a config file or createAgent for convenience). Array entries are taken
 * whole, so a URL that itself contains a comma goes in an array.
 */
export const hubUrlList: ValueKind<string[]> = {
  type: 'http(s) URL (SignalR) or ws(s) URL (JSON-RPC), or several: an array (env and flags: comma-separated)',
  check(value) {
    if (typeof value === 'string') return checkHubUrlList(splitUrls(value));
    if (!Array.isArray(value)) throw new Invalid(`must be ${HUB_URL_FORMS}, or an array of them`, value);
    return checkHubUrlList(value);
  },
  fromEnv: (raw) => checkHubUrlList(splitUrls(raw)),
};

export const ipAddress = stringKind('IP address', (s) => {
  if (isIP(s) === 0) throw new Invalid('must be an IPv4 or IPv6 address', s);
  return s;
});

/**
 * `scheme:[//][user:pass@]host[:port][?query]`, the URI form libdatachannel parses for ICE
 * servers (IPv6 hosts in brackets). Returns the problem, or undefined when the URL is fine.
 */
function iceUrlProblem(s: string, schemes: readonly string[], allowUserInfo: boolean): string | undefined {
  const m = /^([a-z]+):(?:\/\/)?(?:([^@/?#\s]*)@)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d+))?(\?[^#\s]*)?$/.exec(s);
  if (!m || !schemes.includes(m[1]!)) return `must be a ${schemes.map((x) => `${x}:`).join(' or ')} URL like ${schemes[0]}:host:3478`;
  if (m[2] !== undefined && !allowUserInfo) return 'must not contain credentials';
  if (m[4] !== undefined && (Number(m[4]) < 1 || Number(m[4]) > 65535)) return 'must have a port 1-65535';
  return undefined;
}

export const turnUrl = stringKind('turn:/turns: URL', (s) => {
  const problem = iceUrlProblem(s, ['turn', 'turns'], true);
  if (problem) throw new Invalid(problem, s);
  return s;
});

function checkStunList(value: unknown): string[] {
  if (!Array.isArray(value)) throw new Invalid('must be a list of stun: URLs', value);
  return value.map((entry: unknown, i) => {
    if (typeof entry !== 'string') throw new Invalid(`entry ${i} must be a string`, entry);
    const problem = iceUrlProblem(entry, ['stun', 'stuns'], false);
    if (problem) throw new Invalid(`entry ${i} ${problem}`, entry);
    return entry;
  });
}

export const stunUrlList: ValueKind<string[]> = {
  type: 'list of stun:/stuns: URLs (env: comma-separated)',
  check: checkStunList,
  fromEnv: (raw) => checkStunList(raw.split(',').map((s) => s.trim()).filter((s) => s !== '')),
};

export interface IcePortRange {
  begin: number;
  end: number;
}

function checkRange(begin: unknown, end: unknown, got: unknown): IcePortRange {
  const isPort = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= MIN_ICE_PORT && n <= 65535;
  if (!isPort(begin) || !isPort(end)) throw new Invalid(`ports must be integers ${MIN_ICE_PORT}-65535`, got);
  if (begin > end) throw new Invalid('begin must not be greater than end', got);
  return { begin, end };
}

function rangeFromString(s: string): IcePortRange {
  const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(s);
  if (!m) throw new Invalid('must look like 50000-50100', s);
  return checkRange(Number(m[1]), Number(m[2] ?? m[1]), s);
}

export const portRange: ValueKind<IcePortRange> = {
  type: `port range ${MIN_ICE_PORT}–65535: {"begin":50000,"end":50100} or "50000-50100"`,
  check(value) {
    if (typeof value === 'string') return rangeFromString(value);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new Invalid('must be {"begin": n, "end": n} or "n-n"', value);
    }
    const extra = Object.keys(value).filter((k) => k !== 'begin' && k !== 'end');
    if (extra.length > 0) throw new Invalid(`has unknown field '${extra[0]}' (only begin and end)`);
    const { begin, end } = value as Record<string, unknown>;
    return checkRange(begin, end, value);
  },
  fromEnv: rangeFromString,
};
