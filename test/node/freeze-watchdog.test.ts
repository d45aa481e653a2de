/**
 * The freeze watchdog (src/node/freeze-watchdog.ts) kills a process whose event loop has stopped
 * for good, and not one that was merely stopped as a whole (SIGSTOP): what lets a run that hit
 * libdatachannel's TURN deadlock go on (native-notes.md).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function start(mode: 'block' | 'idle', freezeMs: number) {
  const log = join(mkdtempSync(join(tmpdir(), 'freeze-')), 'freezes.jsonl');
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/freeze-child.ts', mode, String(freezeMs), log], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines: string[] = [];
  const waiters: (() => void)[] = [];
  createInterface({ input: child.stdout }).on('line', (l) => {
    lines.push(l);
    for (const w of waiters.splice(0)) w();
  });
  const line = async (text: string): Promise<void> => {
    while (!lines.includes(text)) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`child ended before "${text}": ${stderr}`);
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
    lines.splice(lines.indexOf(text), 1);
  };
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { child, log, line, exit, stderr: () => stderr };
}

describe('freeze watchdog', () => {
  it('kills a process whose event loop is blocked, naming what it was doing', async () => {
    const p = start('block', 1_000);
    await p.line('blocking');
    expect(await p.exit).toEqual({ code: null, signal: 'SIGKILL' });
    expect(p.stderr()).toContain('frozen, killing [mode block]');
    expect(JSON.parse(readFileSync(p.log, 'utf8').trim())).toEqual({ pid: p.child.pid, label: 'mode block' });
  });

  it('leaves alone a process stopped as a whole (SIGSTOP) for longer than the limit, and one that closed it', async () => {
    const p = start('idle', 1_000);
    await p.line('ready');
    p.child.kill('SIGSTOP');
    try {
      await new Promise((resolve) => setTimeout(resolve, 3_000)); // the stop is the scenario: 3 × the limit
    } finally {
      p.child.kill('SIGCONT');
    }
    p.child.stdin.write('ping\n');
    await p.line('alive');
    // Idle with the watchdog running (an unref'd worker must not hold the process), then exit by itself.
    p.child.stdin.write('exit\n');
    expect(await p.exit).toEqual({ code: 0, signal: null });
    expect(existsSync(p.log)).toBe(false);
  });
});
