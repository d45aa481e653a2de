/**
 * agent-paths: what the agent's own layers cost on each path, against bare node-datachannel.
 *
 *   raw-nd       two bare node-datachannel peers, one reliable DataChannel, bufferedAmount high/low marks
 *   agent        two agents (dist/), P2P, E2EE off, room.send with its own backpressure
 *   agent-e2ee   same with enableE2ee + roomSecret (each agent its own identity file)
 *   agent-relay  two agents with tryNative: false: everything through the hub
 *
 * Both peers of every subject run in this process (same for raw and agents: fair, but on 2 cores
 * both peers share one event loop and compete for CPU). The hub runs once, in a child process.
 * ICE is loopback only (127.0.0.1, no STUN). Rounds of different subjects are interleaved.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openAgentPair, type AgentPair } from '../agent/agent-pair.js';
import { loadDist, type Dist } from '../agent/dist.js';
import { fileRound, rttRound, sha256File, throughputRound, type FileRound, type ThroughputRound } from '../agent/measure.js';
import type { Pipe } from '../agent/pipe.js';
import { openRawPair, RAW_HIGH_WATER_BYTES, RAW_LOW_WATER_BYTES } from '../agent/raw-nd.js';
import { startServerChild, type ServerChild } from '../lib/child.js';
import { formatProfileSummary, summarizeCpuProfile } from '../lib/cpuprofile.js';
import { round, summarize, type LatencySummary } from '../lib/stats.js';
import type { BenchContext, BenchModule, BenchResult, ResultRow } from '../lib/types.js';
import { NOISY_OTHER_PCT } from '../relay/scenarios.js';

const HUB_SERVER = fileURLToPath(new URL('../servers/hub-server.ts', import.meta.url));

const SUBJECTS = ['raw-nd', 'agent', 'agent-e2ee', 'agent-relay'] as const;
type Subject = (typeof SUBJECTS)[number];

const LABELS: Record<Subject, string> = {
  'raw-nd': `bare node-datachannel pair, one reliable DC, sender pauses above ${RAW_HIGH_WATER_BYTES / 1024} KiB buffered, resumes on bufferedAmountLow at ${RAW_LOW_WATER_BYTES / 1024} KiB`,
  agent: 'two agents, P2P (native DataChannels), E2EE off, await room.send(data, { to })',
  'agent-e2ee': 'two agents, P2P, enableE2ee + roomSecret (AES-256-GCM per frame)',
  'agent-relay': 'two agents with tryNative: false: every frame through the hub (child process)',
};

type Kind = 'throughput' | 'rtt' | 'file';

interface Scenario {
  id: string;
  title: string;
  kind: Kind;
  subjects: Subject[];
  /** Throughput payload: 16384 B, or the largest that fits ONE agent frame even with E2EE. */
  payload?: 'full' | 'one-frame';
}

const SCENARIOS: Scenario[] = [
  { id: 'p2p-throughput-16KiB', title: 'one-way 16 KiB messages, P2P', kind: 'throughput', subjects: ['raw-nd', 'agent', 'agent-e2ee'] },
  {
    id: 'p2p-throughput-1frame',
    title: 'one-way messages that fit one agent frame (16 KiB minus header and E2EE seal), P2P',
    kind: 'throughput',
    subjects: ['raw-nd', 'agent', 'agent-e2ee'],
    payload: 'one-frame',
  },
  { id: 'p2p-rtt-64B', title: 'ping-pong 64 B, P2P', kind: 'rtt', subjects: ['raw-nd', 'agent', 'agent-e2ee'] },
  { id: 'relay-throughput-16KiB', title: 'one-way 16 KiB messages, relay vs P2P', kind: 'throughput', subjects: ['agent', 'agent-relay'] },
  { id: 'relay-rtt-64B', title: 'ping-pong 64 B, relay vs P2P', kind: 'rtt', subjects: ['agent', 'agent-relay'] },
  { id: 'file-transfer', title: 'room.sendFile of a random temp file, P2P / P2P+E2EE / relay', kind: 'file', subjects: ['agent', 'agent-e2ee', 'agent-relay'] },
];

interface Params {
  throughput: { warmupMs: number; measureMs: number; drainMs: number; rounds: number; payloadBytes: number };
  rtt: { warmup: number; samples: number; rounds: number; payloadBytes: number };
  file: { bytes: number; rounds: number; timeoutMs: number };
}

function params(quick: boolean): Params {
  return quick
    ? {
        throughput: { warmupMs: 300, measureMs: 1_000, drainMs: 15_000, rounds: 1, payloadBytes: 16 * 1024 },
        rtt: { warmup: 100, samples: 500, rounds: 1, payloadBytes: 64 },
        file: { bytes: 16 * 1024 * 1024, rounds: 1, timeoutMs: 60_000 },
      }
    : {
        throughput: { warmupMs: 500, measureMs: 2_500, drainMs: 15_000, rounds: 5, payloadBytes: 16 * 1024 },
        // 2 interleaved rounds of 1000 = 2000 round trips per subject, each round after its own warm-up.
        rtt: { warmup: 200, samples: 1_000, rounds: 2, payloadBytes: 64 },
        file: { bytes: 64 * 1024 * 1024, rounds: 3, timeoutMs: 120_000 },
      };
}

interface SubjectOutcome {
  throughput?: { rounds: ThroughputRound[]; median: ThroughputRound };
  rtt?: { samplesUs: number[]; summaryUs: LatencySummary; agentHeartbeatRttMs?: number | undefined };
  file?: { rounds: FileRound[]; median: FileRound };
}

/** Median by `key`, of the rounds without CPU contention from other processes when there are any. */
function medianRound<T extends { cpu: { otherPct: number | null } }>(rounds: T[], key: (r: T) => number): { median: T; clean: boolean } {
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

async function hubProfileDetails(dir: string): Promise<string[]> {
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.cpuprofile'));
  const summaries = await Promise.all(files.map(async (f) => ({ file: path.join(dir, f), summary: await summarizeCpuProfile(path.join(dir, f)) })));
  const main = summaries.sort((a, b) => b.summary.busyMs - a.summary.busyMs)[0];
  return main ? [formatProfileSummary(`hub CPU profile (${main.file})`, main.summary)] : [];
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const p = params(ctx.quick);
  const specs = ctx.scenarios.length ? SCENARIOS.filter((s) => ctx.scenarios.includes(s.id)) : SCENARIOS;
  if (specs.length === 0) throw new Error(`no scenario matches ${ctx.scenarios.join(', ')}; have ${SCENARIOS.map((s) => s.id).join(', ')}`);

  const notes: string[] = [];
  const failures: { scenario: string; subject: string; error: string }[] = [];
  const results = new Map<string, Map<Subject, SubjectOutcome>>();
  const payloadSizes: Record<string, number> = {};
  const dist: Dist = await loadDist();
  // Hold one reference on the native binding for the whole bench: the last releaseNative() calls
  // node-datachannel's process-wide cleanup(), which would also close the raw pair's connections.
  const nativeStatus = await dist.native.acquireNative();
  if (!nativeStatus.available) throw new Error(`node-datachannel unavailable: ${nativeStatus.reason}`);
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'rtc-agent-bench-'));
  const pipes = new Map<Subject, Pipe>();
  const broken = new Set<Subject>();
  let hub: ServerChild | undefined;
  let hubProfileDir: string | null = null;

  const getPipe = async (s: Subject): Promise<Pipe | null> => {
    if (broken.has(s)) return null;
    const have = pipes.get(s);
    if (have) return have;
    const t0 = performance.now();
    let pipe: Pipe;
    if (s === 'raw-nd') pipe = await openRawPair(nativeStatus, 'raw-nd');
    else {
      if (!hub) throw new Error('hub not running');
      pipe = await openAgentPair(dist, s, {
        hubUrl: hub.url,
        room: `bench-${s}`,
        dir: path.join(tmp, s),
        e2ee: s === 'agent-e2ee',
        native: s !== 'agent-relay',
        logLevel: 'warn',
      });
    }
    ctx.log(`${s}: ready in ${Math.round(performance.now() - t0)} ms`);
    pipes.set(s, pipe);
    return pipe;
  };
  const attempt = async <T>(scenario: string, s: Subject, body: (pipe: Pipe) => Promise<T>): Promise<T | null> => {
    try {
      const pipe = await getPipe(s);
      if (!pipe) return null;
      return await body(pipe);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      failures.push({ scenario, subject: s, error: msg });
      ctx.log(`${scenario}/${s}: FAILED ${msg}`);
      // A pipe that failed mid-measurement may be wedged; do not reuse it.
      broken.add(s);
      const pipe = pipes.get(s);
      pipes.delete(s);
      await pipe?.close().catch(() => undefined);
      return null;
    }
  };

  try {
    hubProfileDir = ctx.cpuProfileDir ? path.join(ctx.cpuProfileDir, 'agent-paths-hub') : null;
    hub = await startServerChild(HUB_SERVER, { args: ['--max-peers', '16'], nodeArgs: hubProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${hubProfileDir}`] : [] });
    ctx.log(`hub: ${hub.url} (pid ${hub.pid})`);
    const hubPid = hub.pid;

    for (const spec of specs) {
      ctx.log(`${spec.id}: ${spec.title}`);
      const bySubject = new Map<Subject, SubjectOutcome>();
      results.set(spec.id, bySubject);
      const outcome = (s: Subject): SubjectOutcome => {
        let o = bySubject.get(s);
        if (!o) bySubject.set(s, (o = {}));
        return o;
      };
      // Open every subject first, so setup is never inside a measured round.
      for (const s of spec.subjects) await attempt(spec.id, s, async () => undefined);
      const order = (r: number): Subject[] => (r % 2 === 0 ? spec.subjects : [...spec.subjects].reverse());

      if (spec.kind === 'throughput') {
        const payloadBytes = spec.payload === 'one-frame' ? dist.frame.chunkBytes - dist.frame.dataHeaderBytes - dist.frame.sealOverheadBytes : p.throughput.payloadBytes;
        payloadSizes[spec.id] = payloadBytes;
        const payload = randomBytes(payloadBytes);
        const rounds = new Map<Subject, ThroughputRound[]>();
        for (let r = 0; r < p.throughput.rounds; r++) {
          for (const s of order(r)) {
            const res = await attempt(spec.id, s, (pipe) => throughputRound(pipe, { payload, ...p.throughput }, hubPid));
            if (!res) continue;
            rounds.set(s, [...(rounds.get(s) ?? []), res]);
            ctx.log(`  ${s} round ${r + 1}: ${res.mbps} MB/s, bench CPU ${res.cpu.benchPct}% (JS thread ${res.cpu.jsThreadPct ?? '?'}%, ${res.cpuUsPerMessage} µs/msg), hub ${res.cpu.hubPct ?? '?'}%, other ${res.cpu.otherPct ?? '?'}%`);
            if (res.undelivered !== 0) notes.push(`${spec.id}/${s} round ${r + 1}: ${res.undelivered} of ${res.sent} messages not received after the drain wait.`);
          }
        }
        for (const [s, rs] of rounds) {
          if (broken.has(s)) continue;
          const { median, clean } = medianRound(rs, (x) => x.mbps);
          if (!clean) notes.push(`${spec.id}/${s}: every round shared the CPU with other processes (> ${NOISY_OTHER_PCT}% of a core); numbers are contended.`);
          outcome(s).throughput = { rounds: rs, median };
        }
      } else if (spec.kind === 'rtt') {
        const payload = randomBytes(p.rtt.payloadBytes);
        const samples = new Map<Subject, number[]>();
        for (let r = 0; r < p.rtt.rounds; r++) {
          for (const s of order(r)) {
            const res = await attempt(spec.id, s, (pipe) => rttRound(pipe, payload, p.rtt.warmup, p.rtt.samples));
            if (!res) continue;
            samples.set(s, [...(samples.get(s) ?? []), ...res]);
            const sum = summarize(res);
            ctx.log(`  ${s} round ${r + 1}: p50 ${round(sum.p50, 0)} µs, p99 ${round(sum.p99, 0)} µs`);
          }
        }
        for (const [s, us] of samples) {
          if (broken.has(s)) continue;
          const pipe = pipes.get(s) as (Pipe & Partial<AgentPair>) | undefined;
          const summaryUs = summarize(us);
          outcome(s).rtt = {
            samplesUs: us.map((x) => round(x, 1)),
            summaryUs: Object.fromEntries(Object.entries(summaryUs).map(([k, v]) => [k, round(v, 1)])) as unknown as LatencySummary,
            agentHeartbeatRttMs: pipe?.roomA?.peer(pipe.idB ?? '')?.rttMs,
          };
        }
      } else {
        const file = await makeTempFile(tmp, p.file.bytes);
        const sha = await sha256File(file);
        const rounds = new Map<Subject, FileRound[]>();
        for (let r = 0; r < p.file.rounds; r++) {
          for (const s of order(r)) {
            const res = await attempt(spec.id, s, (pipe) => fileRound(pipe as AgentPair, file, p.file.bytes, sha, hubPid, p.file.timeoutMs));
            if (!res) continue;
            rounds.set(s, [...(rounds.get(s) ?? []), res]);
            ctx.log(`  ${s} round ${r + 1}: ${res.mbps} MB/s (${res.ms} ms), bench CPU ${res.cpu.benchPct}% (JS thread ${res.cpu.jsThreadPct ?? '?'}%), hub ${res.cpu.hubPct ?? '?'}%, other ${res.cpu.otherPct ?? '?'}%`);
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
    await Promise.all([...pipes.values()].map((pipe) => pipe.close().catch((err: unknown) => ctx.log(`close ${pipe.name}: ${String(err)}`))));
    dist.native.releaseNative();
    await hub?.stop();
    await rm(tmp, { recursive: true, force: true });
  }
  const hubTail = hub?.stderrTail().trim();
  if (hubTail) notes.push(`hub stderr (tail): ${hubTail.slice(-1500)}`);

  // ------------------------------------------------------------------ table
  const rows: ResultRow[] = [];
  const valuesOf = (spec: Scenario, pick: (o: SubjectOutcome) => number | null | undefined): Record<string, number | null> =>
    Object.fromEntries(SUBJECTS.map((s) => [s, spec.subjects.includes(s) ? (pick(results.get(spec.id)?.get(s) ?? {}) ?? null) : null]));
  const row = (spec: Scenario, metric: string, unit: string, higherIsBetter: boolean, pick: (o: SubjectOutcome) => number | null | undefined, informational = false): ResultRow => ({
    scenario: spec.id,
    metric,
    unit,
    higherIsBetter,
    informational,
    values: valuesOf(spec, pick),
  });
  for (const spec of specs) {
    if (spec.kind === 'throughput') {
      rows.push(
        row(spec, 'payload', 'MB/s', true, (o) => o.throughput?.median.mbps),
        row(spec, 'bench CPU (both peers)', 'µs/msg', false, (o) => o.throughput?.median.cpuUsPerMessage),
        row(spec, '  of which JS thread', 'µs/msg', false, (o) => o.throughput?.median.jsUsPerMessage),
        row(spec, 'bench CPU', '% core', false, (o) => o.throughput?.median.cpu.benchPct, true),
        row(spec, '  of which JS thread', '% core', false, (o) => o.throughput?.median.cpu.jsThreadPct, true),
      );
      if (spec.subjects.includes('agent-relay')) rows.push(row(spec, 'hub CPU', '% core', false, (o) => o.throughput?.median.cpu.hubPct, true));
      rows.push(row(spec, 'other procs CPU', '% core', false, (o) => o.throughput?.median.cpu.otherPct, true));
    } else if (spec.kind === 'rtt') {
      rows.push(
        row(spec, 'RTT p50', 'µs', false, (o) => o.rtt?.summaryUs.p50),
        row(spec, 'RTT p99', 'µs', false, (o) => o.rtt?.summaryUs.p99),
      );
    } else {
      rows.push(
        row(spec, `${p.file.bytes / 1024 / 1024} MiB sendFile`, 'MB/s', true, (o) => o.file?.median.mbps),
        row(spec, 'bench CPU', '% core', false, (o) => o.file?.median.cpu.benchPct, true),
        row(spec, '  of which JS thread', '% core', false, (o) => o.file?.median.cpu.jsThreadPct, true),
        row(spec, 'hub CPU', '% core', false, (o) => o.file?.median.cpu.hubPct, true),
        row(spec, 'other procs CPU', '% core', false, (o) => o.file?.median.cpu.otherPct, true),
      );
    }
  }

  for (const f of failures) notes.push(`FAILED ${f.scenario}/${f.subject}: ${f.error}`);
  notes.push(
    `Same process: both peers of every subject (raw-nd and agents alike) run in the bench process, so on ${os.cpus().length} cores they share one event loop and compete for CPU with each other (and, for agent-relay, with the hub child). "bench CPU µs/msg" is the cost of both ends per message, independent of pacing. "JS thread" is the main thread's share (/proc/self/task): at ~100% the shared event loop is the limit; the rest of bench CPU is libdatachannel's native threads (SCTP/DTLS/ICE).`,
    `Throughput: the sender never stops during the measured window (${p.throughput.warmupMs} ms warm-up, then ${p.throughput.measureMs} ms counted at the receiver); median of ${p.throughput.rounds} interleaved round(s); every sent message is checked to arrive. MB/s = 10^6 payload bytes.`,
    `Agent messages of 16384 B do not fit one 16 KiB frame (22 B header, + GCM prefix/tag with E2EE), so each becomes 2 DataChannel messages (~16 KiB + ~22–50 B); raw-nd sends 1. p2p-throughput-1frame sends ${dist.frame.chunkBytes - dist.frame.dataHeaderBytes - dist.frame.sealOverheadBytes} B messages instead (one frame for every subject) to separate that from the rest.`,
    `RTT: A sends ${p.rtt.payloadBytes} B, B's message handler sends it back, A times it (performance.now), ${p.rtt.rounds} round(s) × ${p.rtt.samples} after ${p.rtt.warmup} warm-up each. Agent RTT includes await room.send and the reliable layer (acks ride on the echo).`,
    `File: ${p.file.bytes / 1024 / 1024} MiB random temp file, room.sendFile(file, { to }) timed from the call to its resolution (B confirms after verifying SHA-256; B's file-received hash is checked too), ${p.file.rounds} round(s), median. File chunks are 64 KiB messages (= 5 frames of 16 KiB). agent-relay: both agents tryNative: false.`,
    'Hub: rtc-agent hub (dist/) in one child process started once (bench/servers/hub-server.ts, rate limit lifted, 64 KiB max message); all agents use it for signaling; only agent-relay carries data through it. ICE on 127.0.0.1 only, no STUN.',
  );
  const details = hubProfileDir ? await hubProfileDetails(hubProfileDir) : [];
  if (hubProfileDir) details.push('Bench-process (peers) profile: run `node --cpu-prof --cpu-prof-dir=bench/results/profiles/agent-paths --import tsx bench/run.ts --only agent-paths --scenario <id>`.');

  const usedSubjects = SUBJECTS.filter((s) => specs.some((spec) => spec.subjects.includes(s)));
  const ratios = [
    { of: 'agent', to: 'raw-nd' },
    { of: 'agent-e2ee', to: 'agent' },
    { of: 'agent-relay', to: 'agent' },
  ].filter((r) => usedSubjects.includes(r.of as Subject) && usedSubjects.includes(r.to as Subject));
  return {
    name: 'agent-paths',
    title: 'Agent paths: bare node-datachannel vs agent P2P vs agent P2P+E2EE vs agent relay (both peers in the bench process, hub in a child)',
    subjects: usedSubjects,
    baseline: usedSubjects.includes('raw-nd') ? 'raw-nd' : 'agent',
    ratios,
    rows,
    raw: {
      subjects: SUBJECTS.map((s) => ({ name: s, label: LABELS[s] })),
      params: p,
      payloadSizes,
      agentFrame: dist.frame,
      scenarios: specs,
      results: Object.fromEntries([...results].map(([id, m]) => [id, Object.fromEntries(m)])),
      failures,
      native: nativeStatus.version,
    },
    notes,
    details,
  };
}

export const agentPathsBench: BenchModule = {
  name: 'agent-paths',
  description: 'agent P2P / E2EE / relay / file transfer vs bare node-datachannel; scenarios p2p-throughput-16KiB, p2p-rtt-64B, relay-throughput-16KiB, relay-rtt-64B, file-transfer',
  run,
};
