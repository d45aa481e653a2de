/**
 * `rtc-agent doctor`: is this machine ready to run agents? Node version, the native binding, the
 * hub (a real Join/Leave), STUN and TURN servers from the settings. A table (or --json); exit 0 when
 * no check failed, 1 otherwise. Warnings (relay-only fallback, no credentials) do not fail.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { loadSettings } from '../../config/agent-settings.js';
import { silentLogger } from '../../log/logger.js';
import type { CliContext } from '../context.js';
import { addAgentFlags, settingsFromFlags, type AgentFlags } from '../agent-flags.js';
import { checkHub, checkNative, checkNode, checkStun, checkTurn, type CheckRow } from '../doctor/checks.js';
import { renderTable } from '../doctor/table.js';
import { ExitCode } from '../exit-codes.js';
import { parsePositiveInt } from '../parse.js';

interface DoctorFlags extends AgentFlags {
  json?: boolean;
  checkTimeout: number;
}

export interface DoctorReport {
  ok: boolean;
  version: string;
  hub: string;
  checks: CheckRow[];
}

export function makeDoctorCommand(ctx: CliContext): Command {
  const cmd = new Command('doctor').description('check the native binding, the hub, and the STUN/TURN servers from the settings');
  addAgentFlags(cmd)
    .option('--json', 'print one JSON object instead of a table')
    .option('--check-timeout <ms>', 'time limit of each network check', parsePositiveInt, 5_000)
    .action(async (flags: DoctorFlags) => {
      const settings = await loadSettings({ options: settingsFromFlags(flags), configFile: flags.config, optionsLabel: 'flags' });
      // The hub check's client logs nothing unless asked: its failures are the row's detail.
      const log = flags.logLevel !== undefined ? ctx.logger(flags.logLevel) : silentLogger();
      const timeout = flags.checkTimeout;
      const [native, hub, stun, turn] = await Promise.all([
        checkNative(settings),
        checkHub(settings, timeout, log.child({ component: 'doctor' })),
        checkStun(settings, timeout),
        checkTurn(settings, timeout),
      ]);
      const checks = [checkNode(), native, hub, ...stun, turn];
      const report: DoctorReport = { ok: checks.every((c) => c.status !== 'fail'), version: packageVersion(), hub: settings.hubUrl.join(','), checks };
      if (flags.json) ctx.stdout.write(`${JSON.stringify(report)}\n`);
      else ctx.stdout.write(renderDoctor(report));
      process.exitCode = report.ok ? ExitCode.OK : ExitCode.FAILURE;
    });
  return cmd;
}

const MARK: Record<CheckRow['status'], string> = { ok: 'ok', warn: 'WARN', fail: 'FAIL', skip: '-' };

export function renderDoctor(report: DoctorReport): string {
  const table = renderTable(
    ['CHECK', 'STATUS', 'DETAIL'],
    report.checks.map((c) => [c.check, MARK[c.status], c.detail]),
  );
  const failed = report.checks.filter((c) => c.status === 'fail').length;
  const warned = report.checks.filter((c) => c.status === 'warn').length;
  return `${table}\n${failed === 0 ? 'no problems found' : `${failed} check(s) failed`}${warned > 0 ? `, ${warned} warning(s)` : ''}\n`;
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}
