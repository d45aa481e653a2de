/**
 * exit-after-close: does a process that used rtc-agent end by itself right after `close()`? Pairs
 * of agent processes (agent/exit-child.ts, one agent each, plain `node`, no IPC) join a room, send
 * one message over the relay (before P2P is up) and one over P2P, close, and are timed from
 * close() resolving (their own report) to their exit (seen here). The baseline is a process with a
 * bare node-datachannel pair that sends a message, closes its channels and connections and calls
 * cleanup(). A process still alive 15 s after close counts as hung and is killed.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { transform } from 'esbuild';
import { DIST_DIR } from '../agent/dist.js';
import { startServerChild, trackChild, type ServerChild } from '../lib/child.js';
import { round, summarize } from '../lib/stats.js';
import type { BenchContext, BenchModule, BenchResult, ResultRow } from '../lib/types.js';
import { removeTempDir } from '../lib/fs.js';

const HUB_SERVER = fileURLToPath(new URL('../servers/hub-server.ts', import.meta.url));
const CHILD_SOURCE = fileURLToPath(new URL('../agent/exit-child.ts', import.meta.url));
const SUBJECTS = ['raw-nd', 'agent'] as const;
type Subject = (typeof SUBJECTS)[number];
/** Issue 13's target for the median. */
const TARGET_MEDIAN_MS = 200;
/** After close() resolved, a process still alive this long is hung. */
const HUNG_AFTER_MS = 15_000;
/** From spawn to close(): joining, P2P, two messages; generous for a loaded machine. */
const RUN_TIMEOUT_MS = 60_000;

interface ProcessRun {
  subject: Subject;
  /** close() resolved → exit, ms; null when it never reported closing or hung. */
  exitMs: number | null;
  /** close() call → resolved, ms. */
  closeMs: number | null;
  hung: boolean;
  exitCode: number | null;
  signal: string | null;
  used: string | null;
  error?: string;
}

/** esbuild strips the types; the child imports nothing relative, so one file is the whole program. */
async function buildChild(dir: string): Promise<string> {
  const out = await transform(await readFile(CHILD_SOURCE, 'utf8'), { loader: 'ts', format: 'esm', target: 'node20', sourcefile: CHILD_SOURCE });
  const file = path.join(dir, 'exit-child.mjs');
  await writeFile(file, out.code);
  return file;
}

function runChild(script: string, args: string[], subject: Subject): Promise<ProcessRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    void trackChild(child);
    const events = new Map<string, number>();
    let used: string | null = null;
    let stderr = '';
    let hung = false;
    let hungTimer: NodeJS.Timeout | undefined;
    const runTimer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c: string) => (stderr = (stderr + c).slice(-4000)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const [event, at, ...rest] = line.split(' ');
      if (event && at) events.set(event, Number(at));
      if (event === 'used') used = rest.join(' ');
      if (event === 'closed') {
        clearTimeout(runTimer);
        hungTimer = setTimeout(() => {
          hung = true;
          child.kill('SIGKILL');
        }, HUNG_AFTER_MS);
      }
    });
    child.once('exit', (code, signal) => {
      const exitAt = performance.timeOrigin + performance.now();
      clearTimeout(runTimer);
      clearTimeout(hungTimer);
      const closed = events.get('closed');
      const closing = events.get('closing');
      const failed = code !== 0 || closed === undefined;
      resolve({
        subject,
        exitMs: closed === undefined || hung ? null : round(exitAt - closed, 1),
        closeMs: closed !== undefined && closing !== undefined ? round(closed - closing, 1) : null,
        hung,
        exitCode: code,
        signal,
        used,
        ...(failed && !hung ? { error: `exit ${code ?? signal} before/without close: ${stderr.trim().slice(-600)}` } : {}),
      });
    });
  });
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const pairs = ctx.quick ? 1 : 5;
  const rawProcesses = pairs * 2;
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'rtc-agent-exit-bench-'));
  const runs: ProcessRun[] = [];
  let hub: ServerChild | undefined;
  try {
    const script = await buildChild(tmp);
    hub = await startServerChild(HUB_SERVER, { args: ['--max-peers', '16'] });
    ctx.log(`hub: ${hub.url} (pid ${hub.pid}); ${pairs} agent pair(s), ${rawProcesses} raw process(es)`);
    for (let i = 0; i < Math.max(pairs, rawProcesses); i++) {
      // Alternate: a raw process, then (while there are pairs left) an agent pair.
      if (i < rawProcesses) {
        const r = await runChild(script, ['raw', DIST_DIR], 'raw-nd');
        runs.push(r);
        ctx.log(`  raw ${i + 1}: exit ${r.exitMs ?? '—'} ms after close${r.error ? ` FAILED ${r.error}` : ''}${r.hung ? ' HUNG' : ''}`);
      }
      if (i < pairs) {
        const room = `exit-${i}`;
        const both = await Promise.all(['a', 'b'].map((side) => runChild(script, ['agent', DIST_DIR, hub!.url, room, `exit-${i}-${side}`], 'agent')));
        runs.push(...both);
        ctx.log(`  agent pair ${i + 1}: exit ${both.map((r) => r.exitMs ?? '—').join(' / ')} ms after close (close() took ${both.map((r) => r.closeMs ?? '—').join(' / ')} ms)${both.some((r) => r.hung) ? ' HUNG' : ''}${both.map((r) => (r.error ? ` FAILED ${r.error}` : '')).join('')}`);
      }
    }
  } finally {
    await hub?.stop();
    await removeTempDir(tmp);
  }

  const of = (s: Subject): ProcessRun[] => runs.filter((r) => r.subject === s);
  const exits = (s: Subject): number[] => of(s).flatMap((r) => (r.exitMs === null ? [] : [r.exitMs]));
  const metric = (name: string, unit: string, value: (s: Subject) => number | null, informational = false): ResultRow => ({
    scenario: 'close → exit',
    metric: name,
    unit,
    higherIsBetter: false,
    ...(informational ? { informational } : {}),
    values: Object.fromEntries(SUBJECTS.map((s) => [s, value(s)])),
  });
  const stat = (s: Subject, pick: 'p50' | 'max'): number | null => (exits(s).length ? round(summarize(exits(s))[pick], 1) : null);
  const closeDurations = (s: Subject): number[] => of(s).flatMap((r) => (r.closeMs === null ? [] : [r.closeMs]));
  const rows: ResultRow[] = [
    metric('exit after close(), median', 'ms', (s) => stat(s, 'p50')),
    metric('exit after close(), slowest', 'ms', (s) => stat(s, 'max')),
    metric('processes', 'count', (s) => of(s).length, true),
    metric('hung (alive 15 s after close)', 'count', (s) => of(s).filter((r) => r.hung).length),
    metric('failed before close', 'count', (s) => of(s).filter((r) => r.error !== undefined).length, true),
    metric('close() itself, median', 'ms', (s) => (closeDurations(s).length ? round(summarize(closeDurations(s)).p50, 1) : null), true),
  ];
  const agentMedian = stat('agent', 'p50');
  const relayUsed = of('agent').filter((r) => r.used?.includes('relay-message-path=relay')).length;
  const notes = [
    `agent: pairs of processes, one agent each (dist/, loopback ICE, default close() with its 2 s flush bound), sharing a room on the hub (child process): join, one message sent before P2P is up (the relay carried it in ${relayUsed} of ${of('agent').length} processes), one over P2P, then close(); measured from close() resolving (the child's clock) to its exit (this process's clock, same machine).`,
    'raw-nd: one process with a bare node-datachannel pair (through dist/transport/native, no agent): open, one message, close the channels and connections, cleanup() (NATIVE-FACTS pitfall 4); measured from cleanup() returning.',
    'Children run with plain node (exit-child.ts transpiled by esbuild; no tsx loader, no IPC channel, stdin ignored) and never call process.exit().',
    `Target (issue 13): median exit after close() ≤ ${TARGET_MEDIAN_MS} ms over several processes that used P2P: ${agentMedian === null ? 'not measured' : `${agentMedian} ms (${agentMedian <= TARGET_MEDIAN_MS ? 'met' : 'NOT met'})`}.`,
  ];
  for (const r of runs) if (r.error) notes.push(`FAILED ${r.subject}: ${r.error}`);
  return {
    name: 'exit-after-close',
    title: 'Process exit after close(): agent processes that used P2P and the relay vs bare node-datachannel with cleanup()',
    subjects: [...SUBJECTS],
    baseline: 'raw-nd',
    ratios: [{ of: 'agent', to: 'raw-nd' }],
    rows,
    raw: { pairs, rawProcesses, runs },
    notes,
  };
}

export const exitAfterCloseBench: BenchModule = {
  name: 'exit-after-close',
  description: 'time from close() resolving to process exit: agent processes that used P2P and the relay vs bare node-datachannel with cleanup()',
  run,
};
