/**
 * Relay scenarios, written once against RelayClient and run unchanged for every subject.
 *
 * Throughput: one sender keeps at most `window` messages in flight (a message is "in flight"
 * until every receiver has it), so neither relay is pushed into its slow-consumer cut-off and we
 * measure sustained rate, not buffer filling. A phase stops at `count` messages or `maxMs`,
 * whichever is first.
 *
 * Subjects are connected side by side and their rounds interleaved (A B, B A, A B, ...), so load
 * from anything else on the machine hits both alike instead of skewing one subject's numbers.
 *
 * Latency: a separate low-rate phase (one message every `intervalMs`) so queueing from the
 * throughput phase is not in the numbers. One-way latency = receive time − send time embedded in
 * the payload; both ends are in this process, so they share performance.now()'s clock.
 */
import { deferred, sleep, withTimeout } from '../lib/async.js';
import { openCpuWindow } from '../lib/cpu.js';
import { round, summarize, type LatencySummary } from '../lib/stats.js';
import type { RelayClient, RelayClientFactory } from './clients.js';
import { PayloadFactory, readHeader } from './payload.js';

export interface ScenarioSpec {
  id: string;
  title: string;
  payloadBytes: number;
  /** Room size including the sender; 2 = one-to-one (to = peerId), more = broadcast (to = null). */
  members: number;
  /** Max messages in flight. */
  window: number;
  /**
   * Payload bytes the sender writes per event-loop turn before yielding (setImmediate). The official
   * SignalR client joins every message queued in one turn into ONE WebSocket frame (its
   * TransportSendQueue), so an unbounded burst becomes an arbitrarily large frame; yielding keeps
   * frames to a realistic size. Applied to every subject alike.
   */
  burstBytes: number;
  warmup: { count: number; maxMs: number };
  throughput: { count: number; maxMs: number; rounds: number };
  latency: { samples: number; intervalMs: number };
}

export interface ThroughputPhase {
  sent: number;
  /** Messages delivered to every receiver inside the measured window. */
  messages: number;
  /** Individual receiver deliveries inside the measured window. */
  deliveries: number;
  elapsedMs: number;
  /** True when the time bound, not the message count, ended the phase. */
  hitTimeBound: boolean;
  messagesPerSec: number;
  deliveriesPerSec: number;
  /** Delivered payload bytes (raw, before base64) per second, in 10^6 bytes. */
  payloadMBps: number;
  clientCpuPct: number;
  serverCpuPct: number | null;
  /** CPU used by other processes on the machine during the round (% of one core). */
  otherCpuPct: number | null;
  /** Server CPU time per delivery in µs: server cost independent of who was the bottleneck. */
  serverCpuUsPerDelivery: number | null;
  /** Deliveries still missing after the drain wait (lost or stuck). */
  undelivered: number;
}

export interface LatencyPhase {
  sent: number;
  received: number;
  summaryMs: LatencySummary;
  /** Every one-way latency in ms (µs precision), in arrival order. */
  samplesMs: number[];
}

export interface ScenarioRun {
  scenario: string;
  subject: string;
  receivers: number;
  warmup: ThroughputPhase;
  rounds: ThroughputPhase[];
  /** The median round by messages/s among rounds without CPU contention (all rounds if none); what the table shows. */
  median: ThroughputPhase;
  /** How many rounds `median` was taken from ('clean' = other processes under NOISY_OTHER_PCT). */
  medianOf: { pool: 'clean' | 'all'; rounds: number };
  latency: LatencyPhase;
  clientErrors: string[];
}

interface Group {
  sender: RelayClient;
  receivers: RelayClient[];
  to: string | null;
}

const DRAIN_TIMEOUT_MS = 10_000;
const JOIN_BATCH = 10;

/** Sequence numbers are unique across phases so a late message from one phase never counts in the next. */
let nextSeq = 1;

async function throughputPhase(group: Group, payloads: PayloadFactory, spec: ScenarioSpec, bound: { count: number; maxMs: number }, serverPid: number): Promise<ThroughputPhase> {
  const { count, maxMs } = bound;
  const window = spec.window;
  const n = group.receivers.length;
  const seqBase = nextSeq;
  nextSeq += count;
  const perMessage = new Uint16Array(count);
  let sent = 0;
  let completed = 0;
  let deliveries = 0;
  let totalDeliveries = 0;
  let measuring = true;
  let lastCompletionAt = 0;
  const finished = deferred<void>();
  const drained = deferred<void>();

  const burstMessages = Math.max(1, Math.floor(spec.burstBytes / spec.payloadBytes));
  let pumpScheduled = false;
  const pump = (): void => {
    pumpScheduled = false;
    let burst = 0;
    while (measuring && sent < count && sent - completed < window) {
      if (burst === burstMessages) {
        if (!pumpScheduled) {
          pumpScheduled = true;
          setImmediate(pump);
        }
        return;
      }
      group.sender.send(group.to, payloads.make(seqBase + sent));
      sent++;
      burst++;
    }
  };
  const onRelayed = (_from: string, payload: string): void => {
    const i = readHeader(payload).seq - seqBase;
    if (i < 0 || i >= count) return;
    totalDeliveries++;
    if (totalDeliveries === sent * n && !measuring) drained.resolve();
    if (!measuring) return;
    deliveries++;
    perMessage[i] = (perMessage[i] as number) + 1;
    if (perMessage[i] !== n) return;
    completed++;
    lastCompletionAt = performance.now();
    if (completed === count) {
      measuring = false;
      finished.resolve();
      drained.resolve();
    } else if (!pumpScheduled && sent - completed <= window / 2) {
      // Refill in batches rather than per message: fewer, larger write bursts, like a real bulk sender.
      pump();
    }
  };
  for (const r of group.receivers) r.onRelayed = onRelayed;

  const cpu = openCpuWindow(serverPid);
  const t0 = performance.now();
  const deadline = setTimeout(() => {
    measuring = false;
    finished.resolve();
  }, maxMs);
  pump();
  await finished.promise;
  clearTimeout(deadline);
  const hitTimeBound = completed < count;
  const elapsedMs = (hitTimeBound ? performance.now() : lastCompletionAt) - t0;
  const usage = cpu.stop();

  // Let in-flight messages land before the next phase, so they don't steal its CPU.
  if (totalDeliveries < sent * n) await withTimeout(drained.promise, DRAIN_TIMEOUT_MS, 'drain').catch(() => undefined);
  for (const r of group.receivers) r.onRelayed = () => undefined;

  const seconds = elapsedMs / 1000;
  return {
    sent,
    messages: completed,
    deliveries,
    elapsedMs: round(elapsedMs),
    hitTimeBound,
    messagesPerSec: round(completed / seconds, 1),
    deliveriesPerSec: round(deliveries / seconds, 1),
    payloadMBps: round((deliveries * spec.payloadBytes) / seconds / 1e6),
    clientCpuPct: round(usage.clientPct, 1),
    serverCpuPct: usage.serverPct === null ? null : round(usage.serverPct, 1),
    otherCpuPct: usage.otherPct === null ? null : round(usage.otherPct, 1),
    serverCpuUsPerDelivery:
      usage.serverPct === null || deliveries === 0 ? null : round(((usage.serverPct / 100) * elapsedMs * 1000) / deliveries, 2),
    undelivered: sent * n - totalDeliveries,
  };
}

async function latencyPhase(group: Group, payloads: PayloadFactory, spec: ScenarioSpec): Promise<LatencyPhase> {
  const { samples, intervalMs } = spec.latency;
  const n = group.receivers.length;
  const seqBase = nextSeq;
  nextSeq += samples;
  const latencies: number[] = [];
  const all = deferred<void>();
  for (const r of group.receivers) {
    r.onRelayed = (_from, payload) => {
      const now = performance.now();
      const h = readHeader(payload);
      if (h.seq < seqBase || h.seq >= seqBase + samples) return;
      latencies.push(now - h.sentAt);
      if (latencies.length === samples * n) all.resolve();
    };
  }
  for (let i = 0; i < samples; i++) {
    group.sender.send(group.to, payloads.make(seqBase + i));
    await sleep(intervalMs);
  }
  await withTimeout(all.promise, DRAIN_TIMEOUT_MS, 'latency samples').catch(() => undefined);
  for (const r of group.receivers) r.onRelayed = () => undefined;
  const s = summarize(latencies);
  return {
    sent: samples,
    received: latencies.length,
    summaryMs: { count: s.count, min: round(s.min), p50: round(s.p50), p90: round(s.p90), p99: round(s.p99), max: round(s.max), mean: round(s.mean) },
    samplesMs: latencies.map((v) => round(v)),
  };
}

async function connectAll(factory: RelayClientFactory, room: string, members: number): Promise<RelayClient[]> {
  const clients: RelayClient[] = [];
  try {
    // Small batches: fast setup without a connect storm that would be its own (unmeasured) benchmark.
    for (let i = 0; i < members; i += JOIN_BATCH) {
      const batch = Array.from({ length: Math.min(JOIN_BATCH, members - i) }, (_, k) => factory(room, `bench-${i + k}`));
      const settled = await Promise.allSettled(batch);
      for (const s of settled) if (s.status === 'fulfilled') clients.push(s.value);
      const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failed) throw failed.reason;
    }
    return clients;
  } catch (err) {
    await Promise.all(clients.map((c) => c.close()));
    throw err;
  }
}

/** Other processes using more than this (% of one core) during a round make its numbers suspect. */
export const NOISY_OTHER_PCT = 20;

function medianBy(phases: ThroughputPhase[]): ThroughputPhase {
  const sorted = [...phases].sort((a, b) => a.messagesPerSec - b.messagesPerSec);
  return sorted[Math.floor((sorted.length - 1) / 2)] as ThroughputPhase;
}

/**
 * Median of the rounds that had the machine to themselves, falling back to all rounds. On a shared
 * dev machine a build or test run steals a core now and then; those rounds say nothing about the relay.
 */
function representative(phases: ThroughputPhase[]): { median: ThroughputPhase; medianOf: ScenarioRun['medianOf'] } {
  const clean = phases.filter((p) => p.otherCpuPct === null || p.otherCpuPct <= NOISY_OTHER_PCT);
  const pool = clean.length > 0 ? clean : phases;
  return { median: medianBy(pool), medianOf: { pool: clean.length > 0 ? 'clean' : 'all', rounds: pool.length } };
}

export interface SubjectEntry {
  name: string;
  factory: RelayClientFactory;
  serverPid: number;
}

interface Prepared {
  entry: SubjectEntry;
  clients: RelayClient[];
  group: Group;
  payloads: PayloadFactory;
  warmup?: ThroughputPhase;
  rounds: ThroughputPhase[];
  latency?: LatencyPhase;
  error?: string;
}

export interface ScenarioOutcome {
  runs: ScenarioRun[];
  failures: { subject: string; error: string }[];
}

async function prepare(spec: ScenarioSpec, entry: SubjectEntry): Promise<Prepared> {
  const room = `bench-${spec.id}-${entry.name}-${Date.now().toString(36)}`;
  const clients = await connectAll(entry.factory, room, spec.members);
  const [sender, ...receivers] = clients as [RelayClient, ...RelayClient[]];
  return {
    entry,
    clients,
    group: { sender, receivers, to: spec.members === 2 ? (receivers[0] as RelayClient).peerId : null },
    payloads: new PayloadFactory(spec.payloadBytes),
    rounds: [],
  };
}

/** Runs one scenario for every subject: warm-ups, interleaved throughput rounds, then latency. */
export async function runScenario(spec: ScenarioSpec, entries: SubjectEntry[], log: (line: string) => void): Promise<ScenarioOutcome> {
  const failures: ScenarioOutcome['failures'] = [];
  const prepared: Prepared[] = [];
  try {
    for (const entry of entries) {
      try {
        prepared.push(await prepare(spec, entry));
      } catch (err) {
        failures.push({ subject: entry.name, error: `connect/join: ${String(err)}` });
      }
    }
    const step = async (p: Prepared, what: string, fn: () => Promise<void>): Promise<void> => {
      if (p.error !== undefined) return;
      try {
        await fn();
      } catch (err) {
        p.error = `${what}: ${String(err)}`;
      }
    };
    for (const p of prepared) {
      await step(p, 'warm-up', async () => {
        p.warmup = await throughputPhase(p.group, p.payloads, spec, spec.warmup, p.entry.serverPid);
      });
    }
    for (let round = 0; round < spec.throughput.rounds; round++) {
      // Rotate who goes first each round so no subject always follows the same neighbour.
      const order = prepared.map((_, i) => prepared[(i + round) % prepared.length] as Prepared);
      for (const p of order) {
        await step(p, `round ${round + 1}`, async () => {
          const r = await throughputPhase(p.group, p.payloads, spec, spec.throughput, p.entry.serverPid);
          p.rounds.push(r);
          log(`  ${spec.id} ${p.entry.name} round ${round + 1}: ${r.messagesPerSec} msg/s (server ${r.serverCpuPct}%, client ${r.clientCpuPct}%, other ${r.otherCpuPct}% CPU)`);
        });
      }
    }
    for (const p of prepared) {
      await step(p, 'latency', async () => {
        p.latency = await latencyPhase(p.group, p.payloads, spec);
        log(`  ${spec.id} ${p.entry.name} latency: p50 ${p.latency.summaryMs.p50} ms, p99 ${p.latency.summaryMs.p99} ms`);
      });
    }
  } finally {
    await Promise.all(prepared.flatMap((p) => p.clients.map((c) => c.close())));
  }

  const runs: ScenarioRun[] = [];
  for (const p of prepared) {
    const clientErrors = p.clients.map((c) => c.error).filter((e): e is string => e !== null);
    for (const e of clientErrors) failures.push({ subject: p.entry.name, error: e });
    if (p.error !== undefined) failures.push({ subject: p.entry.name, error: p.error });
    if (!p.warmup || p.rounds.length === 0 || !p.latency) continue;
    runs.push({
      scenario: spec.id,
      subject: p.entry.name,
      receivers: p.group.receivers.length,
      warmup: p.warmup,
      rounds: p.rounds,
      ...representative(p.rounds),
      latency: p.latency,
      clientErrors,
    });
  }
  return { runs, failures };
}
