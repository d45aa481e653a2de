/**
 * aspnet-relay: relay throughput and latency through rtc-agent's own hub (Node, dist/) vs the
 * ASP.NET Core hub in interop/aspnet-hub/ that implements the same room contract. Same clients
 * (the official @microsoft/signalr client, conn.send('Relay', ...)), same scenarios as hub-relay
 * (pair-1KiB, pair-16KiB), each server in its own process, both up for the whole run and their
 * rounds interleaved. The ASP.NET hub is built once (cached in interop/aspnet-hub/bin, rebuilt
 * only when a source is newer than the DLL); without `dotnet` its column is null, with a note.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServerChild, type ServerChild } from '../lib/child.js';
import { formatProfileSummary, summarizeCpuProfile } from '../lib/cpuprofile.js';
import type { BenchContext, BenchModule, BenchResult, ResultRow } from '../lib/types.js';
import { signalrClientFactory } from '../relay/clients.js';
import { NOISY_OTHER_PCT, runScenario, type ScenarioRun, type SubjectEntry } from '../relay/scenarios.js';
import { relayScenarios } from './hub-relay.js';
import { prepareAspNetHub, startAspNetHub } from '../servers/aspnet-hub.js';

const HUB_SERVER = fileURLToPath(new URL('../servers/hub-server.ts', import.meta.url));
/** Scenarios of hub-relay this bench runs (two clients; the brief's 1 KiB and 16 KiB messages). */
const SCENARIO_IDS = ['pair-1KiB', 'pair-16KiB'];
/** A client process pegged at or above this means the clients, not the server, set the pace. */
const CLIENT_BOUND_PCT = 90;
/** Warm-up per subject and scenario (full runs): long enough for .NET's tiered JIT to reach tier 1. */
const WARMUP_MS = 8_000;

const SUBJECTS = ['node-hub', 'aspnet-hub'] as const;
type Subject = (typeof SUBJECTS)[number];
const LABELS: Record<Subject, string> = {
  'node-hub': 'rtc-agent hub (dist/, bench/servers/hub-server.ts: rate limit lifted, 64 KiB max message) in a Node child',
  'aspnet-hub': 'interop/aspnet-hub (ASP.NET Core SignalR, Release build, server GC, default JSON protocol) in a dotnet child, RoomHub:MessagesPerSecond/MessageBurst lifted, MaxMessageBytes 65536',
};

async function profileDetails(dir: string): Promise<string[]> {
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.cpuprofile'));
  const summaries = await Promise.all(files.map(async (f) => ({ file: path.join(dir, f), summary: await summarizeCpuProfile(path.join(dir, f)) })));
  const main = summaries.sort((a, b) => b.summary.busyMs - a.summary.busyMs)[0];
  return main ? [formatProfileSummary(`node-hub CPU profile (${main.file})`, main.summary)] : [];
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const notes: string[] = [];
  const runs: ScenarioRun[] = [];
  const failures: { scenario: string; subject: string; error: string }[] = [];
  const servers = new Map<Subject, ServerChild>();
  // Longer warm-up than hub-relay's (except under --quick): .NET's tiered JIT (tier 0, then
  // instrumented, then tier 1 with dynamic PGO) took ~3 rounds (~5 s of traffic) to settle; with
  // hub-relay's 3 s warm-up the first ASP.NET rounds cost ~3x the server CPU per message.
  const all = relayScenarios(ctx.quick)
    .filter((s) => SCENARIO_IDS.includes(s.id))
    .map((s) => (ctx.quick ? s : { ...s, warmup: { count: s.throughput.count * 10, maxMs: WARMUP_MS } }));
  const specs = ctx.scenarios.length ? all.filter((s) => ctx.scenarios.includes(s.id)) : all;
  if (specs.length === 0) throw new Error(`no scenario matches ${ctx.scenarios.join(', ')}; have ${all.map((s) => s.id).join(', ')}`);
  const profileDir = ctx.cpuProfileDir ? path.join(ctx.cpuProfileDir, 'aspnet-relay-node-hub') : null;
  let dotnetVersion: string | null = null;

  try {
    try {
      const child = await startServerChild(HUB_SERVER, { args: ['--max-peers', '200'], nodeArgs: profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [] });
      servers.set('node-hub', child);
      ctx.log(`node-hub: ${child.url} (pid ${child.pid})`);
    } catch (err) {
      failures.push({ scenario: '(start)', subject: 'node-hub', error: String(err) });
      ctx.log(`node-hub: failed to start: ${String(err)}`);
    }

    const probe = await prepareAspNetHub(ctx.log);
    if ('missing' in probe) {
      notes.push(`aspnet-hub not measured: ${probe.missing}${probe.missing.startsWith('dotnet build') ? '' : '; install the .NET 10 SDK to get this column'}.`);
      ctx.log(`aspnet-hub: skipped: ${probe.missing}`);
    } else {
      dotnetVersion = probe.version;
      try {
        const child = await startAspNetHub();
        servers.set('aspnet-hub', child);
        ctx.log(`aspnet-hub: ${child.url} (pid ${child.pid}, dotnet ${probe.version})`);
      } catch (err) {
        failures.push({ scenario: '(start)', subject: 'aspnet-hub', error: err instanceof Error ? err.message : String(err) });
        ctx.log(`aspnet-hub: failed to start: ${String(err)}`);
      }
    }

    for (const spec of specs) {
      ctx.log(`${spec.id}: ${spec.title}`);
      const entries: SubjectEntry[] = [];
      for (const s of SUBJECTS) {
        const server = servers.get(s);
        if (server) entries.push({ name: s, factory: signalrClientFactory(server.url, 'send'), serverPid: server.pid });
      }
      if (entries.length === 0) continue;
      const outcome = await runScenario(spec, entries, ctx.log);
      runs.push(...outcome.runs);
      for (const f of outcome.failures) {
        const tail = servers.get(f.subject as Subject)?.stderrTail() ?? '';
        failures.push({ scenario: spec.id, subject: f.subject, error: tail ? `${f.error}\n${tail.slice(-1000)}` : f.error });
      }
    }
  } finally {
    await Promise.all([...servers.values()].map((s) => s.stop()));
  }
  for (const [name, s] of servers) {
    const tail = s.stderrTail().trim();
    if (tail) notes.push(`${name} stderr (tail): ${tail.slice(-1500)}`);
  }

  const rows: ResultRow[] = [];
  for (const spec of specs) {
    const bySubject = new Map(runs.filter((r) => r.scenario === spec.id).map((r) => [r.subject, r]));
    const row = (metric: string, unit: string, higherIsBetter: boolean, pick: (r: ScenarioRun) => number | null, informational = false): ResultRow => ({
      scenario: spec.id,
      metric,
      unit,
      higherIsBetter,
      informational,
      values: Object.fromEntries(SUBJECTS.map((s) => [s, bySubject.has(s) ? pick(bySubject.get(s) as ScenarioRun) : null])),
    });
    rows.push(
      row('messages', '/s', true, (r) => r.median.messagesPerSec),
      row('payload', 'MB/s', true, (r) => r.median.payloadMBps),
      row('latency p50', 'ms', false, (r) => r.latency.summaryMs.p50),
      row('latency p99', 'ms', false, (r) => r.latency.summaryMs.p99),
      row('server CPU', 'µs/msg', false, (r) => r.median.serverCpuUsPerDelivery),
      row('server CPU', '% core', false, (r) => r.median.serverCpuPct, true),
      row('client CPU', '% core', false, (r) => r.median.clientCpuPct, true),
      row('other procs CPU', '% core', false, (r) => r.median.otherCpuPct, true),
    );
    for (const r of bySubject.values()) {
      if (r.median.clientCpuPct >= CLIENT_BOUND_PCT) {
        notes.push(`${spec.id}/${r.subject}: client process at ${r.median.clientCpuPct}% CPU — client-bound; compare server µs/msg too.`);
      }
      if (r.latency.received < r.latency.sent * r.receivers) notes.push(`${spec.id}/${r.subject}: latency phase lost ${r.latency.sent * r.receivers - r.latency.received} deliveries.`);
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
    `Same clients for both hubs: the official @microsoft/signalr client over WebSockets, Join with an agent hello, Relay(room, to, payload) with conn.send (fire-and-forget), received as Relayed; scenarios identical to hub-relay's (${specs.map((s) => s.id).join(', ')}).`,
    `Throughput: median of ${specs[0]?.throughput.rounds ?? 0} interleaved round(s) after a warm-up of ${specs.map((s) => `${s.warmup.maxMs / 1000} s (${s.id})`).join(', ')} per subject${ctx.quick ? ' (--quick: hub-relay\'s short warm-up, so .NET\'s tiered JIT has not settled and aspnet-hub server CPU is overstated)' : ', so .NET\'s tiered JIT reaches tier 1'}; each round = up to ${specs.map((s) => `${s.throughput.count} (${s.id})`).join(', ')} messages or ${(specs[0]?.throughput.maxMs ?? 0) / 1000} s, bounded in-flight window. MB/s = raw payload bytes (10^6); the wire carries base64 (4/3) plus JSON framing.`,
    'Latency: one-way, send time embedded in the payload (same process, same clock), separate low-rate phase.',
    'Server CPU µs/msg (per delivery, from /proc/<pid>/stat) does not depend on which process set the pace; it is the fairest server-vs-server number when the client is saturated.',
    'ASP.NET hub semantics differ from ours in backpressure: its Relay awaits the recipient transport\'s flush, and SignalR runs one invocation at a time per connection by default; our hub queues to a per-connection outbox with a high-water mark.',
  );
  if (dotnetVersion) notes.push(`dotnet SDK ${dotnetVersion}.`);
  if (ctx.cpuProfileDir) notes.push('--cpu-prof: only the node-hub is profiled (the dotnet child has no V8 profiler; use dotnet-trace by hand).');

  const details = profileDir ? await profileDetails(profileDir).catch((err: unknown) => [`profile summary failed: ${String(err)}`]) : [];
  return {
    name: 'aspnet-relay',
    title: 'Relay through rtc-agent hub (Node) vs ASP.NET Core hub (interop/aspnet-hub), same SignalR clients (servers in child processes, clients in bench process)',
    subjects: [...SUBJECTS],
    baseline: 'aspnet-hub',
    ratios: [{ of: 'node-hub', to: 'aspnet-hub' }],
    rows,
    raw: { subjects: SUBJECTS.map((s) => ({ name: s, label: LABELS[s] })), dotnetVersion, scenarios: specs, runs, failures },
    notes,
    details,
  };
}

export const aspnetRelayBench: BenchModule = {
  name: 'aspnet-relay',
  description: 'relay throughput/latency, rtc-agent Node hub vs ASP.NET Core hub (interop/aspnet-hub); scenarios pair-1KiB, pair-16KiB',
  run,
};
