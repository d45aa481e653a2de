/**
 * hub-relay: relay throughput and latency through rtc-agent's SignalR hub vs. a bare `ws` relay
 * doing the same forwarding. Each server runs in its own child process; all clients run here.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServerChild, type ServerChild } from '../lib/child.js';
import { formatProfileSummary, summarizeCpuProfile } from '../lib/cpuprofile.js';
import type { BenchContext, BenchModule, BenchResult, ResultRow } from '../lib/types.js';
import { signalrClientFactory, wsClientFactory, type RelayClientFactory } from '../relay/clients.js';
import { NOISY_OTHER_PCT, runScenario, type ScenarioRun, type ScenarioSpec, type SubjectEntry } from '../relay/scenarios.js';

const HUB_SERVER = fileURLToPath(new URL('../servers/hub-server.ts', import.meta.url));
const WS_SERVER = fileURLToPath(new URL('../baselines/ws-relay-server.ts', import.meta.url));

/**
 * Payload per sender turn (see ScenarioSpec.burstBytes): 64 KiB = 4 × 16 KiB messages, about
 * 88 KB on the wire per SignalR frame, well inside the hub's 4 × maxMessageBytes frame cap.
 */
const BURST_BYTES = 64 * 1024;

/** A client process pegged at or above this means the clients, not the server, set the pace. */
const CLIENT_BOUND_PCT = 90;

interface Server {
  name: string;
  script: string;
  args: string[];
}

interface Subject {
  name: string;
  label: string;
  server: Server;
  factory(url: string): RelayClientFactory;
  /** Scenario ids this subject runs; all when absent. */
  onlyScenarios?: string[];
}

const HUB: Server = { name: 'hub', script: HUB_SERVER, args: ['--max-peers', '200'] };
const WS: Server = { name: 'ws', script: WS_SERVER, args: [] };
const WS_BATCHED: Server = { name: 'ws-batched', script: WS_SERVER, args: ['--batch'] };
const SERVERS = [HUB, WS, WS_BATCHED];

/** Table columns in this order; the first is under test, `ws` is the baseline. */
const SUBJECTS: Subject[] = [
  { name: 'hub', label: 'rtc-agent hub, official SignalR client, conn.send', server: HUB, factory: (url) => signalrClientFactory(url, 'send') },
  { name: 'ws', label: 'bare ws relay, one JSON envelope per frame', server: WS, factory: (url) => wsClientFactory(url, false) },
  {
    name: 'ws-batched',
    label: 'bare ws relay, records batched per event-loop turn like SignalR client and hub',
    server: WS_BATCHED,
    factory: (url) => wsClientFactory(url, true),
  },
  {
    name: 'hub-invoke',
    label: 'rtc-agent hub, conn.invoke (one completion per message)',
    server: HUB,
    factory: (url) => signalrClientFactory(url, 'invoke'),
    onlyScenarios: ['pair-1KiB'],
  },
];

/** The relay scenarios (also used by aspnet-relay, so both benches measure the same load). */
export function relayScenarios(quick: boolean): ScenarioSpec[] {
  const rounds = quick ? 1 : 5;
  const maxMs = quick ? 1_000 : 2_000;
  const throughput = { count: 20_000, maxMs, rounds };
  return [
    {
      id: 'pair-1KiB',
      title: 'two clients, 1 KiB payloads',
      payloadBytes: 1024,
      members: 2,
      // ~700 KB of base64 in flight (8 bursts): keeps every stage of the pipeline busy, under the
      // hub's 1 MiB high-water mark and far below its 16 MiB slow-consumer cut-off.
      window: 512,
      burstBytes: BURST_BYTES,
      // 20k 1 KiB messages pass in ~0.3 s, too short a round to be stable (GC and JIT still settling
      // showed as rounds that kept getting faster); 50k makes a round last about a second.
      warmup: { count: 50_000, maxMs: 3_000 },
      throughput: { ...throughput, count: 50_000 },
      latency: { samples: quick ? 100 : 500, intervalMs: 2 },
    },
    {
      id: 'pair-16KiB',
      title: 'two clients, 16 KiB payloads',
      payloadBytes: 16 * 1024,
      members: 2,
      window: 32,
      burstBytes: BURST_BYTES,
      warmup: { count: 5_000, maxMs: 2_000 },
      throughput,
      latency: { samples: quick ? 100 : 500, intervalMs: 2 },
    },
    {
      id: 'fanout-50x1KiB',
      title: '50 members, one sender broadcasts 1 KiB',
      payloadBytes: 1024,
      members: 50,
      // The window counts messages every receiver has. 256 = 4 bursts of 64 in flight, so server and
      // clients overlap instead of taking turns; ~350 KB queued per receiver at most.
      window: 256,
      burstBytes: BURST_BYTES,
      warmup: { count: 2_000, maxMs: 2_000 },
      throughput,
      // 10 ms apart: each message fans out to 49 receivers in this one process.
      latency: { samples: quick ? 40 : 200, intervalMs: 10 },
    },
  ];
}

function rowsFor(spec: ScenarioSpec, runs: Map<string, ScenarioRun>): ResultRow[] {
  const v = (pick: (r: ScenarioRun) => number | null): Record<string, number | null> =>
    Object.fromEntries(SUBJECTS.map((s) => [s.name, runs.has(s.name) ? pick(runs.get(s.name) as ScenarioRun) : null]));
  const fanout = spec.members > 2;
  const row = (metric: string, unit: string, higherIsBetter: boolean, pick: (r: ScenarioRun) => number | null, informational = false): ResultRow => ({
    scenario: spec.id,
    metric,
    unit,
    higherIsBetter,
    informational,
    values: v(pick),
  });
  return [
    ...(fanout ? [row('deliveries', '/s', true, (r) => r.median.deliveriesPerSec)] : []),
    row('messages', '/s', true, (r) => r.median.messagesPerSec),
    row('payload', 'MB/s', true, (r) => r.median.payloadMBps),
    row('latency p50', 'ms', false, (r) => r.latency.summaryMs.p50),
    row('latency p99', 'ms', false, (r) => r.latency.summaryMs.p99),
    row('server CPU', `µs/${fanout ? 'delivery' : 'msg'}`, false, (r) => r.median.serverCpuUsPerDelivery),
    row('server CPU', '% core', false, (r) => r.median.serverCpuPct, true),
    row('client CPU', '% core', false, (r) => r.median.clientCpuPct, true),
    row('other procs CPU', '% core', false, (r) => r.median.otherCpuPct, true),
  ];
}

/** Summarizes the main-thread profile of each server (the busiest file in its directory). */
async function profileDetails(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const server of SERVERS) {
    const serverDir = path.join(dir, server.name);
    const files = (await readdir(serverDir).catch(() => [] as string[])).filter((f) => f.endsWith('.cpuprofile'));
    const summaries = await Promise.all(files.map(async (f) => ({ file: path.join(serverDir, f), summary: await summarizeCpuProfile(path.join(serverDir, f)) })));
    const main = summaries.sort((a, b) => b.summary.busyMs - a.summary.busyMs)[0];
    if (main) out.push(formatProfileSummary(`${server.name} server CPU profile (${main.file})`, main.summary));
  }
  return out;
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const notes: string[] = [];
  const runs: ScenarioRun[] = [];
  const failures: { scenario: string; subject: string; error: string }[] = [];
  const servers = new Map<string, ServerChild>();
  const all = relayScenarios(ctx.quick);
  const specs = ctx.scenarios.length ? all.filter((s) => ctx.scenarios.includes(s.id)) : all;
  if (specs.length === 0) throw new Error(`no scenario matches ${ctx.scenarios.join(', ')}; have ${all.map((s) => s.id).join(', ')}`);

  try {
    for (const server of SERVERS) {
      // One directory per server and V8's default file names: the tsx loader runs on a worker
      // thread that writes its own profile, and a fixed --cpu-prof-name makes the two overwrite.
      const nodeArgs = ctx.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${path.join(ctx.cpuProfileDir, server.name)}`] : [];
      try {
        const child = await startServerChild(server.script, { nodeArgs, args: server.args });
        servers.set(server.name, child);
        ctx.log(`${server.name}: ${child.url} (pid ${child.pid})`);
      } catch (err) {
        failures.push({ scenario: '(start)', subject: server.name, error: String(err) });
        ctx.log(`${server.name}: failed to start: ${String(err)}`);
      }
    }

    for (const spec of specs) {
      ctx.log(`${spec.id}: ${spec.title}`);
      const entries: SubjectEntry[] = [];
      for (const subject of SUBJECTS) {
        const server = servers.get(subject.server.name);
        if (!server || (subject.onlyScenarios && !subject.onlyScenarios.includes(spec.id))) continue;
        entries.push({ name: subject.name, factory: subject.factory(server.url), serverPid: server.pid });
      }
      const outcome = await runScenario(spec, entries, ctx.log);
      runs.push(...outcome.runs);
      for (const f of outcome.failures) {
        const tail = servers.get(SUBJECTS.find((s) => s.name === f.subject)?.server.name ?? '')?.stderrTail() ?? '';
        failures.push({ scenario: spec.id, subject: f.subject, error: tail ? `${f.error}\n${tail.slice(-1000)}` : f.error });
      }
    }
  } finally {
    await Promise.all([...servers.values()].map((s) => s.stop()));
  }
  for (const [name, s] of servers) {
    const tail = s.stderrTail().trim();
    if (tail) notes.push(`${name} server stderr (tail): ${tail.slice(-1500)}`);
  }

  const rows: ResultRow[] = [];
  for (const spec of specs) {
    const bySubject = new Map(runs.filter((r) => r.scenario === spec.id).map((r) => [r.subject, r]));
    rows.push(...rowsFor(spec, bySubject));
    for (const r of bySubject.values()) {
      if (r.median.clientCpuPct >= CLIENT_BOUND_PCT) {
        notes.push(`${spec.id}/${r.subject}: client process at ${r.median.clientCpuPct}% CPU — client-bound; compare server µs/msg too.`);
      }
      if (r.latency.received < r.latency.sent * r.receivers) {
        notes.push(`${spec.id}/${r.subject}: latency phase lost ${r.latency.sent * r.receivers - r.latency.received} deliveries.`);
      }
      const noisy = r.rounds.filter((p) => (p.otherCpuPct ?? 0) > NOISY_OTHER_PCT).length;
      if (noisy > 0) {
        const used = r.medianOf.pool === 'clean' ? `table uses the median of the ${r.medianOf.rounds} clean round(s)` : 'no clean round: table numbers are contended, rerun on a quiet machine';
        notes.push(`${spec.id}/${r.subject}: ${noisy}/${r.rounds.length} rounds shared the CPU with other processes (> ${NOISY_OTHER_PCT}% of a core); ${used}.`);
      }
      const undelivered = [r.warmup, ...r.rounds].reduce((n, p) => n + p.undelivered, 0);
      if (undelivered > 0) notes.push(`${spec.id}/${r.subject}: ${undelivered} deliveries never arrived in throughput phases.`);
    }
  }
  for (const f of failures) notes.push(`FAILED ${f.scenario}/${f.subject}: ${f.error}`);
  notes.push(
    `Throughput: median of ${specs[0]?.throughput.rounds ?? 0} interleaved rounds (of the uncontended ones when some were contended); each round = up to ${specs.map((s) => `${s.throughput.count} (${s.id})`).join(', ')} messages or ${(specs[0]?.throughput.maxMs ?? 0) / 1000} s, after a warm-up, with a bounded in-flight window. MB/s = raw payload bytes (10^6) delivered; the wire carries base64 (4/3) plus framing.`,
    'Latency: one-way, send time embedded in the payload (same process, same clock), separate low-rate phase. Fan-out latency includes the bench process handling 49 receivers in turn.',
    'ws = naive bare-ws relay (one frame per message each way, the brief\'s baseline); ws-batched = same relay batching records per event-loop turn, as the SignalR client (TransportSendQueue) and the hub (outbox per microtask) do — it isolates the cost of the SignalR protocol from the benefit of batching.',
    'hub-invoke (pair-1KiB only): same hub, Relay sent with conn.invoke, so the hub also returns a completion per message.',
    'Server CPU µs/msg is per delivery and does not depend on which process was the bottleneck; it is the fairest server-vs-server number when the client is saturated.',
  );

  const details = ctx.cpuProfileDir ? await profileDetails(ctx.cpuProfileDir).catch((err: unknown) => [`profile summary failed: ${String(err)}`]) : [];

  return {
    name: 'hub-relay',
    title: 'Relay through rtc-agent hub vs bare ws (servers in child processes, clients in bench process)',
    // Drop columns of subjects that had no scenario in this run (e.g. hub-invoke under --scenario pair-16KiB).
    subjects: SUBJECTS.filter((s) => !s.onlyScenarios || specs.some((spec) => s.onlyScenarios?.includes(spec.id))).map((s) => s.name),
    baseline: 'ws',
    ratios: [
      { of: 'hub', to: 'ws' },
      { of: 'hub', to: 'ws-batched' },
    ],
    rows,
    raw: { subjects: SUBJECTS.map(({ name, label, server }) => ({ name, label, server: server.name })), scenarios: specs, runs, failures },
    notes,
    details,
  };
}

export const hubRelayBench: BenchModule = {
  name: 'hub-relay',
  description: 'relay throughput/latency, hub vs bare ws; scenarios pair-1KiB, pair-16KiB, fanout-50x1KiB',
  run,
};
