/**
 * The flags every agent-running command shares (chat, pipe, daemon, smoke, doctor, config), and
 * their translation into createAgent() options. Flags are the top settings layer (flags > env >
 * file > defaults); commander leaves unset flags undefined so lower layers show through. Light on
 * purpose: connecting an agent is start-agent.ts, loaded only when a command gets that far.
 */
import { Command, Option } from 'commander';
import type { AgentSettingsInput, SettingName } from '../config/agent-settings.js';
import { isRoomUri, parseRoomUri } from '../config/room-uri.js';
import { ErrorCode, RtcAgentError } from '../errors.js';
import { CommandFailed, ExitCode } from './exit-codes.js';
import { collect, parseLogLevel, parsePositiveInt } from './parse.js';

export interface AgentFlags {
  hub?: string;
  name?: string;
  token?: string;
  accessTokenFile?: string;
  config?: string;
  logLevel?: string;
  stun?: string[];
  turnUrl?: string;
  turnUsername?: string;
  turnPassword?: string;
  iceTimeout?: number;
  iceBindAddress?: string;
  icePortRange?: string;
  iceTransportPolicy?: 'all' | 'relay';
  native?: boolean;
  relay?: boolean;
  unreliable?: boolean;
  heartbeatInterval?: number;
  reconnectAttempts?: number;
  sendTimeout?: number;
  e2ee?: boolean;
  roomSecret?: string;
  roomSecretFile?: string;
  identity?: string;
  downloadDir?: string;
  acceptFiles?: boolean;
  maxFileBytes?: number;
  /** The settings of a room URI's query (set by {@link takeRoomUri}): a layer under the flags. */
  uriSettings?: AgentSettingsInput;
}

/** The positional argument of the commands that take a hub and a room. */
export const ROOM_URI_ARGUMENT = ['[uri]', 'room URI instead of --hub and --room: webrtc://HOST[:PORT]/ROOM[?name=…&e2ee=1&reliable=0] (webrtcs:// for TLS)'] as const;

/**
 * A room URI on the command line, as the positional argument or as `--hub`: its hub becomes
 * `--hub`, its room the room (a `--room` too must name the same one), its query a settings layer
 * under the flags (flags > URI query > env > file). Returns the room to join: `room` when no URI
 * was given. Throws RTC_ERR_CONFIG (exit 2) naming what is wrong.
 */
export function takeRoomUri(flags: AgentFlags, positional: string | undefined, room: string | undefined): string | undefined {
  const hubIsUri = flags.hub !== undefined && isRoomUri(flags.hub);
  if (positional !== undefined && hubIsUri) throw new RtcAgentError(ErrorCode.CONFIG, `give the room URI once: as the argument (${positional}) or as --hub, not both`);
  const given = positional ?? (hubIsUri ? flags.hub : undefined);
  if (given === undefined) return room;
  const uri = parseRoomUri(given);
  if (uri.kind === 'server') {
    if (!hubIsUri && flags.hub !== undefined) throw new RtcAgentError(ErrorCode.CONFIG, `--hub ${flags.hub} and the room URI ${given} both name a hub; give one of them`);
    flags.hub = uri.hubUrl;
  } else if (hubIsUri) {
    throw new RtcAgentError(ErrorCode.CONFIG, `--hub ${given} is a peer URI and names no hub; give the hub with --hub and the URI as the argument`);
  }
  if (room !== undefined && uri.room !== undefined && room !== uri.room) {
    throw new RtcAgentError(ErrorCode.CONFIG, `--room ${room} and the room URI's room '${uri.room}' differ; give one of them`);
  }
  flags.uriSettings = uri.settings;
  return room ?? uri.room;
}

/** The room a command must have: from --room or a room URI. */
export function requireRoom(room: string | undefined): string {
  if (room === undefined) throw new CommandFailed(ExitCode.USAGE, "required option '--room <room>' not specified (or give a room URI: webrtc://HOST[:PORT]/ROOM)");
  return room;
}

/** Adds the shared agent flags to a command. */
export function addAgentFlags(cmd: Command): Command {
  return cmd
    .option('--hub <url>', 'hub URL, or several comma-separated hubs serving the same rooms to fail over between (default http://127.0.0.1:8080/hub; env RTC_AGENT_HUB_URL), or a webrtc://HOST[:PORT]/ROOM room URI')
    .option('--name <name>', 'display name shown to peers (env RTC_AGENT_NAME)')
    .option('--token <jwt>', 'access token for the hub (prefer env RTC_AGENT_ACCESS_TOKEN)')
    .option('--access-token-file <file>', 'read the hub access token from this file (first line) on every (re)connect (env RTC_AGENT_ACCESS_TOKEN_FILE)')
    .option('--config <file>', 'JSON config file (env RTC_AGENT_CONFIG)')
    .addOption(new Option('--log-level <level>', 'fatal, error, warn, info, debug, trace, silent').argParser(parseLogLevel))
    .option('--stun <url>', 'STUN server, e.g. stun:stun.example.org:3478 (repeatable)', collect)
    .option('--turn-url <url>', 'TURN server, e.g. turn:turn.example.org:3478')
    .option('--turn-username <user>', 'TURN user name')
    .option('--turn-password <password>', 'TURN password (prefer env RTC_AGENT_TURN_PASSWORD)')
    .option('--ice-timeout <ms>', 'give up on a P2P link after this long and stay on relay', parsePositiveInt)
    .option('--ice-bind-address <ip>', 'gather ICE candidates on this local address only')
    .option('--ice-port-range <from-to>', 'UDP ports for ICE, e.g. 50000-50100')
    .addOption(new Option('--ice-transport-policy <policy>', 'all, or relay (TURN only)').choices(['all', 'relay']))
    .option('--no-native', 'do not load node-datachannel; every link is relayed')
    .option('--no-relay', 'never send through the hub; wait for P2P instead')
    .option('--unreliable', 'send unordered without retransmits by default')
    .option('--heartbeat-interval <ms>', 'peer heartbeat period', parsePositiveInt)
    .option('--reconnect-attempts <n>', 'hub reconnect attempts (0 = none)', (v) => (v === '0' ? 0 : parsePositiveInt(v)))
    .option('--send-timeout <ms>', 'how long a send may wait', parsePositiveInt)
    .option('--e2ee', 'end-to-end encrypt every message and file (peers without E2EE get nothing)')
    .option('--room-secret <secret>', 'shared secret mixed into E2EE keys (prefer env RTC_AGENT_ROOM_SECRET or --room-secret-file)')
    .option('--room-secret-file <file>', 'read the room secret from this file (first line)')
    .option('--identity <file>', 'E2EE identity key file (created 0600 on first use)')
    .option('--accept-files', 'accept files peers send (the CLI refuses them unless this or --download-dir is given; chat asks)')
    .option('--no-accept-files', 'refuse every file, even with --download-dir (chat then does not ask)')
    .option('--download-dir <dir>', 'accept files peers send, into this directory (default ~/Downloads/rtc-agent)')
    .option('--max-file-bytes <n>', 'largest file accepted', parsePositiveInt);
}

/** The settings layer the flags make (only what was given). */
export function settingsFromFlags(flags: AgentFlags): AgentSettingsInput {
  const s: AgentSettingsInput = { ...flags.uriSettings };
  if (flags.hub !== undefined) s.hubUrl = flags.hub;
  if (flags.name !== undefined) s.name = flags.name;
  if (flags.token !== undefined) s.accessToken = flags.token;
  if (flags.accessTokenFile !== undefined) s.accessTokenFile = flags.accessTokenFile;
  if (flags.logLevel !== undefined) s.logLevel = flags.logLevel as AgentSettingsInput['logLevel'];
  if (flags.stun !== undefined) s.stunServers = flags.stun;
  if (flags.turnUrl !== undefined) s.turnUrl = flags.turnUrl;
  if (flags.turnUsername !== undefined) s.turnUsername = flags.turnUsername;
  if (flags.turnPassword !== undefined) s.turnPassword = flags.turnPassword;
  if (flags.iceTimeout !== undefined) s.iceConnectionTimeoutMs = flags.iceTimeout;
  if (flags.iceBindAddress !== undefined) s.iceBindAddress = flags.iceBindAddress;
  if (flags.icePortRange !== undefined) s.icePortRange = flags.icePortRange;
  if (flags.iceTransportPolicy !== undefined) s.iceTransportPolicy = flags.iceTransportPolicy;
  // commander sets --no-x flags to true by default; only an explicit --no-x is a setting.
  if (flags.native === false) s.tryNative = false;
  if (flags.relay === false) s.allowRelay = false;
  if (flags.unreliable === true) s.reliable = false;
  if (flags.heartbeatInterval !== undefined) s.heartbeatIntervalMs = flags.heartbeatInterval;
  if (flags.reconnectAttempts !== undefined) s.maxReconnectAttempts = flags.reconnectAttempts;
  if (flags.sendTimeout !== undefined) s.sendTimeoutMs = flags.sendTimeout;
  if (flags.e2ee === true) s.enableE2ee = true;
  if (flags.roomSecret !== undefined) s.roomSecret = flags.roomSecret;
  if (flags.identity !== undefined) s.identityFile = flags.identity;
  if (flags.downloadDir !== undefined) s.downloadDir = flags.downloadDir;
  // Naming a download directory is asking for files; an explicit --no-accept-files still wins.
  if (flags.acceptFiles !== undefined) s.acceptFiles = flags.acceptFiles;
  else if (flags.downloadDir !== undefined) s.acceptFiles = true;
  if (flags.maxFileBytes !== undefined) s.maxFileBytes = flags.maxFileBytes;
  return s;
}

/** The flag that sets each setting, so an error names what the user typed (`--hub`, not `hubUrl`). */
export const FLAG_OF_SETTING: Partial<Record<SettingName, string>> = {
  hubUrl: '--hub',
  name: '--name',
  accessToken: '--token',
  accessTokenFile: '--access-token-file',
  logLevel: '--log-level',
  stunServers: '--stun',
  turnUrl: '--turn-url',
  turnUsername: '--turn-username',
  turnPassword: '--turn-password',
  iceConnectionTimeoutMs: '--ice-timeout',
  iceBindAddress: '--ice-bind-address',
  icePortRange: '--ice-port-range',
  iceTransportPolicy: '--ice-transport-policy',
  tryNative: '--no-native',
  allowRelay: '--no-relay',
  reliable: '--unreliable',
  heartbeatIntervalMs: '--heartbeat-interval',
  maxReconnectAttempts: '--reconnect-attempts',
  sendTimeoutMs: '--send-timeout',
  enableE2ee: '--e2ee',
  roomSecret: '--room-secret',
  identityFile: '--identity',
  downloadDir: '--download-dir',
  acceptFiles: '--accept-files',
  maxFileBytes: '--max-file-bytes',
};
