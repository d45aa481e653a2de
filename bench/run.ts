/**
 * Bench runner: `npm run bench [-- --only hub-relay] [--quick] [--cpu-prof] [--previous DIR] [--list]`.
 * Runs each selected bench module, prints its table and writes bench/results/<name>.json.
 * Exits by itself: servers are stopped by the benches, and a per-bench watchdog kills anything left.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { BENCHES } from './benches/index.js';
import { killAllServerChildren } from './lib/child.js';
import { formatTable, RESULTS_DIR, writeResultJson } from './lib/report.js';
import type { BenchContext } from './lib/types.js';

interface Args {
  only: string[];
  scenarios: string[];
  quick: boolean;
  cpuProf: boolean;
  list: boolean;
  timeoutS: number;
  previous: string | null;
  rounds: number | null;
}

const USAGE =
  'usage: run.ts [--only <bench>[,<bench>]]... [--scenario <id>[,<id>]]... [--quick] [--cpu-prof] [--previous <dist dir>] [--rounds <n>] [--timeout <seconds per bench>] [--list]';

/** Per bench, not per run: a full run of every bench takes far longer, but no single bench should. */
const DEFAULT_BENCH_TIMEOUT_S = 900;

function parseArgs(argv: string[]): Args {
  const args: Args = { only: [], scenarios: [], quick: false, cpuProf: false, list: false, timeoutS: DEFAULT_BENCH_TIMEOUT_S, previous: null, rounds: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value\n${USAGE}`);
      return v;
    };
    if (a === '--only') args.only.push(...value().split(',').filter(Boolean));
    else if (a.startsWith('--only=')) args.only.push(...a.slice('--only='.length).split(',').filter(Boolean));
    else if (a === '--scenario') args.scenarios.push(...value().split(',').filter(Boolean));
    else if (a === '--quick') args.quick = true;
    else if (a === '--cpu-prof') args.cpuProf = true;
    else if (a === '--list') args.list = true;
    else if (a === '--timeout') args.timeoutS = Number(value());
    else if (a === '--previous') args.previous = path.resolve(value());
    else if (a === '--rounds') args.rounds = Number(value());
    else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}\n${USAGE}`);
  }
  if (!(args.timeoutS > 0)) throw new Error('--timeout must be a positive number of seconds');
  if (args.rounds !== null && !(Number.isInteger(args.rounds) && args.rounds > 0)) throw new Error('--rounds must be a positive integer');
  if (args.previous !== null && !existsSync(path.join(args.previous, 'index.js'))) {
    throw new Error(`--previous ${args.previous}: no index.js there; give the dist directory of a built checkout (e.g. git archive 9560670 | tar -x -C /tmp/rtc-agent-before, then npx tsc -p tsconfig.json there)`);
  }
  return args;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (args.list) {
    for (const b of BENCHES) console.log(`${b.name.padEnd(16)} ${b.description}`);
    return 0;
  }
  const unknown = args.only.filter((n) => !BENCHES.some((b) => b.name === n));
  if (unknown.length) throw new Error(`unknown bench ${unknown.join(', ')}; known: ${BENCHES.map((b) => b.name).join(', ')}`);
  const selected = args.only.length ? BENCHES.filter((b) => args.only.includes(b.name)) : BENCHES;

  // Per-bench watchdog: a hung server or client must not keep `npm run bench` alive forever.
  let watchdog: NodeJS.Timeout | undefined;
  const armWatchdog = (name: string): void => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => {
      console.error(`bench: watchdog fired after ${args.timeoutS} s in ${name}; killing servers`);
      killAllServerChildren();
      process.exit(124);
    }, args.timeoutS * 1000);
    watchdog.unref();
  };

  let cpuProfileDir: string | null = null;
  if (args.cpuProf) {
    cpuProfileDir = path.join(RESULTS_DIR, 'profiles', new Date().toISOString().replace(/[:.]/g, '-'));
    await mkdir(cpuProfileDir, { recursive: true });
  }
  const ctx: BenchContext = {
    quick: args.quick,
    cpuProfileDir,
    scenarios: args.scenarios,
    previousDist: args.previous,
    rounds: args.rounds,
    log: (line) => process.stderr.write(`[bench] ${line}\n`),
  };

  let failed = 0;
  for (const bench of selected) {
    ctx.log(`== ${bench.name}: ${bench.description}`);
    armWatchdog(bench.name);
    const t0 = performance.now();
    try {
      const result = await bench.run(ctx);
      console.log(`\n${formatTable(result)}\n`);
      ctx.log(`${bench.name} took ${Math.round((performance.now() - t0) / 1000)} s`);
      const runOptions = { quick: args.quick, scenarios: args.scenarios, cpuProfileDir, previousDist: args.previous, rounds: args.rounds, argv: process.argv.slice(2) };
      ctx.log(`wrote ${await writeResultJson(result, runOptions)}`);
    } catch (err) {
      failed++;
      console.error(`bench ${bench.name} failed:`, err);
    }
  }
  clearTimeout(watchdog);
  if (cpuProfileDir) ctx.log(`CPU profiles in ${cpuProfileDir}`);
  return failed ? 1 : 0;
}

let code = 1;
try {
  code = await main();
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
} finally {
  killAllServerChildren();
}
// Explicit exit: client libraries may leave timers behind; the bench must still end.
process.exit(code);
