/**
 * agent-paths: what the agent's own layers cost on each path, against bare node-datachannel.
 *
 *   raw-nd       two bare node-datachannel peers, one reliable DataChannel, bufferedAmount high/low marks
 *   agent        two agents (dist/), P2P, E2EE off, room.send with its own backpressure
 *   agent-e2ee   same with enableE2ee + roomSecret (each agent its own identity file)
 *   agent-relay  two agents with tryNative: false: everything through the hub
 *
 * With `--previous <dist dir>` (another build, e.g. the last commit before the engine), the same
 * three agent subjects of that build run too (`agent@prev`, ...), each build with its own hub, and
 * the table gains today/previous ratios; raw-nd stays the baseline.
 *
 * Both peers of every subject run in one worker process per build (agent/pair-worker.ts: raw-nd
 * and this build's agents in one, the previous build's agents in another; same for all, and on
 * 2 cores both peers share one event loop). Hubs run in child processes. ICE is loopback only
 * (127.0.0.1, no STUN). Rounds of different subjects are interleaved.
 */
import os from 'node:os';
import { loadDist } from '../agent/dist.js';
import { runPairScenarios, withRounds, type PairParams, type PairScenario, type SubjectDef, type SubjectOutcome } from '../agent/pair-runner.js';
import { RAW_HIGH_WATER_BYTES, RAW_LOW_WATER_BYTES } from '../agent/raw-nd.js';
import type { BenchContext, BenchModule, BenchResult, ResultRow } from '../lib/types.js';

const BASE_SUBJECTS: SubjectDef[] = [
  {
    name: 'raw-nd',
    build: 'current',
    pair: { kind: 'raw' },
    label: `bare node-datachannel pair, one reliable DC, sender pauses above ${RAW_HIGH_WATER_BYTES / 1024} KiB buffered, resumes on bufferedAmountLow at ${RAW_LOW_WATER_BYTES / 1024} KiB`,
  },
  { name: 'agent', build: 'current', pair: { kind: 'agent', e2ee: false, native: true }, label: 'two agents, P2P (native DataChannels), E2EE off, await room.send(data, { to })' },
  { name: 'agent-e2ee', build: 'current', pair: { kind: 'agent', e2ee: true, native: true }, label: 'two agents, P2P, enableE2ee + roomSecret (AES-256-GCM per frame)' },
  { name: 'agent-relay', build: 'current', pair: { kind: 'agent', e2ee: false, native: false }, label: 'two agents with tryNative: false: every frame through the hub (child process)' },
];
const AGENT_SUBJECTS = ['agent', 'agent-e2ee', 'agent-relay'];
const prev = (name: string): string => `${name}@prev`;

interface Scenario extends Omit<PairScenario, 'payloadBytes'> {
  /** Throughput payload: 16384 B, or the largest that fits ONE agent frame even with E2EE. */
  payload?: 'full' | 'one-frame';
}

const SCENARIOS: Scenario[] = [
  { id: 'p2p-throughput-16KiB', title: 'one-way 16 KiB messages, P2P', kind: 'throughput', subjects: ['raw-nd', 'agent', 'agent-e2ee'] },
  {
    id: 'p2p-throughput-1frame',
    title: 'one-way messages that fit one agent frame (chunk minus header and E2EE seal), P2P',
    kind: 'throughput',
    subjects: ['raw-nd', 'agent', 'agent-e2ee'],
    payload: 'one-frame',
  },
  { id: 'p2p-rtt-64B', title: 'ping-pong 64 B, P2P', kind: 'rtt', subjects: ['raw-nd', 'agent', 'agent-e2ee'] },
  { id: 'relay-throughput-16KiB', title: 'one-way 16 KiB messages, relay vs P2P', kind: 'throughput', subjects: ['agent', 'agent-relay'] },
  { id: 'relay-rtt-64B', title: 'ping-pong 64 B, relay vs P2P', kind: 'rtt', subjects: ['agent', 'agent-relay'] },
  { id: 'file-transfer', title: 'room.sendFile of a random temp file, P2P / P2P+E2EE / relay', kind: 'file', subjects: ['agent', 'agent-e2ee', 'agent-relay'] },
];

/** Defaults; `--rounds n` replaces their throughput and RTT rounds (withRounds). */
function params(quick: boolean): PairParams {
  return quick
    ? {
        throughput: { warmupMs: 300, measureMs: 1_000, drainMs: 15_000, rounds: 1, payloadBytes: 16 * 1024 },
        rtt: { warmup: 100, firstWarmup: 300, samples: 500, rounds: 1, payloadBytes: 64 },
        file: { bytes: 16 * 1024 * 1024, rounds: 1, timeoutMs: 60_000 },
      }
    : {
        throughput: { warmupMs: 500, measureMs: 2_500, drainMs: 15_000, rounds: 5, payloadBytes: 16 * 1024 },
        // 2 interleaved rounds of 1000 = 2000 round trips per subject, each round after its own warm-up.
        rtt: { warmup: 200, firstWarmup: 10_000, samples: 1_000, rounds: 2, payloadBytes: 64 },
        file: { bytes: 64 * 1024 * 1024, rounds: 3, timeoutMs: 120_000 },
      };
}

/** Each agent subject followed by its previous-build twin, so the two sit side by side in every round. */
function withPrevious(subjects: string[], previous: boolean): string[] {
  return previous ? subjects.flatMap((s) => (AGENT_SUBJECTS.includes(s) ? [s, prev(s)] : [s])) : subjects;
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const p = withRounds(params(ctx.quick), ctx.rounds);
  const previous = ctx.previousDist !== null;
  const chosen = ctx.scenarios.length ? SCENARIOS.filter((s) => ctx.scenarios.includes(s.id)) : SCENARIOS;
  if (chosen.length === 0) throw new Error(`no scenario matches ${ctx.scenarios.join(', ')}; have ${SCENARIOS.map((s) => s.id).join(', ')}`);
  const subjectDefs: SubjectDef[] = [
    ...BASE_SUBJECTS,
    ...(previous
      ? BASE_SUBJECTS.filter((s) => AGENT_SUBJECTS.includes(s.name)).map((s) => ({ ...s, name: prev(s.name), build: 'previous' as const, label: `${s.label}; the --previous build (${ctx.previousDist}) with its own hub` }))
      : []),
  ];
  // Each agent subject next to its previous-build twin in the table.
  const allSubjects = withPrevious(BASE_SUBJECTS.map((s) => s.name), previous);

  // The one-frame payload comes from this build's frame constants; the worker reports them.
  const frame = (await loadDist()).frame;
  const oneFrameBytes = frame.chunkBytes - frame.dataHeaderBytes - frame.sealOverheadBytes;
  const specs: PairScenario[] = chosen.map((s) => ({
    id: s.id,
    title: s.title,
    kind: s.kind,
    subjects: withPrevious(s.subjects, previous),
    ...(s.kind === 'throughput' ? { payloadBytes: s.payload === 'one-frame' ? oneFrameBytes : p.throughput.payloadBytes } : {}),
  }));

  const pr = await runPairScenarios(ctx, { bench: 'agent-paths', subjects: subjectDefs, scenarios: specs, params: p });
  const { results, failures } = pr;
  const notes = [...pr.notes];

  const rows: ResultRow[] = [];
  const valuesOf = (spec: PairScenario, pick: (o: SubjectOutcome) => number | null | undefined): Record<string, number | null> =>
    Object.fromEntries(allSubjects.map((s) => [s, spec.subjects.includes(s) ? (pick(results.get(spec.id)?.get(s) ?? {}) ?? null) : null]));
  const row = (spec: PairScenario, metric: string, unit: string, higherIsBetter: boolean, pick: (o: SubjectOutcome) => number | null | undefined, informational = false): ResultRow => ({
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
        row(spec, 'peers CPU (both ends)', 'µs/msg', false, (o) => o.throughput?.median.cpuUsPerMessage),
        row(spec, '  of which JS thread', 'µs/msg', false, (o) => o.throughput?.median.jsUsPerMessage),
        row(spec, 'peers CPU', '% core', false, (o) => o.throughput?.median.cpu.benchPct, true),
        row(spec, '  of which JS thread', '% core', false, (o) => o.throughput?.median.cpu.jsThreadPct, true),
      );
      if (spec.subjects.some((s) => s.startsWith('agent-relay'))) rows.push(row(spec, 'hub CPU', '% core', false, (o) => o.throughput?.median.cpu.hubPct, true));
      rows.push(row(spec, 'other procs CPU', '% core', false, (o) => o.throughput?.median.cpu.otherPct, true));
    } else if (spec.kind === 'rtt') {
      rows.push(
        row(spec, 'RTT p50', 'µs', false, (o) => o.rtt?.summaryUs.p50),
        row(spec, 'RTT p99', 'µs', false, (o) => o.rtt?.summaryUs.p99),
      );
    } else {
      rows.push(
        row(spec, `${p.file.bytes / 1024 / 1024} MiB sendFile`, 'MB/s', true, (o) => o.file?.median.mbps),
        row(spec, 'peers CPU', '% core', false, (o) => o.file?.median.cpu.benchPct, true),
        row(spec, '  of which JS thread', '% core', false, (o) => o.file?.median.cpu.jsThreadPct, true),
        row(spec, 'hub CPU', '% core', false, (o) => o.file?.median.cpu.hubPct, true),
        row(spec, 'other procs CPU', '% core', false, (o) => o.file?.median.cpu.otherPct, true),
      );
    }
  }

  for (const f of failures) notes.push(`FAILED ${f.scenario}/${f.subject}: ${f.error}`);
  const prevFrame = pr.builds.previous?.frame;
  notes.push(
    `Worker processes: both peers of every subject (raw-nd and agents alike) run in one worker process per build, so on ${os.cpus().length} cores they share one event loop and compete for CPU with each other (and, for agent-relay, with the hub child). "peers CPU µs/msg" is the cost of both ends per message, independent of pacing. "JS thread" is the worker's main thread (/proc/<pid>/task): at ~100% the shared event loop is the limit; the rest is libdatachannel's native threads (SCTP/DTLS/ICE).`,
    `Throughput: the sender never stops during the measured window (${p.throughput.warmupMs} ms warm-up, then ${p.throughput.measureMs} ms counted at the receiver); median of ${p.throughput.rounds} interleaved round(s); every sent message is checked to arrive. MB/s = 10^6 payload bytes.`,
    `Agent messages of 16384 B fit one ${frame.chunkBytes / 1024} KiB frame (${frame.dataHeaderBytes} B header, + ${frame.sealOverheadBytes} B GCM prefix/tag with E2EE); p2p-throughput-1frame sends ${oneFrameBytes} B messages (the most one frame carries even with E2EE).`,
    `RTT: A sends ${p.rtt.payloadBytes} B, B's message handler sends it back, A times it (performance.now), ${p.rtt.rounds} round(s) × ${p.rtt.samples} after ${p.rtt.warmup} warm-up each (${p.rtt.firstWarmup ?? p.rtt.warmup} before a subject's first round). Agent RTT includes await room.send and the reliable layer (acks ride on the echo).`,
    `File: ${p.file.bytes / 1024 / 1024} MiB random temp file, room.sendFile(file, { to }) timed from the call to its resolution (B confirms after verifying SHA-256; B's file-received hash is checked too), ${p.file.rounds} round(s), median. agent-relay: both agents tryNative: false.`,
    'Hub: rtc-agent hub of the same build in a child process (bench/servers/hub-server.ts, rate limit lifted, 64 KiB max message); all its agents use it for signaling; only agent-relay carries data through it. ICE on 127.0.0.1 only, no STUN.',
  );
  if (previous) {
    notes.push(
      `--previous ${ctx.previousDist}: ${AGENT_SUBJECTS.map(prev).join(', ')} are that build's agents in a worker of their own (node-datachannel's cleanup() refcount is per build, so builds never share a process), with that build's hub. Columns X/X@prev are today / previous: ↑ throughput above 1.00 or ↓ RTT below 1.00 is today faster; within ±5% is the same.`,
    );
    if (prevFrame && (prevFrame.chunkBytes !== frame.chunkBytes || prevFrame.dataHeaderBytes !== frame.dataHeaderBytes || prevFrame.sealOverheadBytes !== frame.sealOverheadBytes)) {
      notes.push(`Frame constants differ: today ${JSON.stringify(frame)}, previous ${JSON.stringify(prevFrame)}; p2p-throughput-1frame uses today's, so the previous build may split those messages.`);
    }
  }
  if (ctx.cpuProfileDir) pr.details.push('Profiles: each hub and each peers worker ran with --cpu-prof; summaries above, files in the profile directory.');

  const usedSubjects = allSubjects.filter((s) => specs.some((spec) => spec.subjects.includes(s)));
  const ratios = [
    { of: 'agent', to: 'raw-nd' },
    { of: 'agent-e2ee', to: 'agent' },
    { of: 'agent-relay', to: 'agent' },
    ...AGENT_SUBJECTS.map((s) => ({ of: s, to: prev(s) })),
  ].filter((r) => usedSubjects.includes(r.of) && usedSubjects.includes(r.to));
  return {
    name: 'agent-paths',
    title: `Agent paths: bare node-datachannel vs agent P2P vs agent P2P+E2EE vs agent relay${previous ? ', today vs the previous build' : ''} (both peers in one worker process per build, hubs in children)`,
    subjects: usedSubjects,
    baseline: usedSubjects.includes('raw-nd') ? 'raw-nd' : 'agent',
    ratios,
    rows,
    raw: {
      subjects: subjectDefs.map((s) => ({ name: s.name, label: s.label, build: s.build })),
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

export const agentPathsBench: BenchModule = {
  name: 'agent-paths',
  description:
    'agent P2P / E2EE / relay / file transfer vs bare node-datachannel (--previous <dist dir>: the same for another build, side by side); scenarios p2p-throughput-16KiB, p2p-throughput-1frame, p2p-rtt-64B, relay-throughput-16KiB, relay-rtt-64B, file-transfer',
  run,
};
