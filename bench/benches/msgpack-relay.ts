/**
 * msgpack-relay: what SignalR's MessagePack hub protocol buys the relay (issue 13: "binary relay ≥
 * 0.8× P2P throughput"). In one run, interleaved round by round:
 *
 *   relay-msgpack  two agents with tryNative: false and hubProtocol 'messagepack' (their default):
 *                  every frame through the hub as MessagePack bytes
 *   relay-json     the same with hubProtocol 'json': every frame as base64 text in JSON
 *   p2p            two agents over native DataChannels (the hub only signals)
 *
 * One-way throughput with 16 KiB and 64 KiB messages. Both agents of every subject run in one
 * worker process, the hub in a child process of the same build (agent/pair-runner.ts), so the
 * numbers compare paths on the same machine in the same minutes; the ratios are the result.
 */
import os from 'node:os';
import { runPairScenarios, type PairParams, type PairScenario, type SubjectDef, type SubjectOutcome } from '../agent/pair-runner.js';
import type { BenchContext, BenchModule, BenchResult, ResultRow } from '../lib/types.js';

const SUBJECTS: SubjectDef[] = [
  { name: 'relay-msgpack', build: 'current', pair: { kind: 'agent', e2ee: false, native: false, hubProtocol: 'messagepack' }, label: "two agents, tryNative: false, hubProtocol 'messagepack': every frame through the hub as bytes" },
  { name: 'relay-json', build: 'current', pair: { kind: 'agent', e2ee: false, native: false, hubProtocol: 'json' }, label: "two agents, tryNative: false, hubProtocol 'json': every frame through the hub as base64 in JSON" },
  { name: 'p2p', build: 'current', pair: { kind: 'agent', e2ee: false, native: true }, label: 'two agents over native DataChannels (P2P), E2EE off' },
];
const NAMES = SUBJECTS.map((s) => s.name);
const SIZES_KIB = [16, 64];

function params(quick: boolean): PairParams {
  return {
    throughput: quick
      ? { warmupMs: 300, measureMs: 1_000, drainMs: 15_000, rounds: 1, payloadBytes: 16 * 1024 }
      : { warmupMs: 500, measureMs: 2_500, drainMs: 15_000, rounds: 5, payloadBytes: 16 * 1024 },
    // Unused here (throughput only), but the runner takes a full set.
    rtt: { warmup: 0, samples: 0, rounds: 0, payloadBytes: 64 },
    file: { bytes: 0, rounds: 0, timeoutMs: 0 },
  };
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const p = params(ctx.quick);
  const all: PairScenario[] = SIZES_KIB.map((kib) => ({
    id: `throughput-${kib}KiB`,
    title: `one-way ${kib} KiB messages: relay over MessagePack vs relay over JSON vs P2P`,
    kind: 'throughput',
    subjects: NAMES,
    payloadBytes: kib * 1024,
  }));
  const specs = ctx.scenarios.length ? all.filter((s) => ctx.scenarios.includes(s.id)) : all;
  if (specs.length === 0) throw new Error(`no scenario matches ${ctx.scenarios.join(', ')}; have ${all.map((s) => s.id).join(', ')}`);

  const pr = await runPairScenarios(ctx, { bench: 'msgpack-relay', subjects: SUBJECTS, scenarios: specs, params: p });
  const { results, failures } = pr;
  const notes = [...pr.notes];
  const rows: ResultRow[] = [];
  const row = (spec: PairScenario, metric: string, unit: string, higherIsBetter: boolean, pick: (o: SubjectOutcome) => number | null | undefined, informational = false): ResultRow => ({
    scenario: spec.id,
    metric,
    unit,
    higherIsBetter,
    informational,
    values: Object.fromEntries(NAMES.map((s) => [s, pick(results.get(spec.id)?.get(s) ?? {}) ?? null])),
  });
  for (const spec of specs) {
    rows.push(
      row(spec, 'payload', 'MB/s', true, (o) => o.throughput?.median.mbps),
      row(spec, 'peers CPU (both ends)', 'µs/msg', false, (o) => o.throughput?.median.cpuUsPerMessage),
      row(spec, 'hub CPU', '% core', false, (o) => o.throughput?.median.cpu.hubPct, true),
      row(spec, 'other procs CPU', '% core', false, (o) => o.throughput?.median.cpu.otherPct, true),
    );
  }
  const mbps = (scenario: string, subject: string): number | null => results.get(scenario)?.get(subject)?.throughput?.median.mbps ?? null;
  for (const spec of specs) {
    const [mp, json, p2p] = NAMES.map((n) => mbps(spec.id, n));
    if (mp && p2p) notes.push(`${spec.id}: relay over MessagePack is ${(mp / p2p).toFixed(2)}× P2P (issue 13's target: ≥ 0.80×)${json ? `, ${(mp / json).toFixed(2)}× relay over JSON (JSON: ${(json / p2p).toFixed(2)}× P2P)` : ''}.`);
  }
  for (const f of failures) notes.push(`FAILED ${f.scenario}/${f.subject}: ${f.error}`);
  notes.push(
    `Throughput: the sender never stops during the measured window (${p.throughput.warmupMs} ms warm-up, then ${p.throughput.measureMs} ms counted at the receiver); median of ${p.throughput.rounds} interleaved round(s); every sent message is checked to arrive. MB/s = 10^6 payload bytes. A 64 KiB message is several agent frames (each one Relay), so both sizes measure the per-frame path.`,
    `Worker processes: both agents of a subject in one worker (on ${os.cpus().length} cores they share one event loop), the rtc-agent hub of this build in a child process (bench/servers/hub-server.ts); ICE on 127.0.0.1 only.`,
  );
  return {
    name: 'msgpack-relay',
    title: 'Relay over SignalR MessagePack vs relay over JSON vs P2P (agents of this build, one worker; hub in a child)',
    subjects: NAMES,
    baseline: 'p2p',
    ratios: [
      { of: 'relay-msgpack', to: 'p2p' },
      { of: 'relay-json', to: 'p2p' },
      { of: 'relay-msgpack', to: 'relay-json' },
    ],
    rows,
    raw: {
      subjects: SUBJECTS.map((s) => ({ name: s.name, label: s.label })),
      builds: pr.builds,
      params: p,
      scenarios: specs,
      results: Object.fromEntries([...results].map(([id, m]) => [id, Object.fromEntries(m)])),
      failures,
    },
    notes,
    details: pr.details,
  };
}

export const msgpackRelayBench: BenchModule = {
  name: 'msgpack-relay',
  description: 'agent relay throughput over the MessagePack hub protocol vs JSON vs agent P2P, 16 and 64 KiB messages, ratios in one run; scenarios throughput-16KiB, throughput-64KiB',
  run,
};
