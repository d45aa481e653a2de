/**
 * mesh: how long a room of N agent processes takes to become a full P2P mesh. N processes
 * (agent/mesh-member.ts, one agent each) connect to one hub first; then all are told to join one
 * room at the same moment (t0), and each reports when it lists every other member and when all of
 * them are on P2P. Mesh formation = the last member's "all on P2P" − t0. Bounded per mesh; a mesh
 * that is not complete by then is reported with how many of its links came up.
 */
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { startServerChild, type ServerChild } from '../lib/child.js';
import { machineBusyMs, pidCpuMs, selfCpuMs, threadCpuByName, threadDelta } from '../lib/cpu.js';
import { round, summarize } from '../lib/stats.js';
import type { BenchContext, BenchModule, BenchResult, ResultRow } from '../lib/types.js';
import { startWorker, type WorkerHandle } from '../lib/worker.js';
import { loadDist } from '../agent/dist.js';
import { loadNativeLink, nativeLinkMesh } from '../agent/native-link-pair.js';

const HUB_SERVER = fileURLToPath(new URL('../servers/hub-server.ts', import.meta.url));
const MEMBER = fileURLToPath(new URL('../agent/mesh-member.ts', import.meta.url));
/** Processes started at once: each compiles the bench through tsx and loads the build. */
const START_BATCH = 4;

interface MemberStats {
  peers: number;
  p2p: number;
  p2pFailures: number;
  failureReasons: Record<string, number>;
  rssBytes: number;
  heapUsedBytes: number;
  formationCpu: { ms: number; threads: Record<string, number> } | null;
}

interface MeshRun {
  members: number;
  phase: 'cold' | 'warm';
  startMs: number;
  t0: number;
  joinedMs: number[];
  seenAllMs: (number | null)[];
  meshedMs: (number | null)[];
  complete: boolean;
  timeoutMs: number;
  stats: (MemberStats | null)[];
  otherPct: number | null;
  /** The hub process's CPU during formation. */
  hubCpuMs: number | null;
  /** The same n(n-1)/2 links set up at once in one process, no hub (bench/agent/native-link-pair.ts). */
  floor?: { ms: number | null; opened: number; failed: number; cpuMs: number; threads: Record<string, number> };
  error?: string;
}

/**
 * Starts n members, then forms a mesh twice with them: `cold` (the first room of fresh processes:
 * every code path runs for the first time, as after a bot's start) and, after all left it,
 * `warm` (the same processes in a second room: what a long-running agent pays).
 */
async function meshOnce(ctx: BenchContext, hub: ServerChild, n: number, timeoutMs: number): Promise<MeshRun[]> {
  const workers: WorkerHandle[] = [];
  const runs: MeshRun[] = [];
  let startMs = 0;
  let current: { run: MeshRun; remaining: number; done: () => void } | null = null;
  try {
    const s0 = performance.now();
    for (let i = 0; i < n; i += START_BATCH) {
      await Promise.all(
        Array.from({ length: Math.min(START_BATCH, n - i) }, async (_, k) => {
          const w = await startWorker(MEMBER, `mesh-${n}-${i + k}`, { stderrPrefix: null, startTimeoutMs: 60_000 });
          const index = workers.push(w) - 1;
          w.onEvent((name, data) => {
            const c = current;
            if (!c) return;
            const at = (data as { at: number }).at - c.run.t0;
            if (name === 'seen-all') c.run.seenAllMs[index] = round(at, 1);
            if (name === 'meshed' && c.run.meshedMs[index] === null) {
              c.run.meshedMs[index] = round(at, 1);
              if (--c.remaining === 0) c.done();
            }
          });
          await w.call('connect', { hubUrl: hub.url, name: `m${i + k}`, ...(ctx.cpuProfileDir ? { profileDir: ctx.cpuProfileDir } : {}) }, 60_000);
        }),
      );
      ctx.log(`  mesh-${n}: ${workers.length}/${n} processes connected`);
    }
    startMs = round(performance.now() - s0, 0);
    for (const phase of ['cold', 'warm'] as const) {
      const run: MeshRun = { members: n, phase, startMs, t0: 0, joinedMs: [], seenAllMs: Array(n).fill(null), meshedMs: Array(n).fill(null), complete: false, timeoutMs, stats: [], otherPct: null, hubCpuMs: null };
      runs.push(run);
      const room = `mesh-${n}-${phase}`;
      try {
        const allMeshed = new Promise<void>((resolve) => (current = { run, remaining: n, done: resolve }));
        const m0 = machineBusyMs();
        const h0 = pidCpuMs(hub.pid);
        run.t0 = performance.timeOrigin + performance.now();
        const wall0 = performance.now();
        const joins = await Promise.all(workers.map((w) => w.call<{ startedAt: number; joinedAt: number }>('join', { room, expect: n - 1 }, timeoutMs)));
        run.joinedMs = joins.map((j) => round(j.joinedAt - run.t0, 1));
        const progress = setInterval(() => ctx.log(`  mesh-${n} ${phase}: ${n - (current?.remaining ?? 0)}/${n} members on P2P to all others after ${Math.round((performance.now() - wall0) / 1000)} s`), 5_000);
        try {
          const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), Math.max(0, timeoutMs - (performance.now() - wall0))).unref());
          run.complete = (await Promise.race([allMeshed.then(() => 'ok' as const), timer])) === 'ok';
        } finally {
          clearInterval(progress);
        }
        const m1 = machineBusyMs();
        const h1 = pidCpuMs(hub.pid);
        run.hubCpuMs = h0 === null || h1 === null ? null : h1 - h0;
        // Whole-machine busy %, members and hub included: with n processes forming links, that is the point.
        run.otherPct = m0 === null || m1 === null ? null : round(((m1 - m0) / (performance.now() - wall0)) * 100, 1);
        run.stats = await Promise.all(workers.map((w) => w.call<MemberStats>('stats', { room }, 10_000).catch(() => null)));
        current = null;
        ctx.log(`mesh-${n} ${phase}: ${run.complete ? `complete after ${Math.round(Math.max(...run.meshedMs.map((x) => x ?? Number.NaN)))} ms` : 'NOT complete'}`);
        if (!run.complete) break;
        await Promise.all(workers.map((w) => w.call('leave', { room }, 30_000)));
      } catch (err) {
        run.error = err instanceof Error ? err.message : String(err);
        ctx.log(`  mesh-${n} ${phase}: FAILED ${run.error}`);
        break;
      }
    }
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    ctx.log(`  mesh-${n}: FAILED ${error}`);
    if (runs.length === 0) runs.push({ members: n, phase: 'cold', startMs, t0: 0, joinedMs: [], seenAllMs: [], meshedMs: [], complete: false, timeoutMs, stats: [], otherPct: null, hubCpuMs: null, error });
  } finally {
    current = null;
    await Promise.all(workers.map((w) => w.stop(15_000)));
  }
  return runs;
}

/** The scenario of a run: `mesh-16` for fresh processes, `mesh-16-warm` for their second room. */
function meshId(r: MeshRun): string {
  return r.phase === 'cold' ? `mesh-${r.members}` : `mesh-${r.members}-warm`;
}

/** Per-thread-name CPU summed over members, largest first, as "name 123 ms". */
function threadSummary(threads: Record<string, number>[]): string {
  const sum = new Map<string, number>();
  for (const t of threads) for (const [k, v] of Object.entries(t)) sum.set(k, (sum.get(k) ?? 0) + v);
  return [...sum].filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${Math.round(v)} ms`).join(', ');
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const sizes = ctx.quick ? [4, 8] : [8, 16, 32];
  const chosen = ctx.scenarios.length ? sizes.filter((n) => ctx.scenarios.includes(`mesh-${n}`)) : sizes;
  if (chosen.length === 0) throw new Error(`no scenario matches ${ctx.scenarios.join(', ')}; have ${sizes.map((n) => `mesh-${n}`).join(', ')}`);
  const runs: MeshRun[] = [];
  let hub: ServerChild | undefined;
  const dist = await loadDist();
  const status = await dist.native.acquireNative();
  if (!status.available) throw new Error(`node-datachannel unavailable: ${status.reason}`);
  const floorLinks = await loadNativeLink();
  const floorLog = dist.api.silentLogger();
  try {
    hub = await startServerChild(HUB_SERVER, { args: ['--max-peers', '64'] });
    ctx.log(`hub: ${hub.url} (pid ${hub.pid})`);
    for (const n of chosen) {
      // Links to form grow as n²; the bound grows with them (and with a loaded 2-core machine).
      const timeoutMs = Math.max(30_000, n * n * 150);
      ctx.log(`mesh-${n}: ${n} agent processes, ${(n * (n - 1)) / 2} links, bound ${Math.round(timeoutMs / 1000)} s`);
      const phases = await meshOnce(ctx, hub, n, timeoutMs);
      runs.push(...phases);
      // The floor, with the members gone: the same links in this one process, no hub.
      const c0 = selfCpuMs();
      const t0 = threadCpuByName();
      const floor = await nativeLinkMesh(floorLinks, status, floorLog, { pairs: (n * (n - 1)) / 2, timeoutMs });
      const withCpu = { ...floor, cpuMs: round(selfCpuMs() - c0, 0), threads: threadDelta(t0, threadCpuByName()) };
      for (const r of phases) r.floor = withCpu;
      ctx.log(`mesh-${n} floor: ${floor.opened} NativeLink pairs open${floor.ms === null ? `, ${floor.failed} failed` : ` after ${Math.round(floor.ms)} ms`}`);
    }
  } finally {
    await hub?.stop();
    dist.native.releaseNative();
  }

  const rows: ResultRow[] = [];
  const metric = (scenario: string, name: string, unit: string, value: number | null, informational = false, higherIsBetter = false): ResultRow => ({
    scenario,
    metric: name,
    unit,
    higherIsBetter,
    ...(informational ? { informational } : {}),
    values: { agent: value === null || !Number.isFinite(value) ? null : value, 'links-floor': null },
  });
  for (const r of runs) {
    const id = meshId(r);
    const links = (r.members * (r.members - 1)) / 2;
    const p2pSides = r.stats.reduce((n, s) => n + (s?.p2p ?? 0), 0);
    const meshed = r.meshedMs.filter((x): x is number => x !== null);
    const seen = r.seenAllMs.filter((x): x is number => x !== null);
    const rss = r.stats.flatMap((s) => (s ? [s.rssBytes / 1024 / 1024] : []));
    const formed = metric(id, 'every member on P2P to all (mesh formed)', 'ms', r.complete ? round(Math.max(...meshed), 1) : null);
    formed.values['links-floor'] = r.floor?.ms == null ? null : round(r.floor.ms, 1);
    rows.push(
      formed,
      metric(id, 'median member on P2P to all', 'ms', meshed.length ? round(summarize(meshed).p50, 1) : null),
      metric(id, 'every member lists all others', 'ms', seen.length === r.members ? round(Math.max(...seen), 1) : null),
      metric(id, 'slowest join()', 'ms', r.joinedMs.length ? round(Math.max(...r.joinedMs), 1) : null),
      metric(id, 'links on P2P (both ends)', `of ${links}`, round(p2pSides / 2, 1), true, true),
      metric(id, 'failed P2P attempts (each member counts its own)', 'count', r.stats.reduce((n, s) => n + (s?.p2pFailures ?? 0), 0), true),
      metric(id, 'member RSS, median', 'MiB', rss.length ? round(summarize(rss).p50, 1) : null, true),
      metric(id, 'processes started + connected', 'ms', r.startMs, true),
      metric(id, 'machine busy during formation', '% core', r.otherPct, true),
    );
    const cpu = r.stats.flatMap((s) => (s?.formationCpu ? [s.formationCpu.ms] : []));
    const allCpu = metric(id, 'CPU: members (join to meshed, all) + hub', 'ms', cpu.length === r.members ? round(cpu.reduce((a, b) => a + b, 0) + (r.hubCpuMs ?? 0), 0) : null, true);
    allCpu.values['links-floor'] = r.floor?.cpuMs ?? null;
    rows.push(allCpu, metric(id, 'CPU: hub during formation', 'ms', r.hubCpuMs, true), metric(id, 'CPU: member, median', 'ms', cpu.length ? round(summarize(cpu).p50, 0) : null, true));
  }
  const notes = [
    'agent: one agent per process (bench/agent/mesh-member.ts, dist/, loopback ICE, E2EE off), all on one hub (child process, --max-peers 64). Processes are started and connected first; then every member is told to join the same room at t0 (IPC, back to back), and reports with its own wall clock when it lists every other member and when all of them are on P2P.',
    `Each mesh has n(n-1)/2 links, so the offerers negotiate them all at once; bound per mesh: max(30 s, n² × 150 ms). A mesh not complete within it shows "—" and how many links came up.`,
    'links-floor: after each mesh, the same n(n-1)/2 links as NativeLink pairs (the agent\'s link layer, answerer as DTLS server) set up all at once in the bench process and kept open until the last one is — no hub, signals on the next turn, no agent processes: what this machine needs for the handshakes alone. A pair that fails is not retried (the row then shows "—" and the note says how many).',
    `On this machine all n processes, the hub and the bench share ${os.cpus().length} cores: mesh-32 is 32 Node processes plus 496 PeerConnection pairs, so its time is mostly CPU contention. "machine busy" is the whole machine's CPU (members included) during formation.`,
    'mesh-N is the first room of fresh processes (every code path of the agent, the SignalR client and MessagePack runs, and is compiled, for the first time in each of them); mesh-N-warm is the same processes forming a second mesh in another room after all left the first: what long-running agents pay.',
    'CPU rows: each member\'s own CPU from its join() to its "meshed" (all its threads), plus the hub\'s during formation; links-floor: the bench process\'s CPU while it set up the floor\'s links. The notes split both by thread name: "node (main)" is JavaScript (and the native calls it makes), "RTC worker", "juice poll" and "SCTP timer" are libdatachannel\'s, other "node" threads are V8\'s compiler and GC helpers. With --cpu-prof, every member writes a V8 profile of each formation to the profile directory.',
  ];
  for (const r of runs) {
    const reasons: Record<string, number> = {};
    for (const st of r.stats) for (const [k, v] of Object.entries(st?.failureReasons ?? {})) reasons[k] = (reasons[k] ?? 0) + v;
    if (Object.keys(reasons).length) notes.push(`${meshId(r)}: why P2P attempts failed (as the members saw it): ${JSON.stringify(reasons)}.`);
    const threads = r.stats.flatMap((s) => (s?.formationCpu ? [s.formationCpu.threads] : []));
    if (threads.length) notes.push(`${meshId(r)}: members' CPU by thread, summed: ${threadSummary(threads)}.`);
    if (r.floor && r.phase === 'cold') notes.push(`mesh-${r.members} links-floor: CPU by thread: ${threadSummary([r.floor.threads])}.`);
    if (r.floor && r.phase === 'cold' && r.floor.failed > 0) notes.push(`mesh-${r.members} links-floor: ${r.floor.failed} of ${(r.members * (r.members - 1)) / 2} NativeLink pairs did not open (${r.floor.opened} did).`);
    if (r.error) notes.push(`FAILED ${meshId(r)}: ${r.error}`);
    else if (!r.complete) notes.push(`${meshId(r)}: not complete after ${r.timeoutMs / 1000} s (${r.meshedMs.filter((x) => x !== null).length}/${r.members} members had all peers on P2P).`);
  }
  return {
    name: 'mesh',
    title: 'Mesh formation: N agent processes join one room, time until every agent reports P2P to every other',
    subjects: ['agent', 'links-floor'],
    baseline: 'links-floor',
    ratios: [{ of: 'agent', to: 'links-floor' }],
    rows,
    raw: { runs },
    notes,
  };
}

export const meshBench: BenchModule = {
  name: 'mesh',
  description: 'mesh formation for 8/16/32 agent processes in one room: time until every agent reports P2P to every other; scenarios mesh-8, mesh-16, mesh-32',
  run,
};
