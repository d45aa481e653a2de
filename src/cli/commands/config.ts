/**
 * `rtc-agent config`: the settings an agent command would run with, and where each value came from
 * (a flag, an env variable, the config file, the default), secrets hidden. Takes the agent flags,
 * so `rtc-agent config --hub … --e2ee` shows what `rtc-agent chat --hub … --e2ee` would use.
 */
import { Command } from 'commander';
import { addAgentFlags, type AgentFlags } from '../agent-flags.js';
import type { CliContext } from '../context.js';

interface ConfigFlags extends AgentFlags {
  json?: boolean;
}

function show(value: unknown): string {
  if (value === undefined) return '–';
  if (Array.isArray(value)) return value.length === 0 ? '(none)' : value.join(',');
  if (typeof value === 'object' && value !== null) return JSON.stringify(value);
  return String(value);
}

export function makeConfigCommand(ctx: CliContext): Command {
  const cmd = new Command('config').option('--json', 'print {configFile, settings: {name: {value, source}}} instead of a table');
  addAgentFlags(cmd).addHelpText('after', '\nSources, highest first: flags, RTC_AGENT_* env variables, the config file (--config or RTC_AGENT_CONFIG), defaults.');
  return cmd.action(async (flags: ConfigFlags) => {
    const { CLI_DEFAULTS, resolveCliSettings, sourceText } = await import('../start-agent.js');
    const { SETTING_NAMES, configFilePath, redactSettings, envNameOf } = await import('../../config/agent-settings.js');
    const { formatTable } = await import('../terminal.js');
    const { settings, sources } = await resolveCliSettings(flags);
    const configFile = configFilePath({ configFile: flags.config });
    const shown = redactSettings(settings) as unknown as Record<string, unknown>;
    const rows = SETTING_NAMES.map((name) => {
      const source = sources[name];
      const where = source === 'default' && Object.hasOwn(CLI_DEFAULTS, name) ? 'the CLI default' : sourceText(name, source, configFile);
      return { name, value: shown[name], source: where, env: envNameOf(name) };
    });
    if (flags.json) {
      const out = Object.fromEntries(rows.map((r) => [r.name, { value: r.value ?? null, source: r.source, env: r.env }]));
      ctx.stdout.write(`${JSON.stringify({ configFile: configFile ?? null, settings: out })}\n`);
      return;
    }
    ctx.stdout.write(formatTable(['SETTING', 'VALUE', 'SOURCE'], rows.map((r) => [r.name, show(r.value), r.source]), { rule: true }));
    ctx.stdout.write(`config file: ${configFile ?? 'none (--config FILE or RTC_AGENT_CONFIG)'}\n`);
  });
}
