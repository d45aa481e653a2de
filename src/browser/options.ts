/**
 * The options of `createAgent()` in a browser: the subset of the Node agent's settings that mean
 * something in a page (no files on disk, no native binding, no environment), checked once, with the
 * engine's defaults. A bad value fails with RTC_ERR_CONFIG naming the option, before anything
 * connects.
 */
import { closestName } from '../config/suggest.js';
import { DEFAULT_HEARTBEAT_INTERVAL_MS, DEFAULT_ICE_CONNECTION_TIMEOUT_MS, DEFAULT_SEND_TIMEOUT_MS } from '../engine/constants.js';
import type { Identity, KnownPeers } from '../engine/crypto/index.js';
import type { FileOffer } from '../engine/files/types.js';
import type { EngineLogger } from '../engine/log.js';
import { ErrorCode, RtcAgentError } from '../errors.js';
import { MAX_AGENT_KEY_LENGTH, MIN_AGENT_KEY_LENGTH, type IceServer } from '../protocol/room-contract.js';
import { BROWSER_LOG_LEVELS, type BrowserLogLevel } from './console-logger.js';

/** Hub reconnect attempts after a drop, over all hubs: as many as a Node agent makes. */
export const DEFAULT_BROWSER_MAX_RECONNECT_ATTEMPTS = 10;
/** Base delay between reconnect attempts: a Node agent's, so a restarted hub sees both come back alike. */
export const DEFAULT_BROWSER_RECONNECT_INTERVAL_MS = 2_000;
/**
 * Largest file accepted from a peer. A page keeps a file in memory until it is verified (there is
 * no download folder to stream into), so a quarter of the Node default keeps a tab alive.
 */
export const DEFAULT_BROWSER_MAX_FILE_BYTES = 256 * 1024 * 1024;
/** Console output from the library: warnings and errors only; a page is someone else's console. */
export const DEFAULT_BROWSER_LOG_LEVEL: BrowserLogLevel = 'warn';

/** Where the page's E2EE identity comes from. */
export type BrowserIdentityOption =
  /** A fresh identity for this agent: the fingerprint changes with every page load (the default). */
  | 'session'
  /** Kept in this origin's IndexedDB (a non-extractable key): the same fingerprint across page loads. */
  | 'stored'
  /** One the program made (e.g. with `generateIdentity()`) or keeps itself. */
  | Identity;

export interface BrowserE2eeOptions {
  /** Must match the room secret of the other peers (agents: `--room-secret`); stretched with scrypt per room. */
  roomSecret?: string;
  identity?: BrowserIdentityOption;
  /** Trust on first use; in memory (for this agent) by default. */
  knownPeers?: KnownPeers;
}

export interface BrowserAgentOptions {
  /** The hub, or several serving the same rooms (tried in order). Default: `/hub` on the page's origin. */
  hubUrl?: string | readonly string[];
  /** Display name shown to other peers (1-64 characters). Default `browser`. */
  name?: string;
  /** A bearer token for a hub with auth. */
  accessToken?: string;
  /** Called for a token on every connect and reconnect; beats `accessToken`. */
  accessTokenFactory?: () => string | Promise<string>;
  /** The secret the hub derives the peer id from (16-128 characters): the same key, the same id. Random by default. */
  agentKey?: string;
  /** STUN/TURN servers of this agent (the hub's come with each room). */
  iceServers?: IceServer[];
  /** `relay`: TURN only. */
  iceTransportPolicy?: 'all' | 'relay';
  /** false: open no P2P links (every peer over the hub relay). Default true where RTCPeerConnection exists. */
  tryNative?: boolean;
  heartbeatIntervalMs?: number;
  iceConnectionTimeoutMs?: number;
  sendTimeoutMs?: number;
  maxReconnectAttempts?: number;
  reconnectIntervalMs?: number;
  /** Use the hub relay while P2P is not up (default true). */
  allowRelay?: boolean;
  /** Default delivery mode of send(): reliable and ordered (default true). */
  reliable?: boolean;
  /** End-to-end encryption, as agents with `--e2ee` do; `true` for the defaults. */
  e2ee?: boolean | BrowserE2eeOptions;
  /** Accept files peers send (default true); false refuses every offer. */
  acceptFiles?: boolean;
  /** Decides about each incoming file (after the maxFileBytes and acceptFiles checks). */
  acceptFile?: (offer: FileOffer) => boolean | Promise<boolean>;
  maxFileBytes?: number;
  logLevel?: BrowserLogLevel;
  /** The engine's log goes here instead of the console. */
  logger?: EngineLogger;
  /** Cancels connecting. */
  signal?: AbortSignal;
}

/** The options with every default applied. */
export interface BrowserSettings {
  hubUrl: string[];
  name: string;
  iceServers: IceServer[];
  iceTransportPolicy: 'all' | 'relay';
  tryNative: boolean;
  heartbeatIntervalMs: number;
  iceConnectionTimeoutMs: number;
  sendTimeoutMs: number;
  maxReconnectAttempts: number;
  reconnectIntervalMs: number;
  allowRelay: boolean;
  reliable: boolean;
  acceptFiles: boolean;
  maxFileBytes: number;
  logLevel: BrowserLogLevel;
  e2ee: { roomSecret: string | undefined; identity: BrowserIdentityOption; knownPeers: KnownPeers | undefined } | undefined;
}

const OPTION_NAMES: readonly (keyof BrowserAgentOptions)[] = [
  'hubUrl', 'name', 'accessToken', 'accessTokenFactory', 'agentKey', 'iceServers', 'iceTransportPolicy', 'tryNative',
  'heartbeatIntervalMs', 'iceConnectionTimeoutMs', 'sendTimeoutMs', 'maxReconnectAttempts', 'reconnectIntervalMs',
  'allowRelay', 'reliable', 'e2ee', 'acceptFiles', 'acceptFile', 'maxFileBytes', 'logLevel', 'logger', 'signal',
];

function invalid(option: string, problem: string, value?: unknown): RtcAgentError {
  const shown = value === undefined ? '' : `, got ${describe(value)}`;
  return new RtcAgentError(ErrorCode.CONFIG, `option '${option}' ${problem}${shown}`, { details: { setting: option } });
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  return value === null ? 'null' : typeof value === 'object' ? 'an object' : String(value);
}

function bool(options: BrowserAgentOptions, key: keyof BrowserAgentOptions, fallback: boolean): boolean {
  const v = options[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw invalid(key, 'must be true or false', v);
  return v;
}

function wholeNumber(options: BrowserAgentOptions, key: keyof BrowserAgentOptions, fallback: number, min = 1): number {
  const v = options[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw invalid(key, `must be a whole number ≥ ${min}`, v);
  return v;
}

/** The hub URLs, absolute (a relative one is taken against the page's address). */
function hubUrls(value: BrowserAgentOptions['hubUrl']): string[] {
  const base = (globalThis as { location?: { href: string } }).location?.href;
  if (value === undefined) {
    if (base === undefined) throw invalid('hubUrl', 'is required outside a page (there is no origin to default to)');
    return [new URL('/hub', base).toString()];
  }
  const list = typeof value === 'string' ? [value] : Array.isArray(value) ? [...(value as string[])] : undefined;
  if (!list || list.length === 0) throw invalid('hubUrl', 'must be a URL or a non-empty array of URLs', value);
  const urls = list.map((entry) => {
    let url: URL;
    try {
      if (typeof entry !== 'string') throw new TypeError('not a string');
      url = new URL(entry, base);
    } catch {
      throw invalid('hubUrl', 'must hold http:// or https:// URLs', entry);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid('hubUrl', 'must hold http:// or https:// URLs', entry);
    return url.toString();
  });
  const duplicate = urls.find((u, i) => urls.indexOf(u) !== i);
  if (duplicate !== undefined) throw invalid('hubUrl', 'lists a hub twice', duplicate);
  return urls;
}

function iceServers(value: unknown): IceServer[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalid('iceServers', 'must be an array of { urls, username?, credential? }', value);
  return value.map((s: unknown) => {
    const server = s as IceServer;
    const urls = typeof server?.urls === 'string' ? [server.urls] : Array.isArray(server?.urls) ? server.urls : undefined;
    if (!urls || urls.length === 0 || urls.some((u) => typeof u !== 'string' || !/^(stun|stuns|turn|turns):/i.test(u))) {
      throw invalid('iceServers', 'must hold servers whose urls start with stun:, stuns:, turn: or turns:', s);
    }
    for (const field of ['username', 'credential'] as const) {
      if (server[field] !== undefined && typeof server[field] !== 'string') throw invalid('iceServers', `${field} must be a string`, server[field]);
    }
    return { ...server };
  });
}

function e2eeSettings(value: BrowserAgentOptions['e2ee']): BrowserSettings['e2ee'] {
  if (value === undefined || value === false) return undefined;
  const o: BrowserE2eeOptions = value === true ? {} : value;
  if (typeof o !== 'object' || o === null) throw invalid('e2ee', 'must be true, false or { roomSecret?, identity?, knownPeers? }', value);
  const unknown = Object.keys(o).find((k) => !['roomSecret', 'identity', 'knownPeers'].includes(k));
  if (unknown !== undefined) throw invalid('e2ee', `has no field '${unknown}' (roomSecret, identity, knownPeers)`);
  if (o.roomSecret !== undefined && (typeof o.roomSecret !== 'string' || o.roomSecret === '')) throw invalid('e2ee.roomSecret', 'must be a non-empty string', o.roomSecret);
  const identity = o.identity ?? 'session';
  const isIdentity = typeof identity === 'object' && identity !== null && typeof identity.publicKey === 'string' && typeof identity.fingerprint === 'string' && 'privateKey' in identity;
  if (identity !== 'session' && identity !== 'stored' && !isIdentity) throw invalid('e2ee.identity', "must be 'session', 'stored' or an Identity", identity);
  const known = o.knownPeers;
  if (known !== undefined && (typeof known !== 'object' || typeof known.check !== 'function' || typeof known.remember !== 'function')) {
    throw invalid('e2ee.knownPeers', 'must implement KnownPeers (check, get, remember, forget)', known);
  }
  return { roomSecret: o.roomSecret, identity, knownPeers: known };
}

/** Checks every option and applies the defaults. Throws RTC_ERR_CONFIG naming the first bad option. */
export function resolveBrowserOptions(options: BrowserAgentOptions): BrowserSettings {
  if (typeof options !== 'object' || options === null) throw new RtcAgentError(ErrorCode.CONFIG, 'createAgent() takes an options object');
  for (const key of Object.keys(options)) {
    if ((OPTION_NAMES as readonly string[]).includes(key)) continue;
    const near = closestName(key, OPTION_NAMES);
    throw new RtcAgentError(ErrorCode.CONFIG, `'${key}' is not an option of rtc-agent/browser${near ? ` (did you mean '${near}'?)` : ''}`, { details: { setting: key } });
  }
  const name = options.name ?? 'browser';
  if (typeof name !== 'string' || name.trim() === '' || [...name].length > 64 || /\p{Cc}/u.test(name)) {
    throw invalid('name', 'must be 1-64 characters without control characters', name);
  }
  const { agentKey, accessToken, accessTokenFactory, acceptFile, logger, signal } = options;
  if (agentKey !== undefined && (typeof agentKey !== 'string' || agentKey.length < MIN_AGENT_KEY_LENGTH || agentKey.length > MAX_AGENT_KEY_LENGTH)) {
    throw invalid('agentKey', `must be a secret string of ${MIN_AGENT_KEY_LENGTH}-${MAX_AGENT_KEY_LENGTH} characters`);
  }
  if (accessToken !== undefined && (typeof accessToken !== 'string' || accessToken === '' || /[\s\p{Cc}]/u.test(accessToken) || /^bearer\s/i.test(accessToken))) {
    throw invalid('accessToken', "must be the token alone (no 'Bearer ', no whitespace)");
  }
  for (const [key, fn] of [['accessTokenFactory', accessTokenFactory], ['acceptFile', acceptFile]] as const) {
    if (fn !== undefined && typeof fn !== 'function') throw invalid(key, 'must be a function', fn);
  }
  if (logger !== undefined && (typeof logger !== 'object' || typeof logger.child !== 'function')) throw invalid('logger', 'must be a logger (child, trace … error)', logger);
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalid('signal', 'must be an AbortSignal', signal);
  const policy = options.iceTransportPolicy ?? 'all';
  if (policy !== 'all' && policy !== 'relay') throw invalid('iceTransportPolicy', "must be 'all' or 'relay'", policy);
  const logLevel = options.logLevel ?? DEFAULT_BROWSER_LOG_LEVEL;
  if (!BROWSER_LOG_LEVELS.includes(logLevel)) throw invalid('logLevel', `must be one of ${BROWSER_LOG_LEVELS.join(', ')}`, logLevel);
  return {
    hubUrl: hubUrls(options.hubUrl),
    name,
    iceServers: iceServers(options.iceServers),
    iceTransportPolicy: policy,
    tryNative: bool(options, 'tryNative', true),
    heartbeatIntervalMs: wholeNumber(options, 'heartbeatIntervalMs', DEFAULT_HEARTBEAT_INTERVAL_MS),
    iceConnectionTimeoutMs: wholeNumber(options, 'iceConnectionTimeoutMs', DEFAULT_ICE_CONNECTION_TIMEOUT_MS),
    sendTimeoutMs: wholeNumber(options, 'sendTimeoutMs', DEFAULT_SEND_TIMEOUT_MS),
    maxReconnectAttempts: wholeNumber(options, 'maxReconnectAttempts', DEFAULT_BROWSER_MAX_RECONNECT_ATTEMPTS, 0),
    reconnectIntervalMs: wholeNumber(options, 'reconnectIntervalMs', DEFAULT_BROWSER_RECONNECT_INTERVAL_MS),
    allowRelay: bool(options, 'allowRelay', true),
    reliable: bool(options, 'reliable', true),
    acceptFiles: bool(options, 'acceptFiles', true),
    maxFileBytes: wholeNumber(options, 'maxFileBytes', DEFAULT_BROWSER_MAX_FILE_BYTES),
    logLevel,
    e2ee: e2eeSettings(options.e2ee),
  };
}
