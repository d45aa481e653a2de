/**
 * The I/O half of settings: finds and reads the JSON config file, then hands every layer to the
 * pure {@link resolveSettings}.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ErrorCode, RtcAgentError } from '../errors.js';
import { resolveSettingsWithSources, type ConfigFileLayer, type ResolvedSettings } from './resolve-settings.js';
import { CONFIG_FILE_ENV, defaultSettings, type AgentSettings, type AgentSettingsInput } from './settings-schema.js';

export interface LoadSettingsOptions {
  /** Explicit options or parsed flags: the highest layer. */
  options?: AgentSettingsInput | undefined;
  /** Environment to read `RTC_AGENT_*` from; `process.env` by default. */
  env?: NodeJS.ProcessEnv | undefined;
  /** JSON config file (`--config FILE`); else `RTC_AGENT_CONFIG`; else no file. */
  configFile?: string | undefined;
  /** What errors call the options layer (`options` by default; the CLI passes `flags`). */
  optionsLabel?: string | undefined;
  /** The defaults layer; {@link defaultSettings} by default. */
  defaults?: AgentSettings | undefined;
}

function fileError(message: string, path: string, cause?: unknown): RtcAgentError {
  return new RtcAgentError(ErrorCode.CONFIG, message, { cause, details: { source: 'file', file: path } });
}

/**
 * V8's JSON.parse messages quote the input (`Unexpected token 'a', "{"accessToken": abc}" is not
 * valid JSON`, or `..."ssToken": abc,"... is not valid JSON` when long), which could put a secret
 * in a log; keep the reason, and turn "at position N" into a line and column.
 */
function describeJsonError(err: unknown, text: string): string {
  const message = err instanceof Error ? err.message : String(err);
  const reason = message.replace(/,\s*(?:\.\.\.)?".*is not valid JSON$/s, '');
  const at = /(?:in JSON )?at position (\d+)(?: \(line \d+ column \d+\))?/.exec(reason);
  if (!at) return reason;
  const before = text.slice(0, Number(at[1]));
  const line = before.split('\n').length;
  const column = before.length - before.lastIndexOf('\n');
  return reason.replace(at[0], `at line ${line} column ${column}`);
}

/** Reads and parses a config file; errors name the file and never quote its content. */
export async function readConfigFile(file: string): Promise<ConfigFileLayer> {
  const path = resolve(file);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw fileError(`cannot read config file ${path}: ${code ?? (err as Error).message}`, path, err);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // editors on Windows save a BOM
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw fileError(`config file ${path}: not valid JSON (${describeJsonError(err, text)})`, path);
  }
  return { path, data };
}

/** The config file to read: the explicit one, else `RTC_AGENT_CONFIG`, else none. */
export function configFilePath(o: Pick<LoadSettingsOptions, 'configFile' | 'env'> = {}): string | undefined {
  const fromEnv = (o.env ?? process.env)[CONFIG_FILE_ENV]?.trim();
  return o.configFile ?? (fromEnv === '' ? undefined : fromEnv);
}

/** {@link loadSettings}, also telling where each value came from. */
export async function loadSettingsWithSources(o: LoadSettingsOptions = {}): Promise<ResolvedSettings> {
  const env = o.env ?? process.env;
  const path = configFilePath({ configFile: o.configFile, env });
  const file = path === undefined ? undefined : await readConfigFile(path);
  return resolveSettingsWithSources({
    defaults: o.defaults ?? defaultSettings(),
    file,
    env,
    options: o.options,
    optionsLabel: o.optionsLabel,
  });
}

/** Reads the config file (if any) and resolves options > env > file > defaults. */
export async function loadSettings(o: LoadSettingsOptions = {}): Promise<AgentSettings> {
  return (await loadSettingsWithSources(o)).settings;
}
