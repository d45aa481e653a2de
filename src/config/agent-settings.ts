/**
 * The agent's settings: the public face of src/config. Types and the settings table come from
 * settings-schema.ts, merging from resolve-settings.ts, file reading from load-settings.ts.
 */
import { SETTINGS } from './settings-schema.js';

export {
  CONFIG_FILE_ENV,
  DEFAULT_AGENT_NAME,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_HUB_URL,
  DEFAULT_ICE_CONNECTION_TIMEOUT_MS,
  DEFAULT_MAX_RECONNECT_ATTEMPTS,
  DEFAULT_RECONNECT_INTERVAL_MS,
  DEFAULT_SEND_TIMEOUT_MS,
  DEFAULT_STUN_SERVERS,
  ENV_PREFIX,
  SETTINGS,
  SETTING_NAMES,
  defaultSettings,
  envNameOf,
  type AgentSettings,
  type AgentSettingsInput,
  type IcePortRange,
  type IceTransportPolicy,
  type LogLevel,
  type SettingName,
  type SettingSpec,
} from './settings-schema.js';
export {
  resolveSettings,
  resolveSettingsWithSources,
  type ConfigFileLayer,
  type ResolvedSettings,
  type SettingSourceKind,
  type SettingsLayers,
} from './resolve-settings.js';
export { configFilePath, loadSettings, loadSettingsWithSources, readConfigFile, type LoadSettingsOptions } from './load-settings.js';
export { redactSettings } from './redact.js';

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** The settings as a markdown table (README, `--help`); generated so docs cannot drift from code. */
export function settingsTable(): string {
  const rows = SETTINGS.map((s) => `| \`${s.name}\` | \`${s.env}\` | ${cell(s.type)} | ${cell(s.default)} | ${cell(s.description)} |`);
  return ['| Setting | Environment variable | Type | Default | Description |', '|---|---|---|---|---|', ...rows].join('\n');
}
