/**
 * The one way CLI commands resolve settings and start an agent: flags > env > file > the command's
 * defaults > the CLI's defaults > the library's. Loaded lazily (it pulls in the agent, pino, SignalR
 * and the native binding), after a command's local checks passed.
 */
import { readFile } from 'node:fs/promises';
import { url as inspectorUrl } from 'node:inspector';
import { createAgent, type Agent, type AgentOptions } from '../agent/index.js';
import {
  defaultSettings,
  envNameOf,
  loadSettingsWithSources,
  type AgentSettings,
  type AgentSettingsInput,
  type ResolvedSettings,
  type SettingName,
  type SettingSourceKind,
} from '../config/agent-settings.js';
import { ErrorCode, RtcAgentError } from '../errors.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, fetchBlockedReason } from '../signaling/hub-client.js';
import { explainHubFailure } from './hub-diagnosis.js';
import { deadline } from '../util/deadline.js';
import { DEFAULT_FREEZE_KILL_MS, startFreezeWatchdog, type FreezeWatchdog } from '../node/freeze-watchdog.js';
import { FLAG_OF_SETTING, settingsFromFlags, type AgentFlags } from './agent-flags.js';
import type { CliContext } from './context.js';

/**
 * What the CLI changes in the library's defaults. Files are opt-in on the command line: a script
 * that pipes a room's messages should not also fill ~/Downloads with whatever anyone sends
 * (`--accept-files` or `--download-dir` asks for them; chat asks per file).
 */
export const CLI_DEFAULTS: Partial<AgentSettings> = { acceptFiles: false };

export interface StartOptions {
  /** Beat every layer (e.g. smoke's relay-only workers). */
  overrides?: AgentSettingsInput;
  /** The command's own defaults (e.g. a terminal UI's quieter logs); env and file still beat them. */
  defaults?: Partial<AgentSettings>;
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

/** Resolves the settings a command runs with, and where each came from. */
export async function resolveCliSettings(flags: AgentFlags, options: StartOptions = {}): Promise<ResolvedSettings> {
  const fromFlags = settingsFromFlags(flags);
  if (flags.roomSecretFile !== undefined) fromFlags.roomSecret = await readSecretFile(flags.roomSecretFile);
  try {
    return await loadSettingsWithSources({
      options: { ...fromFlags, ...options.overrides },
      configFile: flags.config,
      optionsLabel: 'flags',
      defaults: { ...defaultSettings(), ...CLI_DEFAULTS, ...options.defaults },
    });
  } catch (err) {
    throw nameTheFlag(err);
  }
}

/** "setting 'hubUrl' from flags …" → "setting 'hubUrl' from --hub …": say what the user typed. */
function nameTheFlag(err: unknown): unknown {
  if (!(err instanceof RtcAgentError) || err.code !== ErrorCode.CONFIG || err.details?.source !== 'options') return err;
  const setting = err.details.setting as keyof typeof FLAG_OF_SETTING | undefined;
  const flag = setting === undefined ? undefined : FLAG_OF_SETTING[setting];
  if (flag === undefined) return err;
  return new RtcAgentError(ErrorCode.CONFIG, err.message.replace(/ from flags\b/, ` from ${flag}`), { cause: err.cause, details: err.details });
}

/** Resolves settings, makes the root logger at the resolved level, and connects an agent. */
export async function startAgent(
  ctx: CliContext,
  flags: AgentFlags,
  options: StartOptions & Pick<AgentOptions, 'acceptFile' | 'signal' | 'logger'> & { resolved?: ResolvedSettings } = {},
): Promise<Agent> {
  const { settings, sources } = options.resolved ?? (await resolveCliSettings(flags, options));
  checkHubUrls(settings.hubUrl, sources.hubUrl);
  const logger = options.logger ?? (await ctx.logger(settings.logLevel));
  const extra: Pick<AgentOptions, 'acceptFile' | 'signal'> = {};
  if (options.acceptFile) extra.acceptFile = options.acceptFile;
  // A command's own signal (SIGINT) would replace the client's connect timeout: keep both, so a
  // hub that accepts and never answers is given up on, as without a signal.
  const connecting = deadline(DEFAULT_CONNECT_TIMEOUT_MS * settings.hubUrl.length, options.signal);
  if (options.signal) extra.signal = connecting.signal;
  try {
    const agent = await createAgent({ ...settings, ...extra, logger, env: {} });
    if (agent.native) watchForNativeFreeze();
    return agent;
  } catch (err) {
    if (options.signal?.aborted) throw err;
    throw await explainHubFailure(err, settings.hubUrl);
  } finally {
    connecting.dispose();
  }
}

let watchdog: FreezeWatchdog | undefined;

/**
 * A command with the native binding loaded can freeze for good in libdatachannel (a TURN-relayed
 * DTLS setup, native-notes.md): then it is killed after a minute, exit status 137, so a supervisor,
 * a CI job or a terminal gets it back instead of a process that hangs forever. Not under a
 * debugger, whose breakpoints stop the event loop too. Once per process, never stopped (it does
 * not hold the process up).
 */
function watchForNativeFreeze(): void {
  if (watchdog !== undefined || inspectorUrl() !== undefined) return;
  // RTC_AGENT_FREEZE_KILL_MS: another limit in ms, 0 for none (README, exit codes).
  const fromEnv = process.env.RTC_AGENT_FREEZE_KILL_MS;
  const freezeMs = fromEnv !== undefined && /^\d+$/.test(fromEnv) ? Number(fromEnv) : DEFAULT_FREEZE_KILL_MS;
  if (freezeMs === 0) return;
  watchdog = startFreezeWatchdog({
    freezeMs,
    message: `rtc-agent: the event loop has been blocked for ${freezeMs / 1000} s (most likely libdatachannel's TURN DTLS deadlock inside node-datachannel, see native-notes.md); killing the process (exit 137) so it can be restarted`,
  });
}

/** Where a setting came from, in the words a user knows it by. */
export function sourceText(name: SettingName, source: SettingSourceKind, configFile?: string): string {
  switch (source) {
    case 'options':
      return FLAG_OF_SETTING[name] ?? 'flags';
    case 'env':
      return `env ${envNameOf(name)}`;
    case 'file':
      return configFile === undefined ? 'the config file' : `config file ${configFile}`;
    default:
      return 'the default';
  }
}

/** A hub URL no SignalR client can reach (a port fetch() refuses) is bad input: exit 2 before trying. */
function checkHubUrls(urls: readonly string[], source: SettingSourceKind): void {
  for (const url of urls) {
    const blocked = fetchBlockedReason(url);
    if (blocked) throw new RtcAgentError(ErrorCode.CONFIG, `setting 'hubUrl' from ${sourceText('hubUrl', source)}: ${url}: ${blocked}`, { details: { setting: 'hubUrl' } });
  }
}
