/**
 * Merges the settings layers — explicit options > env `RTC_AGENT_*` > config file > defaults — and
 * validates every value it sees, naming the setting and where it came from. Pure and synchronous:
 * reading the file is load-settings.ts's job.
 */
import { ErrorCode, RtcAgentError } from '../errors.js';
import { maskCredentials, showValue } from './redact.js';
import { SETTING_NAMES, SPECS, envNameOf, type AgentSettings, type AgentSettingsInput, type SettingName } from './settings-schema.js';
import { signalingMismatch } from './signaling.js';
import { closestName } from './suggest.js';
import { Invalid, typeName, type ValueKind } from './value-kinds.js';

/** Where a resolved value came from. */
export type SettingSourceKind = 'default' | 'file' | 'env' | 'options';

/** A config file's parsed JSON and its path (for messages). */
export interface ConfigFileLayer {
  path: string;
  data: unknown;
}

export interface SettingsLayers {
  defaults: AgentSettings;
  file?: ConfigFileLayer | undefined;
  env?: NodeJS.ProcessEnv | undefined;
  options?: AgentSettingsInput | undefined;
  /** What errors call the options layer: `options` by default; the CLI passes `flags`. */
  optionsLabel?: string | undefined;
}

export interface ResolvedSettings {
  settings: AgentSettings;
  /** For each setting, the layer its value came from (`default` also for settings left unset). */
  sources: Record<SettingName, SettingSourceKind>;
}

interface Source {
  kind: SettingSourceKind;
  /** Reads after "from": `env RTC_AGENT_HUB_URL`, `config file /etc/agent.json`, `options`. */
  text: string;
  details: Record<string, unknown>;
}

function configError(message: string, source: Source, setting?: string): RtcAgentError {
  return new RtcAgentError(ErrorCode.CONFIG, message, {
    details: { ...(setting === undefined ? {} : { setting }), ...source.details },
  });
}

/** Runs a kind's parser and turns its {@link Invalid} into the user-facing error. */
function parseValue<T>(name: SettingName, source: Source, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (!(err instanceof Invalid)) throw err;
    const got = err.hasGot ? `, got ${showValue(err.got, SPECS[name].secret === true)}` : '';
    throw configError(`setting '${name}' from ${source.text} ${err.why}${got}`, source, name);
  }
}

function kindOf(name: SettingName): ValueKind<unknown> {
  return SPECS[name].kind as ValueKind<unknown>;
}

function isSettingName(key: string): key is SettingName {
  return Object.hasOwn(SPECS, key);
}

/** A file's or the options' values, keyed by setting; unknown keys are errors. */
function readObjectLayer(data: unknown, source: Source, into: Map<SettingName, [unknown, Source]>): void {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    const what = source.kind === 'file' ? 'must contain a JSON object of settings' : 'must be an object of settings';
    throw configError(`${source.text}: ${what}, got ${typeName(data)}`, source);
  }
  for (const [key, value] of Object.entries(data)) {
    if (!isSettingName(key)) {
      const near = closestName(key, SETTING_NAMES);
      const hint = near === undefined ? '' : ` (did you mean '${near}'?)`;
      throw configError(`${source.text}: unknown setting '${maskCredentials(key).slice(0, 80)}'${hint}`, source, key);
    }
    if (value === undefined || value === null) continue;
    into.set(key, [parseValue(key, source, () => kindOf(key).check(value)), source]);
  }
}

/** Known `RTC_AGENT_*` variables; others are ignored (the CLI uses some for its own purposes). */
function readEnvLayer(env: NodeJS.ProcessEnv, into: Map<SettingName, [unknown, Source]>): void {
  for (const name of SETTING_NAMES) {
    const envVar = envNameOf(name);
    const raw = env[envVar]?.trim();
    if (raw === undefined || raw === '') continue; // empty = unset, as `VAR= cmd` means in a shell
    const source: Source = { kind: 'env', text: `env ${envVar}`, details: { source: 'env', envVar } };
    into.set(name, [parseValue(name, source, () => kindOf(name).fromEnv(raw)), source]);
  }
}

/** Rules that span settings; each error names the setting that was given and where. */
function checkCombinations(s: AgentSettings, from: Map<SettingName, Source>): void {
  const fail = (name: SettingName, why: string): never => {
    const source = from.get(name) ?? { kind: 'default', text: 'defaults', details: { source: 'default' } };
    throw configError(`setting '${name}' from ${source.text} ${why}`, source, name);
  };
  if ((s.turnUsername === undefined) !== (s.turnPassword === undefined)) {
    const [given, missing] = s.turnUsername === undefined ? (['turnPassword', 'turnUsername'] as const) : (['turnUsername', 'turnPassword'] as const);
    fail(given, `needs '${missing}' too (give both or neither)`);
  }
  if (s.turnUsername !== undefined && s.turnUrl === undefined) {
    fail('turnUsername', "needs 'turnUrl' (TURN credentials without a TURN server do nothing)");
  }
  if (s.iceTransportPolicy === 'relay' && s.turnUrl === undefined) {
    fail('iceTransportPolicy', "is 'relay' but 'turnUrl' is not set (relay means TURN only)");
  }
  const mismatch = signalingMismatch(s);
  if (mismatch !== undefined) fail('signaling', mismatch);
}

function copyValue(value: unknown): unknown {
  if (Array.isArray(value)) return [...(value as unknown[])];
  if (typeof value === 'object' && value !== null) return { ...value };
  return value;
}

/** {@link resolveSettings}, also telling where each value came from (for `settings show`). */
export function resolveSettingsWithSources(layers: SettingsLayers): ResolvedSettings {
  const given = new Map<SettingName, [unknown, Source]>();
  // Lowest precedence first: later layers overwrite earlier ones. Every layer is validated in full,
  // so a bad file entry is reported even when env or options override it.
  if (layers.file !== undefined) {
    const path = layers.file.path;
    readObjectLayer(layers.file.data, { kind: 'file', text: `config file ${path}`, details: { source: 'file', file: path } }, given);
  }
  if (layers.env !== undefined) readEnvLayer(layers.env, given);
  if (layers.options !== undefined) {
    const label = layers.optionsLabel ?? 'options';
    readObjectLayer(layers.options, { kind: 'options', text: label, details: { source: 'options' } }, given);
  }

  const out: Record<string, unknown> = {};
  const sources = {} as Record<SettingName, SettingSourceKind>;
  const from = new Map<SettingName, Source>();
  for (const name of SETTING_NAMES) {
    const hit = given.get(name);
    const value = hit === undefined ? layers.defaults[name] : hit[0];
    if (value !== undefined) out[name] = copyValue(value);
    sources[name] = hit === undefined ? 'default' : hit[1].kind;
    if (hit !== undefined) from.set(name, hit[1]);
  }
  const settings = out as unknown as AgentSettings;
  checkCombinations(settings, from);
  return { settings, sources };
}

/**
 * Merges and validates the layers: options > env > file > defaults, per setting (a list given in
 * a higher layer replaces the lower one's). Throws RtcAgentError(CONFIG) naming the setting and
 * its source; secret values are never shown.
 */
export function resolveSettings(layers: SettingsLayers): AgentSettings {
  return resolveSettingsWithSources(layers).settings;
}
