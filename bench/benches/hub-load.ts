/**
 * hub-load: our hub (Node, dist/) vs interop/aspnet-hub (ASP.NET Core SignalR) under load, with the
 * same raw SignalR JSON clients (relay/raw-signalr.ts, cheaper per connection than the official
 * client), each hub in its own process, started fresh for every scenario:
 *
 *   connections    1k/5k/10k idle WebSocket clients, each joined to a room of 8: connect time,
 *                  failures, hub RSS and RSS per connection (from /proc/<pid>/status)
 *   fanout-knee    one sender broadcasting 1 KiB to 32 receivers at rising rates: the last rate
 *                  whose receivers' one-way p99 stays under 100 ms
 *   slow-consumer  a busy room (8 members, 16 KiB at 200/s) where one member stops reading: the
 *                  others' largest gap between deliveries and their p99 while it is frozen
 *
 * Without `dotnet` the aspnet-hub column is empty, with a note.
 */
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { startServerChild, type ServerChild } from '../lib/child.js';
import { round } from '../lib/stats.js';
import type { BenchContext, BenchModule, BenchResult, ResultRow } from '../lib/types.js';
import { connectionLevels, fanoutKnee, slowConsumer, type KneeStep, type LevelResult, type SlowConsumerResult } from '../relay/load-scenarios.js';
import { prepareAspNetHub, startAspNetHub } from '../servers/aspnet-hub.js';

const HUB_SERVER = fileURLToPath(new URL('../servers/hub-server.ts', import.meta.url));
const SUBJECTS = ['node-hub', 'aspnet-hub'] as const;
type Subject = (typeof SUBJECTS)[number];
const SCENARIOS = ['connections', 'fanout-knee', 'slow-consumer'] as const;
type Scenario = (typeof SCENARIOS)[number];
/** Connections come from a loopback address of their own per hub, so 10k closes (TIME_WAIT) of one never crowd the other's ports. */
const LOCAL_ADDRESS: Record<Subject, string> = { 'node-hub': '127.0.0.2', 'aspnet-hub': '127.0.0.3' };
/** Issue 13: a frozen member must not stop the others' deliveries for longer than this. */
const GAP_TARGET_MS = 250;
const P99_LIMIT_MS = 100;
/** Over 10k connections, the hub's own default cap (and the process's fd limit) must not be what is measured. */
const NODE_HUB_MAX_CONNECTIONS = 12_000;

interface Params {
  levels: number[];
  roomSize: number;
  concurrency: number;
  settleMs: number;
  fanout: { receivers: number; payloadBytes: number; rates: number[]; warmupMs: number; stepMs: number; drainMs: number };
  slow: { members: number; payloadBytes: number; rate: number; beforeMs: number; frozenMs: number; afterMs: number; drainMs: number };
}

function params(quick: boolean): Params {
  return quick
    ? {
        levels: [200, 1_000],
        roomSize: 8,
        concurrency: 32,
        settleMs: 1_000,
        fanout: { receivers: 32, payloadBytes: 1024, rates: [200, 800, 3_200], warmupMs: 1_000, stepMs: 1_000, drainMs: 5_000 },
        slow: { members: 8, payloadBytes: 16 * 1024, rate: 200, beforeMs: 500, frozenMs: 2_000, afterMs: 1_000, drainMs: 5_000 },
      }
    : {
        levels: [1_000, 5_000, 10_000],
        roomSize: 8,
        concurrency: 64,
        settleMs: 3_000,
        fanout: { receivers: 32, payloadBytes: 1024, rates: [100, 200, 400, 800, 1_600, 3_200, 6_400, 12_800], warmupMs: 5_000, stepMs: 3_000, drainMs: 10_000 },
        slow: { members: 8, payloadBytes: 16 * 1024, rate: 200, beforeMs: 1_000, frozenMs: 6_000, afterMs: 2_000, drainMs: 10_000 },
      };
}

interface Outcome {
  connections?: { baselineRssBytes: number | null; levels: LevelResult[] };
  fanout?: { steps: KneeStep[]; kneeRate: number | null; passedAt: number | null };
  slow?: SlowConsumerResult;
  errors: string[];
}

async function startHub(s: Subject): Promise<ServerChild> {
  if (s === 'node-hub') return startServerChild(HUB_SERVER, { args: ['--max-peers', '200', '--max-connections', String(NODE_HUB_MAX_CONNECTIONS)] });
  return startAspNetHub({ maxPeersPerRoom: 200 });
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const p = params(ctx.quick);
  const chosen = ctx.scenarios.length ? SCENARIOS.filter((s) => ctx.scenarios.includes(s)) : [...SCENARIOS];
  if (chosen.length === 0) throw new Error(`no scenario matches ${ctx.scenarios.join(', ')}; have ${SCENARIOS.join(', ')}`);
  const notes: string[] = [];
  const out: Record<Subject, Outcome> = { 'node-hub': { errors: [] }, 'aspnet-hub': { errors: [] } };
  const probe = await prepareAspNetHub(ctx.log);
  const subjects: Subject[] = ['node-hub'];
  if ('missing' in probe) {
    notes.push(`aspnet-hub not measured: ${probe.missing}.`);
    ctx.log(`aspnet-hub: skipped: ${probe.missing}`);
  } else subjects.push('aspnet-hub');

  for (const [k, scenario] of chosen.entries()) {
    // Alternate which hub goes first, so neither always meets the machine in the same state.
    for (const s of k % 2 === 0 ? subjects : [...subjects].reverse()) {
      let hub: ServerChild | undefined;
      try {
        hub = await startHub(s);
        ctx.log(`${scenario} / ${s}: ${hub.url} (pid ${hub.pid})`);
        if (scenario === 'connections') {
          out[s].connections = await connectionLevels(hub.url, hub.pid, { levels: p.levels, roomSize: p.roomSize, concurrency: p.concurrency, settleMs: p.settleMs, localAddress: LOCAL_ADDRESS[s], log: ctx.log });
        } else if (scenario === 'fanout-knee') {
          out[s].fanout = await fanoutKnee(hub.url, hub.pid, { ...p.fanout, p99LimitMs: P99_LIMIT_MS, log: ctx.log });
        } else {
          out[s].slow = await slowConsumer(hub.url, { ...p.slow, log: ctx.log });
        }
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        out[s].errors.push(`${scenario}: ${msg}`);
        ctx.log(`${scenario} / ${s}: FAILED ${msg}`);
      } finally {
        await hub?.stop();
        const tail = hub?.stderrTail().trim();
        if (tail) notes.push(`${s} stderr during ${scenario} (tail): ${tail.slice(-800)}`);
      }
    }
  }

  const rows: ResultRow[] = [];
  const row = (scenario: string, metric: string, unit: string, higherIsBetter: boolean, pick: (o: Outcome) => number | null | undefined, informational = false): ResultRow => ({
    scenario,
    metric,
    unit,
    higherIsBetter,
    ...(informational ? { informational } : {}),
    values: Object.fromEntries(SUBJECTS.map((s) => [s, pick(out[s]) ?? null])),
  });
  const mib = (b: number | null | undefined): number | null => (b === null || b === undefined ? null : round(b / 1024 / 1024, 1));
  if (chosen.includes('connections')) {
    for (const level of p.levels) {
      const at = (o: Outcome): LevelResult | undefined => o.connections?.levels.find((l) => l.level === level);
      const id = `connections-${level >= 1000 ? `${level / 1000}k` : level}`;
      rows.push(
        row(id, 'connected and joined', 'count', true, (o) => at(o)?.connected),
        row(id, 'failed', 'count', false, (o) => at(o)?.failed, true),
        row(id, 'connect + join rate', '/s', true, (o) => at(o)?.connectsPerSec),
        row(id, 'hub RSS', 'MiB', false, (o) => mib(at(o)?.hubRssBytes)),
        row(id, 'hub RSS per connection', 'KiB', false, (o) => (at(o)?.rssPerConnectionBytes == null ? null : round((at(o)?.rssPerConnectionBytes as number) / 1024, 1))),
        row(id, 'hub CPU per connect + join', 'µs', false, (o) => at(o)?.hubCpuUsPerConnection),
      );
    }
    rows.push(row('connections', 'hub RSS before any client', 'MiB', false, (o) => mib(o.connections?.baselineRssBytes), true));
  }
  if (chosen.includes('fanout-knee')) {
    const knee = (o: Outcome): KneeStep | undefined => o.fanout?.steps.find((x) => x.rate === o.fanout?.kneeRate);
    const past = (o: Outcome): KneeStep | undefined => o.fanout?.steps.find((x) => x.rate === o.fanout?.passedAt);
    rows.push(
      row('fanout-knee', `deliveries/s with p99 ≤ ${P99_LIMIT_MS} ms`, '/s', true, (o) => knee(o)?.deliveriesPerSecTarget),
      row('fanout-knee', 'p50 at that rate', 'ms', false, (o) => knee(o)?.p50Ms),
      row('fanout-knee', 'p99 at that rate', 'ms', false, (o) => knee(o)?.p99Ms),
      row('fanout-knee', 'next step: deliveries/s', '/s', true, (o) => past(o)?.deliveriesPerSecTarget, true),
      row('fanout-knee', 'next step: p99', 'ms', false, (o) => past(o)?.p99Ms, true),
      row('fanout-knee', 'next step: bench (clients) CPU', '% core', false, (o) => past(o)?.clientCpuPct, true),
      row('fanout-knee', 'next step: hub CPU', '% core', false, (o) => past(o)?.hubCpuPct, true),
    );
  }
  if (chosen.includes('slow-consumer')) {
    rows.push(
      row('slow-consumer', 'others: largest gap between deliveries', 'ms', false, (o) => o.slow?.largestGapMs),
      row('slow-consumer', 'others: p50 while one is frozen', 'ms', false, (o) => o.slow?.frozenP50Ms),
      row('slow-consumer', 'others: p99 while one is frozen', 'ms', false, (o) => o.slow?.frozenP99Ms),
      row('slow-consumer', 'others: messages missing', 'count', false, (o) => o.slow?.healthyMissing),
      row('slow-consumer', 'frozen member closed by the hub after', 'ms', false, (o) => o.slow?.frozenClosedAfterMs, true),
    );
  }

  for (const s of subjects) {
    const o = out[s];
    for (const e of o.errors) notes.push(`FAILED ${s} ${e}`);
    if (o.connections) {
      const last = o.connections.levels[o.connections.levels.length - 1];
      if (last?.firstError) notes.push(`${s} connections: ${last.failed} failed; first error: ${last.firstError}`);
    }
    if (o.fanout) notes.push(`${s} fan-out steps (msg/s → p50/p99 ms, delivered/expected, bench CPU %): ${o.fanout.steps.map((x) => `${x.rate} → ${x.p50Ms}/${x.p99Ms}, ${x.delivered}/${x.expected}, ${x.clientCpuPct}%`).join('; ')}${o.fanout.passedAt === null ? ' (p99 never passed the limit: the knee is above the last rate)' : ''}.`);
    if (o.slow) {
      const met = o.slow.largestGapMs <= GAP_TARGET_MS;
      notes.push(`${s} slow consumer: frozen member ${o.slow.frozenOutcome}${o.slow.frozenClosedAfterMs !== null ? ` (closed ${o.slow.frozenClosedAfterMs} ms into the freeze)` : ''}, got ${o.slow.frozenDeliveredAfter} messages after resuming; others' largest gap ${o.slow.largestGapMs} ms — target ≤ ${GAP_TARGET_MS} ms ${met ? 'met' : 'NOT met'}.`);
    }
  }
  notes.push(
    `Clients: raw SignalR JSON over ws (bench/relay/raw-signalr.ts: WebSocket straight to /hub, handshake, Join with an agent hello, Relay fire-and-forget, a ping every 15 s), all in the bench process; on ${os.cpus().length} cores they compete with the hub, so check the bench CPU next to each knee.`,
  );
  if (chosen.includes('connections')) {
    notes.push(
      `connections: levels ${p.levels.join('/')}, rooms of ${p.roomSize}, ${p.concurrency} connects in flight, from ${LOCAL_ADDRESS['node-hub']} (node-hub) and ${LOCAL_ADDRESS['aspnet-hub']} (aspnet-hub); RSS read ${p.settleMs} ms after each level; per connection = (RSS − RSS before any client) / connected. .NET's server GC keeps memory it may reuse, so its RSS is an upper bound. node-hub runs with --max-connections ${NODE_HUB_MAX_CONNECTIONS}.`,
    );
  }
  if (chosen.includes('fanout-knee')) {
    notes.push(
      `fanout-knee: ${p.fanout.receivers} receivers, ${p.fanout.payloadBytes} B payloads broadcast (Relay to null), rates ${p.fanout.rates.join('/')} msg/s for ${p.fanout.stepMs} ms each after ${p.fanout.warmupMs} ms of unmeasured warm-up at the first rate, stopping at the first step whose p99 passes ${P99_LIMIT_MS} ms or that loses deliveries; one-way latency from the send time in the payload.`,
    );
  }
  if (chosen.includes('slow-consumer')) {
    notes.push(
      `slow-consumer: ${p.slow.members} members, ${p.slow.payloadBytes} B broadcast at ${p.slow.rate}/s; after ${p.slow.beforeMs} ms one member stops reading its socket (ws.pause) for ${p.slow.frozenMs} ms, then reads again for ${p.slow.afterMs} ms. Gaps are measured at the other receivers from the freeze on.`,
    );
  }
  if (!('missing' in probe)) notes.push(`dotnet SDK ${probe.version}.`);
  return {
    name: 'hub-load',
    title: 'Hub load: rtc-agent hub (Node) vs ASP.NET Core hub — idle connections, fan-out knee, a slow consumer (same raw SignalR clients)',
    subjects: [...SUBJECTS],
    baseline: 'aspnet-hub',
    ratios: [{ of: 'node-hub', to: 'aspnet-hub' }],
    rows,
    raw: { params: p, subjects, dotnet: 'missing' in probe ? null : probe.version, outcomes: out },
    notes,
  };
}

export const hubLoadBench: BenchModule = {
  name: 'hub-load',
  description: 'hub load, Node hub vs ASP.NET Core hub: RSS per connection at 1k/5k/10k idle clients, fan-out knee (p99 > 100 ms), slow consumer; scenarios connections, fanout-knee, slow-consumer',
  run,
};
