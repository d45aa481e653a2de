/**
 * `rtc-agent smoke`: an end-to-end check for CI. Starts an embedded hub unless --hub is given, runs
 * N agents as separate processes in one room, and checks that every pair connects (P2P, or relay
 * with --relay-only) and delivers numbered messages both ways. Exit codes: 0 pass, 3 hub
 * unreachable, 4 auth refused, 5 signaling timeout, 6 P2P failed, 7 delivery loss (1 anything else).
 * `smoke --worker` (hidden) is one of those agent processes.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Hub } from '../../hub/server.js';
import type { CliContext, StopReason } from '../context.js';
import { addAgentFlags, settingsFromFlags, takeRoomUri, type AgentFlags } from '../agent-flags.js';
import { ExitCode, stopExitCode } from '../exit-codes.js';
import { parsePositiveInt, parseRoom } from '../parse.js';

export const MAX_SMOKE_PEERS = 16;

interface SmokeFlags extends AgentFlags {
  peers: number;
  room?: string;
  timeout: number;
  relayOnly?: boolean;
  json?: boolean;
  junit?: string;
  messages: number;
  worker?: boolean;
}

function parsePeers(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 2 || n > MAX_SMOKE_PEERS) throw new InvalidArgumentError(`must be an integer from 2 to ${MAX_SMOKE_PEERS}`);
  return n;
}

/** Seconds: `30` or `30s`. */
function parseSeconds(value: string): number {
  const m = /^(\d+)s?$/.exec(value);
  if (!m || Number(m[1]) <= 0) throw new InvalidArgumentError('must be a positive number of seconds, e.g. 30 or 30s');
  return Number(m[1]);
}

export function makeSmokeCommand(ctx: CliContext): Command {
  const cmd = new Command('smoke');
  addAgentFlags(cmd)
    .addOption(new Option('--peers <n>', `agents to run, 2-${MAX_SMOKE_PEERS}`).argParser(parsePeers).default(2))
    .option('--room <room>', 'room to meet in (default: a random smoke-<hex>)', parseRoom)
    .addOption(new Option('--timeout <seconds>', 'time limit of the whole test').argParser(parseSeconds).default(30))
    .option('--relay-only', 'agents do not load the native binding; every pair must work over the hub relay')
    .option('--json', 'print one JSON report on stdout instead of a table')
    .option('--junit <file>', 'also write a JUnit XML report to this file')
    .addOption(new Option('--messages <n>', 'numbered messages each agent sends to each other agent').argParser(parsePositiveInt).default(20))
    .addOption(new Option('--worker', 'internal: run one smoke agent driven over stdin/stdout').hideHelp())
    .action(async (flags: SmokeFlags) => {
      if (flags.worker) return (await import('../smoke/worker.js')).runWorker(ctx);
      await smoke(ctx, flags);
    });
  return cmd;
}

async function smoke(ctx: CliContext, flags: SmokeFlags): Promise<void> {
  const { loadSettingsWithSources } = await import('../../config/agent-settings.js');
  const { startHub } = await import('../../hub/server.js');
  const { renderJunit, renderSmoke } = await import('../smoke/report.js');
  const { runSmoke } = await import('../smoke/run.js');
  // --hub webrtc://HOST:PORT/ROOM: that hub, and that room unless --room names it.
  const uriRoom = takeRoomUri(flags, undefined, flags.room);
  if (uriRoom !== undefined) flags.room = uriRoom;
  // Bad settings fail here with exit code 2, before any process starts.
  const { settings, sources } = await loadSettingsWithSources({ options: settingsFromFlags(flags), configFile: flags.config, optionsLabel: 'flags' });
  const logs = flags.logLevel !== undefined;
  const abort = new AbortController();
  void ctx.untilSignal().then((reason) => abort.abort(reason));
  // --hub, RTC_AGENT_HUB_URL or the config file name a hub to test; otherwise smoke brings its own.
  let hub: Hub | undefined;
  if (sources.hubUrl === 'default') hub = await startHub({ host: '127.0.0.1', port: 0, logger: await ctx.logger(flags.logLevel ?? 'warn') });
  const agentFlags: AgentFlags = { ...flags };
  for (const k of ['peers', 'room', 'timeout', 'relayOnly', 'json', 'junit', 'messages', 'worker'] as const) delete (agentFlags as Partial<SmokeFlags>)[k];
  let outcome;
  try {
    outcome = await runSmoke({
      hubUrl: hub?.url ?? settings.hubUrl.join(','),
      embeddedHub: hub !== undefined,
      room: flags.room ?? `smoke-${randomBytes(4).toString('hex')}`,
      peers: flags.peers,
      timeoutMs: flags.timeout * 1000,
      relayOnly: flags.relayOnly === true,
      messages: flags.messages,
      pings: 5,
      flags: agentFlags,
      version: packageVersion(),
      ...(logs ? { forwardStderr: ctx.stderr } : {}),
      signal: abort.signal,
    });
  } finally {
    await hub?.close();
  }
  const { report } = outcome;
  if (flags.junit !== undefined) await writeFile(flags.junit, renderJunit(report, outcome.connectFailure, outcome.pairsTested));
  if (flags.json) ctx.stdout.write(`${JSON.stringify(report)}\n`);
  else ctx.stdout.write(renderSmoke(report));
  if (abort.signal.aborted && report.exitCode === ExitCode.FAILURE) {
    ctx.stderr.write('rtc-agent: smoke test interrupted\n');
    process.exitCode = stopExitCode(abort.signal.reason as StopReason);
    return;
  }
  process.exitCode = report.exitCode;
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}
