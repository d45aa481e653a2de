/**
 * The agent's settings: their types, defaults and the one table ({@link SETTINGS}) that docs,
 * `--help` and the resolver all read. Covers the seed's C# `WebRtcSettings` (SignalingServerUrl →
 * hubUrl, TryUseNativeClient → tryNative, DataChannelReliable → reliable, …) plus what a headless
 * agent needs on top.
 */
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { LevelWithSilent } from 'pino';
import { DEFAULT_HUB_HOST, DEFAULT_HUB_PATH, DEFAULT_HUB_PORT } from '../constants.js';
import { LOG_LEVELS } from '../log/logger.js';
import {
  bearerToken,
  booleanKind,
  displayName,
  enumKind,
  hubUrlList,
  intKind,
  ipAddress,
  nonEmptyString,
  nonNegativeInt,
  portRange,
  positiveBytes,
  positiveMs,
  stunUrlList,
  turnUrl,
  type IcePortRange,
  type ValueKind,
} from './value-kinds.js';

export type { IcePortRange } from './value-kinds.js';
export type LogLevel = LevelWithSilent;
export type IceTransportPolicy = 'all' | 'relay';
/** SignalR hub protocol: MessagePack carries relayed bytes as bytes, JSON as base64 text. */
export type HubProtocolSetting = 'messagepack' | 'json';
/** How the agent talks to its hub: SignalR (the room contract) or JSON-RPC 2.0 signaling (docs/jsonrpc.md). */
export type SignalingProtocol = 'signalr' | 'jsonrpc';

/** Every setting, resolved: what the agent runs with. Optional fields are absent when unset. */
export interface AgentSettings {
  /** Always an array: the hub URLs in the order the agent tries them (one entry for one hub). */
  hubUrl: string[];
  hubProtocol: HubProtocolSetting;
  /** Absent: from hubUrl's scheme (ws/wss: jsonrpc, http/https: signalr); see config/signaling.ts. */
  signaling?: SignalingProtocol | undefined;
  name: string;
  accessToken?: string | undefined;
  accessTokenFile?: string | undefined;
  stunServers: string[];
  turnUrl?: string | undefined;
  turnUsername?: string | undefined;
  turnPassword?: string | undefined;
  iceConnectionTimeoutMs: number;
  maxReconnectAttempts: number;
  reconnectIntervalMs: number;
  reliable: boolean;
  heartbeatIntervalMs: number;
  tryNative: boolean;
  allowRelay: boolean;
  logLevel: LogLevel;
  iceBindAddress?: string | undefined;
  icePortRange?: IcePortRange | undefined;
  iceTransportPolicy: IceTransportPolicy;
  enableE2ee: boolean;
  roomSecret?: string | undefined;
  sendTimeoutMs: number;
  identityFile: string;
  downloadDir: string;
  acceptFiles: boolean;
  maxFileBytes: number;
  maxIncomingFilesPerPeer: number;
  maxIncomingFiles: number;
  fileIdleTimeoutMs: number;
}

export type SettingName = keyof AgentSettings;

/** What a caller may pass: any subset. `undefined` and `null` mean "not given here". */
export type AgentSettingsInput = {
  [K in SettingName]?: (K extends 'icePortRange' ? IcePortRange | string : K extends 'hubUrl' ? string | readonly string[] : AgentSettings[K]) | null;
};

/** The agent's own hub (`rtc-agent hub`) on its default address, so two agents on one machine just work. */
export const DEFAULT_HUB_URL = `http://${DEFAULT_HUB_HOST}:${DEFAULT_HUB_PORT}${DEFAULT_HUB_PATH}`;
/** The name used when the OS user name is unavailable (e.g. a container uid with no passwd entry) or unusable. */
export const DEFAULT_AGENT_NAME = 'agent';
/**
 * Half the seed's 30 s: host candidates on a LAN connect in well under a second, and the peer is on
 * relay meanwhile, so waiting longer only delays the "P2P failed" report.
 */
export const DEFAULT_ICE_CONNECTION_TIMEOUT_MS = 15_000;
/** Twice the seed's 5: with a 2 s base delay this rides out a hub restart of about a minute. */
export const DEFAULT_MAX_RECONNECT_ATTEMPTS = 10;
/** Base delay between hub reconnect attempts; short, because a local hub restarts in about a second. */
export const DEFAULT_RECONNECT_INTERVAL_MS = 2_000;
/** Peers silent for about three intervals are reported as left, so a dead peer is noticed within ~15 s. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 5_000;
/** Long enough for ICE (15 s) plus a TURN retry; after it a send fails instead of hanging. */
export const DEFAULT_SEND_TIMEOUT_MS = 30_000;
/** 1 GiB: big enough for logs, builds and datasets a bot passes around, small enough to refuse a disk-filler. */
export const DEFAULT_MAX_FILE_BYTES = 1024 * 1024 * 1024;
/**
 * Twice what a program sending a batch of files at once needs (the CLI sends one at a time); each
 * transfer holds an open file, so a peer flooding offers is refused past this.
 */
export const DEFAULT_MAX_INCOMING_FILES_PER_PEER = 8;
/** Room for a few busy peers at once; 32 open files is a small share even of a 256-descriptor ulimit. */
export const DEFAULT_MAX_INCOMING_FILES = 32;
/**
 * Twice DEFAULT_SEND_TIMEOUT_MS: a sender gives up after 30 s without acknowledgements, so a transfer
 * silent for twice that has no live sender, and an offer never followed by data holds its slot for a
 * minute at most.
 */
export const DEFAULT_FILE_IDLE_TIMEOUT_MS = 60_000;
/**
 * No STUN servers by default, unlike the seed's Google list: no traffic to third parties unless the
 * user asks, and host candidates are enough on a LAN and on loopback (tests).
 */
export const DEFAULT_STUN_SERVERS: readonly string[] = [];

const positiveCount = intKind({ min: 1, max: Number.MAX_SAFE_INTEGER, why: 'must be a positive integer', type: 'positive integer' });

interface SpecEntry<T> {
  kind: ValueKind<T>;
  /** The value, or a function computing it; absent for settings that are unset by default. */
  default?: T | (() => T);
  /** Shown in docs instead of the default value (when it is computed). */
  defaultText?: string;
  description: string;
  /** Never shown in errors, logs or `settings show`. */
  secret?: boolean;
}

type SpecTable = { [K in SettingName]-?: SpecEntry<NonNullable<AgentSettings[K]>> };

/** The OS user name if it makes a valid display name, else {@link DEFAULT_AGENT_NAME}. */
export function defaultAgentName(): string {
  try {
    return displayName.check(userInfo().username);
  } catch {
    return DEFAULT_AGENT_NAME;
  }
}

/** Every setting, in docs order. The mapped type makes a setting without a spec a compile error. */
export const SPECS: SpecTable = {
  hubUrl: {
    kind: hubUrlList,
    default: () => [DEFAULT_HUB_URL],
    defaultText: `\`${DEFAULT_HUB_URL}\``,
    description:
      'Hub to join rooms on: a SignalR hub (`http://…/hub`) or a JSON-RPC 2.0 signaling server (`ws://…/rpc`); or several hubs serving the same rooms: the agent connects to the first that answers and, when its hub goes away, fails over to the others in order, keeping its peer id. Always an array in `agent.settings`. createAgent also takes a `webrtc://host:port/room` URI here.',
  },
  signaling: {
    kind: enumKind(['signalr', 'jsonrpc'] as const),
    defaultText: 'from `hubUrl`: `jsonrpc` for ws:// and wss://, else `signalr`',
    description: 'How to talk to the hub: SignalR, or JSON-RPC 2.0 over a WebSocket (docs/jsonrpc.md; relay only where the server has rtc-agent\'s extension).',
  },
  hubProtocol: {
    kind: enumKind(['messagepack', 'json'] as const),
    default: 'messagepack',
    description: "SignalR hub protocol: `messagepack` relays bytes as bytes (a hub without it, e.g. ASP.NET Core without AddMessagePackProtocol, gets JSON: the agent falls back), `json` as base64 text.",
  },
  name: { kind: displayName, default: defaultAgentName, defaultText: 'OS user name, else `agent`', description: 'Display name shown to other peers.' },
  accessToken: { kind: bearerToken, secret: true, description: 'JWT sent to the hub (`access_token`).' },
  accessTokenFile: {
    kind: nonEmptyString,
    description: 'File holding the JWT (first line), read again on every hub (re)connect: a renewed token is used once the hub closes the expired one. Instead of accessToken.',
  },
  stunServers: {
    kind: stunUrlList,
    default: () => [...DEFAULT_STUN_SERVERS],
    description: 'STUN servers for ICE. Empty on purpose: no public STUN; host candidates work on a LAN.',
  },
  turnUrl: { kind: turnUrl, description: 'TURN server for peers that cannot connect directly.' },
  turnUsername: { kind: nonEmptyString, description: 'TURN user name; give it together with turnPassword.' },
  turnPassword: { kind: nonEmptyString, secret: true, description: 'TURN password; give it together with turnUsername.' },
  iceConnectionTimeoutMs: {
    kind: positiveMs,
    default: DEFAULT_ICE_CONNECTION_TIMEOUT_MS,
    description: 'After this a connecting P2P link gives up and the peer stays on relay.',
  },
  maxReconnectAttempts: {
    kind: nonNegativeInt,
    default: DEFAULT_MAX_RECONNECT_ATTEMPTS,
    description: 'Hub reconnect attempts after a drop (0 = never reconnect).',
  },
  reconnectIntervalMs: { kind: positiveMs, default: DEFAULT_RECONNECT_INTERVAL_MS, description: 'Base delay between hub reconnect attempts.' },
  reliable: { kind: booleanKind, default: true, description: 'Default delivery mode of send(): reliable and ordered.' },
  heartbeatIntervalMs: {
    kind: positiveMs,
    default: DEFAULT_HEARTBEAT_INTERVAL_MS,
    description: 'Heartbeat period; peers silent for ~3 intervals are reported as left.',
  },
  tryNative: { kind: booleanKind, default: true, description: 'Try to load node-datachannel for P2P; false = relay only.' },
  allowRelay: {
    kind: booleanKind,
    default: true,
    description: 'false: never send through the hub; sends wait for P2P and fail clearly on timeout.',
  },
  logLevel: { kind: enumKind(LOG_LEVELS), default: 'warn', description: 'Log level (logs go to stderr). warn: the library is quiet unless something is wrong; the CLI chooses per command.' },
  iceBindAddress: { kind: ipAddress, description: 'Bind ICE to this local address only (tests use 127.0.0.1).' },
  icePortRange: { kind: portRange, description: 'UDP port range for ICE, e.g. for a firewall rule.' },
  iceTransportPolicy: { kind: enumKind(['all', 'relay'] as const), default: 'all', description: '`relay` = use TURN only (needs turnUrl).' },
  enableE2ee: { kind: booleanKind, default: false, description: 'End-to-end encrypt every message and file, on P2P and relay (X25519, HKDF, AES-256-GCM).' },
  roomSecret: { kind: nonEmptyString, secret: true, description: 'Shared secret mixed into the E2EE keys (with enableE2ee).' },
  sendTimeoutMs: {
    kind: positiveMs,
    default: DEFAULT_SEND_TIMEOUT_MS,
    description: 'How long a send may wait (for P2P when relay is off, or for backpressure).',
  },
  identityFile: {
    kind: nonEmptyString,
    default: defaultIdentityFile,
    defaultText: '`$XDG_CONFIG_HOME/rtc-agent/identity.json` (else `~/.config/…`)',
    description: 'E2EE identity key (created 0600 on first use), so your fingerprint stays the same.',
  },
  downloadDir: {
    kind: nonEmptyString,
    default: () => join(homedir(), 'Downloads', 'rtc-agent'),
    defaultText: '`~/Downloads/rtc-agent`',
    description: 'Where received files are written (names are sanitised; nothing is written outside it).',
  },
  acceptFiles: { kind: booleanKind, default: true, description: 'Accept files peers send; false refuses every offer.' },
  maxFileBytes: { kind: positiveBytes, default: DEFAULT_MAX_FILE_BYTES, description: 'Largest file accepted from a peer.' },
  maxIncomingFilesPerPeer: {
    kind: positiveCount,
    default: DEFAULT_MAX_INCOMING_FILES_PER_PEER,
    description: 'Incoming files one peer may have in progress at once; more offers are refused (`too-many`).',
  },
  maxIncomingFiles: {
    kind: positiveCount,
    default: DEFAULT_MAX_INCOMING_FILES,
    description: 'Incoming files in progress at once from all peers together; more offers are refused (`too-many`).',
  },
  fileIdleTimeoutMs: {
    kind: positiveMs,
    default: DEFAULT_FILE_IDLE_TIMEOUT_MS,
    description: 'An incoming file that receives no data for this long is aborted and its partial file removed (`idle`).',
  },
};

/** The directory for rtc-agent's own files: identity key, known peers. */
export function configDir(): string {
  const base = process.env.XDG_CONFIG_HOME && process.env.XDG_CONFIG_HOME.length > 0 ? process.env.XDG_CONFIG_HOME : join(homedir(), '.config');
  return join(base, 'rtc-agent');
}

function defaultIdentityFile(): string {
  return join(configDir(), 'identity.json');
}

/** One row of the settings table: everything docs and `--help` need. */
export interface SettingSpec {
  readonly name: SettingName;
  /** Environment variable, e.g. `RTC_AGENT_HUB_URL`. */
  readonly env: string;
  readonly type: string;
  /** The default as shown in docs; `–` when unset by default. */
  readonly default: string;
  readonly description: string;
  readonly secret: boolean;
}

export const ENV_PREFIX = 'RTC_AGENT_';
/** Names the config file when no explicit one is given. */
export const CONFIG_FILE_ENV = `${ENV_PREFIX}CONFIG`;

/** `iceConnectionTimeoutMs` → `RTC_AGENT_ICE_CONNECTION_TIMEOUT_MS`. */
export function envNameOf(name: string): string {
  return ENV_PREFIX + name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

function defaultText(entry: SpecEntry<unknown>): string {
  if (entry.defaultText !== undefined) return entry.defaultText;
  if (entry.default === undefined) return '–';
  const value: unknown = typeof entry.default === 'function' ? (entry.default as () => unknown)() : entry.default;
  return `\`${typeof value === 'string' ? value : JSON.stringify(value)}\``;
}

export const SETTING_NAMES = Object.keys(SPECS) as SettingName[];

export const SETTINGS: readonly SettingSpec[] = SETTING_NAMES.map((name) => {
  const entry = SPECS[name] as SpecEntry<unknown>;
  return Object.freeze({
    name,
    env: envNameOf(name),
    type: entry.secret === true ? `${entry.kind.type}, secret` : entry.kind.type,
    default: defaultText(entry),
    description: entry.description,
    secret: entry.secret === true,
  });
});

/** The defaults layer: every setting with a default, computed now (the OS user name may change). */
export function defaultSettings(): AgentSettings {
  const out: Record<string, unknown> = {};
  for (const name of SETTING_NAMES) {
    const d = (SPECS[name] as SpecEntry<unknown>).default;
    if (d !== undefined) out[name] = typeof d === 'function' ? (d as () => unknown)() : d;
  }
  return out as unknown as AgentSettings;
}
