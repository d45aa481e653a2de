/**
 * Runs pair scenarios (throughput, ping-pong, file transfer) over subjects that live in worker
 * processes (agent/pair-worker.ts): one worker and one hub per build (this checkout's, and the
 * `--previous` one when a subject needs it), every pair opened before any measured round, rounds of
 * different subjects interleaved (A B C, C B A, ...) so load from the rest of the machine hits them
 * alike. Shared by agent-paths and p2p-vs-raw.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServerChild, type ServerChild } from '../lib/child.js';
import { formatProfileSummary, summarizeCpuProfile } from '../lib/cpuprofile.js';
import { round, summarize, type LatencySummary } from '../lib/stats.js';
import type { BenchContext } from '../lib/types.js';
import { startWorker, type WorkerHandle } from '../lib/worker.js';
import { NOISY_OTHER_PCT } from '../relay/scenarios.js';
import { sha256File, type FileRound, type ThroughputRound } from './measure.js';
import type { PairSpec, RttResult } from './pair-worker.js';
import { removeTempDir } from '../lib/fs.js';

const HUB_SERVER = fileURLToPath(new URL('../servers/hub-server.ts', import.meta.url));
const PAIR_WORKER = fileURLToPath(new URL('./pair-worker.ts', import.meta.url));

export type Build = 'current' | 'previous';

export interface SubjectDef {
  name: string;
  label: string;
  build: Build;
  /** hubProtocol: the agents' SignalR hub protocol (absent: the build's default). */
  pair: { kind: 'raw'; unreliable?: boolean } | { kind: 'agent'; e2ee: boolean; native: boolean; hubProtocol?: 'messagepack' | 'json' };
}

export interface PairScenario {
  id: string;
  title: string;
  kind: 'throughput' | 'rtt' | 'file';
  subjects: string[];
  /** Throughput/RTT payload; the params' default when absent. */
  payloadBytes?: number;
  /** RTT only: send with reliable: false and count lost pings. */
  unreliable?: boolean;
}

export interface PairParams {
  throughput: { warmupMs: number; measureMs: number; drainMs: number; rounds: number; payloadBytes: number };
  /**
   * `firstWarmup`: round trips before a subject's first round instead of `warmup`. The worker is
   * fresh then (V8's young generation still small, the code not optimised): with 200, and still
   * with 2000, round 1 of every subject, the bare channel's too, held half of its slow round trips.
   */
  rtt: { warmup: number; firstWarmup?: number; samples: number; rounds: number; payloadBytes: number };
  file: { bytes: number; rounds: number; timeoutMs: number };
}

export interface SubjectOutcome {
  throughput?: { rounds: ThroughputRound[]; median: ThroughputRound; clean: boolean };
  /**
   * `roundP99MedianUs`: the median of the rounds' own p99s. The pooled p99 is the slowest 1% of all
   * rounds together, which one burst of a busy machine during one subject's round decides.
   */
  rtt?: { samplesUs: number[]; summaryUs: LatencySummary; roundP99MedianUs: number; lost: number; agentHeartbeatRttMs?: number | undefined };
  file?: { rounds: FileRound[]; median: FileRound };
}

export interface PairRun {
  results: Map<string, Map<string, SubjectOutcome>>;
  failures: { scenario: string; subject: string; error: string }[];
  notes: string[];
  /** What each worker reported about its build (dist dir, frame constants, native version). */
  builds: Partial<Record<Build, { dir: string; frame: { dataHeaderBytes: number; sealOverheadBytes: number; chunkBytes: number }; native: string; pid: number }>>;
  details: string[];
}

/** `--rounds n`: n throughput and RTT rounds instead of a bench's defaults (more rounds: a steadier median and p99). */
export function withRounds(p: PairParams, rounds: number | null): PairParams {
  if (rounds === null) return p;
  return { ...p, throughput: { ...p.throughput, rounds }, rtt: { ...p.rtt, rounds } };
}

/** Median by `key`, of the rounds without CPU contention from other processes when there are any. */
export function medianRound<T extends { cpu: { otherPct: number | null } }>(rounds: T[], key: (r: T) => number): { median: T; clean: boolean } {
  const clean = rounds.filter((r) => r.cpu.otherPct === null || r.cpu.otherPct <= NOISY_OTHER_PCT);
  const pool = (clean.length ? clean : rounds).slice().sort((a, b) => key(a) - key(b));
  return { median: pool[Math.floor((pool.length - 1) / 2)] as T, clean: clean.length > 0 };
}

async function makeTempFile(dir: string, bytes: number): Promise<string> {
  const file = path.join(dir, `bench-${bytes}.bin`);
  const fh = await open(file, 'w');
  try {
    const block = 1024 * 1024;
    for (let at = 0; at < bytes; at += block) await fh.write(randomBytes(Math.min(block, bytes - at)));
  } finally {
    await fh.close();
  }
  return file;
}

async function profileDetails(label: string, dir: string): Promise<string[]> {
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.cpuprofile'));
  const summaries = await Promise.all(files.map(async (f) => ({ file: path.join(dir, f), summary: await summarizeCpuProfile(path.join(dir, f)) })));
  const main = summaries.sort((a, b) => b.summary.busyMs - a.summary.busyMs)[0];
  return main ? [formatProfileSummary(`${label} CPU profile (${main.file})`, main.summary)] : [];
}

export async function runPairScenarios(
  ctx: BenchContext,
  o: { bench: string; subjects: SubjectDef[]; scenarios: PairScenario[]; params: PairParams; hubArgs?: string[] },
): Promise<PairRun> {
  const p = o.params;
  const notes: string[] = [];
  const failures: PairRun['failures'] = [];
  const results = new Map<string, Map<string, SubjectOutcome>>();
  const byName = new Map(o.subjects.map((s) => [s.name, s]));
  const used = new Set(o.scenarios.flatMap((s) => s.subjects));
  const builds = new Set([...used].map((n) => (byName.get(n) as SubjectDef).build));
  if (builds.has('previous') && !ctx.previousDist) throw new Error(`${o.bench}: a subject needs --previous <dist dir>`);
  const distOf = (b: Build): string[] => (b === 'previous' ? ['--dist', ctx.previousDist as string] : []);
  const hubs = new Map<Build, ServerChild>();
  const workers = new Map<Build, WorkerHandle>();
  const opened = new Set<string>();
  const broken = new Set<string>();
  const tmp = await mkdtemp(path.join(os.tmpdir(), `rtc-agent-${o.bench}-`));
  const run: PairRun = { results, failures, notes, builds: {}, details: [] };
  const profileDir = (what: string): string | null => (ctx.cpuProfileDir ? path.join(ctx.cpuProfileDir, `${o.bench}-${what}`) : null);

  const hubOf = (s: SubjectDef): ServerChild => hubs.get(s.build) as ServerChild;
  const workerOf = (s: SubjectDef): WorkerHandle => workers.get(s.build) as WorkerHandle;
  const attempt = async <T>(scenario: string, name: string, body: (w: WorkerHandle, s: SubjectDef) => Promise<T>): Promise<T | null> => {
    if (broken.has(name)) return null;
    const s = byName.get(name) as SubjectDef;
    const w = workerOf(s);
    try {
      if (!opened.has(name)) {
        const spec: PairSpec = s.pair.kind === 'raw' ? { name, kind: 'raw', unreliable: s.pair.unreliable === true } : { name, kind: 'agent', hubUrl: hubOf(s).url, room: `bench-${name.replace(/[^a-zA-Z0-9-]/g, '-')}`, e2ee: s.pair.e2ee, native: s.pair.native, ...(s.pair.hubProtocol ? { hubProtocol: s.pair.hubProtocol } : {}) };
        const { ms } = await w.call<{ ms: number }>('open', spec, 60_000);
        opened.add(name);
        ctx.log(`${name}: ready in ${ms} ms (${s.build} build, worker pid ${w.pid})`);
      }
      return await body(w, s);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      failures.push({ scenario, subject: name, error: msg });
      ctx.log(`${scenario}/${name}: FAILED ${msg}`);
      // A pipe that failed mid-measurement may be wedged; do not reuse it.
      broken.add(name);
      await w.call('close', { name }, 30_000).catch(() => undefined);
      return null;
    }
  };

  try {
    for (const b of builds) {
      const hubProf = profileDir(`hub-${b}`);
      const hub = await startServerChild(HUB_SERVER, { args: ['--max-peers', '16', ...(o.hubArgs ?? []), ...distOf(b)], nodeArgs: hubProf ? ['--cpu-prof', `--cpu-prof-dir=${hubProf}`] : [] });
      hubs.set(b, hub);
      ctx.log(`hub (${b} build): ${hub.url} (pid ${hub.pid})`);
      const workerProf = profileDir(`peers-${b}`);
      const worker = await startWorker(PAIR_WORKER, `${o.bench}-${b}`, { args: distOf(b), nodeArgs: workerProf ? ['--cpu-prof', `--cpu-prof-dir=${workerProf}`] : [] });
      workers.set(b, worker);
      run.builds[b] = await worker.call('info');
      ctx.log(`peers (${b} build): worker pid ${worker.pid}, ${run.builds[b]?.dir}`);
    }

    for (const spec of o.scenarios) {
      ctx.log(`${spec.id}: ${spec.title}`);
      const bySubject = new Map<string, SubjectOutcome>();
      results.set(spec.id, bySubject);
      const outcome = (s: string): SubjectOutcome => {
        let x = bySubject.get(s);
        if (!x) bySubject.set(s, (x = {}));
        return x;
      };
      // Open every subject first, so setup is never inside a measured round.
      for (const s of spec.subjects) await attempt(spec.id, s, async () => undefined);
      const order = (r: number): string[] => (r % 2 === 0 ? spec.subjects : [...spec.subjects].reverse());

      if (spec.kind === 'throughput') {
        const payloadBytes = spec.payloadBytes ?? p.throughput.payloadBytes;
        const rounds = new Map<string, ThroughputRound[]>();
        for (let r = 0; r < p.throughput.rounds; r++) {
          for (const s of order(r)) {
            const res = await attempt(spec.id, s, (w, def) =>
              w.call<ThroughputRound>('throughput', { name: s, payloadBytes, warmupMs: p.throughput.warmupMs, measureMs: p.throughput.measureMs, drainMs: p.throughput.drainMs, hubPid: hubOf(def).pid }, p.throughput.warmupMs + p.throughput.measureMs + p.throughput.drainMs + 30_000),
            );
            if (!res) continue;
            rounds.set(s, [...(rounds.get(s) ?? []), res]);
            ctx.log(`  ${s} round ${r + 1}: ${res.mbps} MB/s, peers CPU ${res.cpu.benchPct}% (JS thread ${res.cpu.jsThreadPct ?? '?'}%, ${res.cpuUsPerMessage} µs/msg), hub ${res.cpu.hubPct ?? '?'}%, other ${res.cpu.otherPct ?? '?'}%`);
            if (res.undelivered !== 0) notes.push(`${spec.id}/${s} round ${r + 1}: ${res.undelivered} of ${res.sent} messages not received after the drain wait.`);
          }
        }
        const contended: string[] = [];
        for (const [s, rs] of rounds) {
          if (broken.has(s)) continue;
          const { median, clean } = medianRound(rs, (x) => x.mbps);
          if (!clean) contended.push(s);
          outcome(s).throughput = { rounds: rs, median, clean };
        }
        if (contended.length) notes.push(`${spec.id}: every round of ${contended.join(', ')} shared the CPU with other processes (> ${NOISY_OTHER_PCT}% of a core); numbers are contended.`);
      } else if (spec.kind === 'rtt') {
        const samples = new Map<string, { us: number[]; roundP99s: number[]; lost: number; hb: number | undefined }>();
        for (let r = 0; r < p.rtt.rounds; r++) {
          for (const s of order(r)) {
            const res = await attempt(spec.id, s, (w) =>
              w.call<RttResult>('rtt', { name: s, payloadBytes: spec.payloadBytes ?? p.rtt.payloadBytes, warmup: r === 0 ? (p.rtt.firstWarmup ?? p.rtt.warmup) : p.rtt.warmup, samples: p.rtt.samples, unreliable: spec.unreliable === true }, 300_000),
            );
            if (!res) continue;
            const have = samples.get(s) ?? { us: [], roundP99s: [], lost: 0, hb: undefined };
            const sum = summarize(res.samplesUs);
            samples.set(s, { us: [...have.us, ...res.samplesUs], roundP99s: [...have.roundP99s, sum.p99], lost: have.lost + res.lost, hb: res.agentHeartbeatRttMs });
            ctx.log(`  ${s} round ${r + 1}: p50 ${round(sum.p50, 0)} µs, p99 ${round(sum.p99, 0)} µs${spec.unreliable ? `, ${res.lost} lost` : ''}`);
          }
        }
        for (const [s, x] of samples) {
          if (broken.has(s)) continue;
          const summaryUs = summarize(x.us);
          outcome(s).rtt = {
            samplesUs: x.us.map((v) => round(v, 1)),
            summaryUs: Object.fromEntries(Object.entries(summaryUs).map(([k, v]) => [k, round(v, 1)])) as unknown as LatencySummary,
            roundP99MedianUs: round(summarize(x.roundP99s).p50, 1),
            lost: x.lost,
            agentHeartbeatRttMs: x.hb,
          };
        }
      } else {
        const file = await makeTempFile(tmp, p.file.bytes);
        const sha = await sha256File(file);
        const rounds = new Map<string, FileRound[]>();
        for (let r = 0; r < p.file.rounds; r++) {
          for (const s of order(r)) {
            const res = await attempt(spec.id, s, (w, def) => w.call<FileRound>('file', { name: s, file, bytes: p.file.bytes, sha256: sha, hubPid: hubOf(def).pid, timeoutMs: p.file.timeoutMs }, p.file.timeoutMs + 30_000));
            if (!res) continue;
            rounds.set(s, [...(rounds.get(s) ?? []), res]);
            ctx.log(`  ${s} round ${r + 1}: ${res.mbps} MB/s (${res.ms} ms), peers CPU ${res.cpu.benchPct}% (JS thread ${res.cpu.jsThreadPct ?? '?'}%), hub ${res.cpu.hubPct ?? '?'}%, other ${res.cpu.otherPct ?? '?'}%`);
          }
        }
        await rm(file, { force: true });
        for (const [s, rs] of rounds) {
          if (broken.has(s)) continue;
          outcome(s).file = { rounds: rs, median: medianRound(rs, (x) => x.mbps).median };
        }
      }
    }
  } finally {
    await Promise.all([...workers.values()].map((w) => w.stop()));
    await Promise.all([...hubs.values()].map((h) => h.stop()));
    await removeTempDir(tmp);
  }
  for (const [b, hub] of hubs) {
    const tail = hub.stderrTail().trim();
    if (tail) notes.push(`hub (${b} build) stderr (tail): ${tail.slice(-1500)}`);
  }
  for (const b of builds) {
    for (const what of [`hub-${b}`, `peers-${b}`]) {
      const dir = profileDir(what);
      if (dir) run.details.push(...(await profileDetails(`${what} build`, dir).catch((err: unknown) => [`profile summary failed: ${String(err)}`])));
    }
  }
  return run;
}
