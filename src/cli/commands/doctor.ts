/**
 * `rtc-agent doctor`: is this machine ready to run agents? Node version, the native binding, the
 * hub (a real Join/Leave), STUN and TURN servers from the settings. A table (or --json); exit 0 when
 * no check failed; when the hub check failed, the code every command uses for it (3 unreachable,
 * 4 token refused); 1 when another check failed. Warnings (relay-only fallback, no credentials)
 * do not fail.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import type { CliContext } from '../context.js';
import { addAgentFlags, settingsFromFlags, type AgentFlags } from '../agent-flags.js';
import type { CheckRow } from '../doctor/checks.js';
import { ErrorCode, RtcAgentError } from '../../errors.js';
import { ExitCode, exitCodeForError } from '../exit-codes.js';
import { parsePositiveInt } from '../parse.js';
import { formatTable } from '../terminal.js';

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
  const cmd = new Command('doctor');
  addAgentFlags(cmd)
    .option('--json', 'print one JSON object instead of a table')
    .option('--check-timeout <ms>', 'time limit of each network check', parsePositiveInt, 5_000)
    .action(async (flags: DoctorFlags) => {
      const { loadSettings } = await import('../../config/agent-settings.js');
      const { silentLogger } = await import('../../log/logger.js');
      const { checkHub, checkNative, checkNode, checkStun, checkTurn } = await import('../doctor/checks.js');
      const settings = await loadSettings({ options: settingsFromFlags(flags), configFile: flags.config, optionsLabel: 'flags' });
      // The hub check's client logs nothing unless asked: its failures are the row's detail.
      const log = flags.logLevel !== undefined ? await ctx.logger(flags.logLevel) : silentLogger();
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
      process.exitCode = doctorExitCode(report);
    });
  return cmd;
}

/** 0 when nothing failed; the hub's own code (3, 4) when it failed; else 1. */
export function doctorExitCode(report: DoctorReport): number {
  if (report.ok) return ExitCode.OK;
  const hub = report.checks.find((c) => c.check === 'hub' && c.status === 'fail');
  if (hub?.code !== undefined) {
    const code = exitCodeForError(new RtcAgentError(hub.code as ErrorCode, hub.detail));
    if (code !== ExitCode.FAILURE) return code;
  }
  return ExitCode.FAILURE;
}

const MARK: Record<CheckRow['status'], string> = { ok: 'ok', warn: 'WARN', fail: 'FAIL', skip: '-' };

export function renderDoctor(report: DoctorReport): string {
  const table = formatTable(
    ['CHECK', 'STATUS', 'DETAIL'],
    report.checks.map((c) => [c.check, MARK[c.status], c.detail]),
    { rule: true },
  );
  const failed = report.checks.filter((c) => c.status === 'fail').length;
  const warned = report.checks.filter((c) => c.status === 'warn').length;
  return `${table}\n${failed === 0 ? 'no problems found' : `${failed} check(s) failed`}${warned > 0 ? `, ${warned} warning(s)` : ''}\n`;
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}
