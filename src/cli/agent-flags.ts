/**
 * The flags every agent-running command shares (chat, pipe, daemon, smoke, doctor), and their
 * translation into createAgent() options. Flags are the top settings layer (flags > env > file >
 * defaults); commander leaves unset flags undefined so lower layers show through.
 */
import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { ErrorCode, RtcAgentError } from '../errors.js';
import { createAgent, type Agent } from '../agent/index.js';
import { defaultSettings, loadSettings, type AgentSettings, type AgentSettingsInput } from '../config/agent-settings.js';
import type { CliContext } from './context.js';
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
}

/** Adds the shared agent flags to a command. */
export function addAgentFlags(cmd: Command): Command {
  return cmd
    .option('--hub <url>', 'hub URL, or several comma-separated hubs serving the same rooms to fail over between (default http://127.0.0.1:8080/hub; env RTC_AGENT_HUB_URL)')
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
    .option('--download-dir <dir>', 'where received files go (default ~/Downloads/rtc-agent)')
    .option('--no-accept-files', 'refuse files peers send')
    .option('--max-file-bytes <n>', 'largest file accepted', parsePositiveInt);
}

/** The settings layer the flags make (only what was given). */
export function settingsFromFlags(flags: AgentFlags): AgentSettingsInput {
  const s: AgentSettingsInput = {};
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
  if (flags.acceptFiles === false) s.acceptFiles = false;
  if (flags.maxFileBytes !== undefined) s.maxFileBytes = flags.maxFileBytes;
  return s;
}

/** Reads --room-secret-file (first line, trimmed); a secret on the command line shows up in `ps`. */
async function readSecretFile(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new RtcAgentError(ErrorCode.CONFIG, `--room-secret-file: cannot read ${file}: ${(err as Error).message}`, { cause: err, details: { setting: 'roomSecret' } });
  }
  const secret = text.split(/\r?\n/)[0]?.trim() ?? '';
  if (secret === '') throw new RtcAgentError(ErrorCode.CONFIG, `--room-secret-file: ${file} is empty`, { details: { setting: 'roomSecret' } });
  return secret;
}

/**
 * Resolves settings (flags > env > file > defaults), makes the root logger at the resolved level,
 * and connects an agent. The one way CLI commands start an agent.
 */
export async function startAgent(
  ctx: CliContext,
  flags: AgentFlags,
  options: { overrides?: AgentSettingsInput; defaults?: Partial<AgentSettings> } = {},
): Promise<Agent> {
  const fromFlags = settingsFromFlags(flags);
  if (flags.roomSecretFile !== undefined) fromFlags.roomSecret = await readSecretFile(flags.roomSecretFile);
  const settings = await loadSettings({
    options: { ...fromFlags, ...options.overrides },
    configFile: flags.config,
    optionsLabel: 'flags',
    // A command's own defaults (e.g. quieter logs for a terminal UI) sit below env and file.
    defaults: { ...defaultSettings(), ...options.defaults },
  });
  const logger = ctx.logger(settings.logLevel);
  return createAgent({ ...settings, logger, env: {} });
}
