/**
 * cluster: the hub cluster on one redis-server (`rtc-agent hub --redis`), side by side in one run:
 *
 * - relay between two members on different hubs vs on the same hub of the cluster vs a single hub
 *   without Redis: throughput, one-way p50/p99 latency, CPU per delivery (every hub process plus
 *   redis-server);
 * - fan-out from one sender to 49 members, spread over 3 hubs vs on one cluster hub vs a single hub;
 * - connections held by 3 hub processes together (raw SignalR WebSockets from child processes,
 *   each joined to a room whose members are spread over all 3 hubs), with memory per connection.
 *
 * Hubs run as `rtc-agent hub` processes (dist/), all clients relay scenarios in this process.
 * Needs `redis-server` (Debian package); without it the bench reports why and measures nothing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { RedisServer, redisUnavailableReason } from '../../test/helpers/redis.js';
import { deferred, sleep, withTimeout } from '../lib/async.js';
import { startCommandChild, startServerChild, trackChild, type ServerChild } from '../lib/child.js';
import { machineBusyMs, pidCpuMs, selfCpuMs } from '../lib/cpu.js';
import { round, summarize } from '../lib/stats.js';
import type { BenchContext, BenchModule, BenchResult, ResultRow } from '../lib/types.js';
import { signalrClientFactory, type RelayClient } from '../relay/clients.js';
import { PayloadFactory, readHeader } from '../relay/payload.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const HUB_SERVER = fileURLToPath(new URL('../servers/hub-server.ts', import.meta.url));
const BURST_BYTES = 64 * 1024;
const DRAIN_TIMEOUT_MS = 10_000;

/** Columns: members on different hubs (under test), on one hub of the cluster, a hub without Redis. */
const SUBJECTS = ['cross-hub', 'same-hub', 'single'] as const;
type Subject = (typeof SUBJECTS)[number];

interface Spec {
  id: string;
  title: string;
  payloadBytes: number;
  members: number;
  window: number;
  warmup: { count: number; maxMs: number };
  throughput: { count: number; maxMs: number; rounds: number };
  latency: { samples: number; intervalMs: number };
}

function specs(quick: boolean): Spec[] {
  const rounds = quick ? 1 : 3;
  const maxMs = quick ? 1_000 : 2_000;
  return [
    {
      id: 'pair-1KiB',
      title: 'two members, 1 KiB relays',
      payloadBytes: 1024,
      members: 2,
      window: 512,
      warmup: { count: quick ? 5_000 : 30_000, maxMs: 3_000 },
      throughput: { count: 50_000, maxMs, rounds },
      latency: { samples: quick ? 100 : 400, intervalMs: 2 },
    },
    {
      id: 'fanout-50x1KiB',
      title: 'one sender broadcasts 1 KiB to 49 members',
      payloadBytes: 1024,
      members: 50,
      window: 256,
      warmup: { count: 1_000, maxMs: 2_000 },
      throughput: { count: 20_000, maxMs, rounds },
      latency: { samples: quick ? 40 : 150, intervalMs: 10 },
    },
  ];
}

/** CPU of several processes (hubs, redis-server) over a window, next to this process and the machine. */
function cpuWindow(pids: number[]): () => { serverMs: number; clientPct: number; otherPct: number | null; wallMs: number } {
  const t0 = performance.now();
  const self0 = selfCpuMs();
  const servers0 = pids.map((p) => pidCpuMs(p) ?? 0);
  const machine0 = machineBusyMs();
  return () => {
    const wallMs = performance.now() - t0;
    const self = selfCpuMs() - self0;
    const serverMs = pids.reduce((sum, p, i) => sum + ((pidCpuMs(p) ?? 0) - (servers0[i] as number)), 0);
    const machine1 = machineBusyMs();
    const other = machine0 === null || machine1 === null ? null : Math.max(0, machine1 - machine0 - self - serverMs);
    return { serverMs, clientPct: (self / wallMs) * 100, otherPct: other === null ? null : (other / wallMs) * 100, wallMs };
  };
}

interface Group {
  subject: Subject;
  sender: RelayClient;
  receivers: RelayClient[];
  to: string | null;
  /** Processes whose CPU counts as the server side of this subject. */
  pids: number[];
  payloads: PayloadFactory;
}

interface Phase {
  messagesPerSec: number;
  deliveriesPerSec: number;
  serverCpuUsPerDelivery: number;
  serverCpuPct: number;
  clientCpuPct: number;
  otherCpuPct: number | null;
  undelivered: number;
}

let nextSeq = 1;

async function throughput(g: Group, spec: Spec, bound: { count: number; maxMs: number }): Promise<Phase> {
  const { count, maxMs } = bound;
  const n = g.receivers.length;
  const seqBase = nextSeq;
  nextSeq += count;
  const perMessage = new Uint16Array(count);
  let sent = 0;
  let completed = 0;
  let deliveries = 0;
  let total = 0;
  let measuring = true;
  let lastAt = 0;
  const finished = deferred<void>();
  const drained = deferred<void>();
  const burst = Math.max(1, Math.floor(BURST_BYTES / spec.payloadBytes));
  let scheduled = false;
  const pump = (): void => {
    scheduled = false;
    let k = 0;
    while (measuring && sent < count && sent - completed < spec.window) {
      if (k === burst) {
        if (!scheduled) {
          scheduled = true;
          setImmediate(pump);
        }
        return;
      }
      g.sender.send(g.to, g.payloads.make(seqBase + sent));
      sent++;
      k++;
    }
  };
  const onRelayed = (_from: string, payload: string): void => {
    const i = readHeader(payload).seq - seqBase;
    if (i < 0 || i >= count) return;
    total++;
    if (total === sent * n && !measuring) drained.resolve();
    if (!measuring) return;
    deliveries++;
    perMessage[i] = (perMessage[i] as number) + 1;
    if (perMessage[i] !== n) return;
    completed++;
    lastAt = performance.now();
    if (completed === count) {
      measuring = false;
      finished.resolve();
      drained.resolve();
    } else if (!scheduled && sent - completed <= spec.window / 2) pump();
  };
  for (const r of g.receivers) r.onRelayed = onRelayed;
  const cpu = cpuWindow(g.pids);
  const t0 = performance.now();
  const timer = setTimeout(() => {
    measuring = false;
    finished.resolve();
  }, maxMs);
  pump();
  await finished.promise;
  clearTimeout(timer);
  const elapsed = (completed < count ? performance.now() : lastAt) - t0;
  const usage = cpu();
  if (total < sent * n) await withTimeout(drained.promise, DRAIN_TIMEOUT_MS, 'drain').catch(() => undefined);
  for (const r of g.receivers) r.onRelayed = () => undefined;
  const s = elapsed / 1000;
  return {
    messagesPerSec: round(completed / s, 1),
    deliveriesPerSec: round(deliveries / s, 1),
    serverCpuUsPerDelivery: deliveries === 0 ? 0 : round(((usage.serverMs * elapsed) / usage.wallMs / deliveries) * 1000, 2),
    serverCpuPct: round((usage.serverMs / usage.wallMs) * 100, 1),
    clientCpuPct: round(usage.clientPct, 1),
    otherCpuPct: usage.otherPct === null ? null : round(usage.otherPct, 1),
    undelivered: sent * n - total,
  };
}

async function latency(g: Group, spec: Spec): Promise<{ p50: number; p99: number; received: number; expected: number }> {
  const { samples, intervalMs } = spec.latency;
  const n = g.receivers.length;
  const seqBase = nextSeq;
  nextSeq += samples;
  const values: number[] = [];
  const all = deferred<void>();
  for (const r of g.receivers) {
    r.onRelayed = (_f, payload) => {
      const now = performance.now();
      const h = readHeader(payload);
      if (h.seq < seqBase || h.seq >= seqBase + samples) return;
      values.push(now - h.sentAt);
      if (values.length === samples * n) all.resolve();
    };
  }
  for (let i = 0; i < samples; i++) {
    g.sender.send(g.to, g.payloads.make(seqBase + i));
    await sleep(intervalMs);
  }
  await withTimeout(all.promise, DRAIN_TIMEOUT_MS, 'latency samples').catch(() => undefined);
  for (const r of g.receivers) r.onRelayed = () => undefined;
  const s = summarize(values);
  return { p50: round(s.p50), p99: round(s.p99), received: values.length, expected: samples * n };
}

/** Members of a subject's room: member i on urls[i % urls.length] (the sender is member 0). */
async function group(subject: Subject, spec: Spec, urls: string[], pids: number[]): Promise<Group> {
  const room = `bench-${spec.id}-${subject}-${Date.now().toString(36)}`;
  const clients: RelayClient[] = [];
  for (let i = 0; i < spec.members; i += 10) {
    const batch = Array.from({ length: Math.min(10, spec.members - i) }, (_, k) => signalrClientFactory(urls[(i + k) % urls.length] as string)(room, `bench-${i + k}`));
    clients.push(...(await Promise.all(batch)));
  }
  const [sender, ...receivers] = clients as [RelayClient, ...RelayClient[]];
  // The sender's hub must list every member before it broadcasts (a broadcast reaches whom the
  // sender's hub lists); the last joins' announcements take a Redis round trip to get there.
  await sleep(500);
  return { subject, sender, receivers, to: spec.members === 2 ? (receivers[0] as RelayClient).peerId : null, pids, payloads: new PayloadFactory(spec.payloadBytes) };
}

function median(values: Phase[]): Phase {
  const sorted = [...values].sort((a, b) => a.messagesPerSec - b.messagesPerSec);
  return sorted[Math.floor((sorted.length - 1) / 2)] as Phase;
}

// ------------------------------------------------------------------ connections

/** A child process holding raw SignalR WebSockets (skipNegotiation), each joined to a room. */
const CONNECTIONS_CHILD = `
import WebSocket from 'ws';
import { createInterface } from 'node:readline';
const [url, countText, roomsText, offsetText] = process.argv.slice(1);
const count = Number(countText), rooms = Number(roomsText), offset = Number(offsetText);
const RS = '\\u001e';
let held = 0, failed = 0, relayed = 0;
const sockets = [];
function open(i) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), { perMessageDeflate: false });
    let stage = 0, buffer = '';
    ws.on('open', () => ws.send('{"protocol":"json","version":1}' + RS));
    ws.on('message', (data) => {
      buffer += data.toString();
      const parts = buffer.split(RS);
      buffer = parts.pop();
      for (const p of parts) {
        if (stage === 0) { stage = 1; ws.send(JSON.stringify({ type: 1, invocationId: '1', target: 'Join', arguments: ['conn-' + ((offset + i) % rooms), { agentKey: 'bench-conn-key-' + (offset + i) + '-aaaaaaaa' }] }) + RS); continue; }
        const m = JSON.parse(p);
        if (m.type === 3 && m.invocationId === '1') { stage = 2; if (m.error) { failed++; } else { held++; } resolve(); }
        else if (m.type === 1 && m.target === 'Relayed') relayed++;
      }
    });
    ws.on('error', () => { if (stage < 2) { failed++; stage = 2; resolve(); } });
    ws.on('close', () => { if (stage === 2 && held > 0) held--; });
    sockets.push(ws);
  });
}
const t0 = performance.now();
for (let i = 0; i < count; i += 200) {
  await Promise.all(Array.from({ length: Math.min(200, count - i) }, (_, k) => open(i + k)));
  if ((i / 200) % 5 === 4) console.log(JSON.stringify({ progress: held }));
}
console.log(JSON.stringify({ held, failed, openMs: Math.round(performance.now() - t0) }));
createInterface({ input: process.stdin }).on('line', () => console.log(JSON.stringify({ held, failed, relayed })));
process.stdin.on('end', () => process.exit(0));
`;

interface ConnChild {
  child: ChildProcess;
  /** Connections held at the last progress line. */
  progress(): number;
  first: Promise<{ held: number; failed: number; openMs: number }>;
  ask(): Promise<{ held: number; failed: number; relayed: number }>;
}

function connectionsChild(url: string, count: number, rooms: number, offset: number): ConnChild {
  const child = spawn(process.execPath, ['--input-type=module', '-e', CONNECTIONS_CHILD, url, String(count), String(rooms), String(offset)], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  trackChild(child);
  const lines = createInterface({ input: child.stdout! });
  const waiters: ((line: string) => void)[] = [];
  let progress = 0;
  lines.on('line', (line) => {
    if (line.startsWith('{"progress"')) progress = (JSON.parse(line) as { progress: number }).progress;
    else waiters.shift()?.(line);
  });
  const next = (): Promise<string> => new Promise((resolve) => waiters.push(resolve));
  return {
    child,
    progress: () => progress,
    first: next().then((l) => JSON.parse(l) as { held: number; failed: number; openMs: number }),
    ask: async () => {
      const reply = next();
      child.stdin!.write('stats\n');
      return JSON.parse(await reply) as { held: number; failed: number; relayed: number };
    },
  };
}

function rssKiB(pid: number): number {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
    return Number(line?.replace(/\D+/g, '') ?? 0);
  } catch {
    return 0;
  }
}

async function presenceEntries(url: string): Promise<number> {
  const health = (await (await fetch(new URL('/healthz', url))).json()) as { cluster?: { presenceEntries: number } };
  return health.cluster?.presenceEntries ?? 0;
}

async function connectionsScenario(ctx: BenchContext, hubs: ServerChild[], redisPid: number): Promise<{ rows: ResultRow[]; raw: unknown; notes: string[] }> {
  const perHub = ctx.quick ? 1_000 : 9_000;
  // Rooms of ~10 members (every join notifies the room, so large rooms cost n² messages to fill).
  const roomSize = 10;
  const rooms = Math.floor((perHub * hubs.length) / roomSize);
  const before = hubs.map((h) => rssKiB(h.pid));
  const redisBefore = rssKiB(redisPid);
  const children = hubs.map((h, i) => connectionsChild(h.url, perHub, rooms, i * perHub));
  const started = performance.now();
  let firsts: { held: number; failed: number; openMs: number }[];
  let complete = true;
  try {
    firsts = await withTimeout(Promise.all(children.map((c) => c.first)), ctx.quick ? 60_000 : 300_000, 'connections to open');
  } catch {
    // A loaded machine opens slowly: report what was held by then rather than nothing.
    complete = false;
    firsts = children.map((c) => ({ held: c.progress(), failed: 0, openMs: Math.round(performance.now() - started) }));
    ctx.log(`  connections: still opening after the time bound; reporting ${firsts.reduce((n, f) => n + f.held, 0)} held`);
  }
  const held = firsts.reduce((n, f) => n + f.held, 0);
  const failed = firsts.reduce((n, f) => n + f.failed, 0);
  ctx.log(`  connections: ${held} held, ${failed} failed, opened in ${Math.max(...firsts.map((f) => f.openMs))} ms`);
  // Presence is counted at each heartbeat (3 s); wait for it to show every member.
  const deadline = Date.now() + 15_000;
  let entries = 0;
  while (Date.now() < deadline && (entries = await presenceEntries(hubs[0]!.url)) < held) await sleep(250);
  const after = hubs.map((h) => rssKiB(h.pid));
  const redisAfter = rssKiB(redisPid);
  // A broadcast into one room reaches its members on all three hubs.
  let stats = children.map(() => ({ relayed: 0 }));
  if (complete) {
    const probe = await signalrClientFactory(hubs[0]!.url)('conn-0', 'probe');
    await sleep(500);
    probe.send(null, 'cHJvYmU=');
    stats = await Promise.all(children.map((c) => c.ask()));
    for (let i = 0; i < 50 && stats.some((st) => st.relayed === 0); i++) {
      await sleep(100);
      stats = await Promise.all(children.map((c) => c.ask()));
    }
    await probe.close();
  }
  for (const c of children) c.child.stdin!.end();
  if (!complete) for (const c of children) c.child.kill('SIGKILL');
  await Promise.all(children.map((c) => withTimeout(new Promise((r) => c.child.once('exit', r)), 10_000, 'connections child exit').catch(() => c.child.kill('SIGKILL'))));
  const kibPerConn = hubs.map((_, i) => ((after[i] as number) - (before[i] as number)) / Math.max(1, firsts[i]!.held));
  const relayedTo = stats.map((s) => s.relayed);
  const row = (metric: string, unit: string, value: number, informational = true): ResultRow => ({
    scenario: `connections-${hubs.length}hubs`,
    metric,
    unit,
    higherIsBetter: true,
    informational,
    values: { 'cross-hub': value, 'same-hub': null, single: null },
  });
  return {
    rows: [
      row('held together', 'connections', held),
      row('failed', 'connections', failed),
      row('presence entries in Redis', 'entries', entries),
      row('hub memory', 'KiB/conn', round(kibPerConn.reduce((a, b) => a + b, 0) / kibPerConn.length, 1)),
      row('redis-server memory', 'B/member', round(((redisAfter - redisBefore) * 1024) / Math.max(1, held), 0)),
      row('broadcast reached', 'hubs', relayedTo.filter((n) => n > 0).length),
    ],
    raw: { perHub, rooms, firsts, before, after, redisBefore, redisAfter, relayedTo, entries },
    notes: [
      `connections: ${perHub} raw SignalR WebSockets per hub from ${hubs.length} client processes (one per hub, under its fd limit), each joined to one of ${rooms} rooms of ~${roomSize} members spread over all hubs, opened in ${Math.max(...firsts.map((f) => f.openMs))} ms; one broadcast into conn-0 reached members on ${relayedTo.filter((n) => n > 0).length} hubs.`,
    ],
  };
}

// ------------------------------------------------------------------ run

async function run(ctx: BenchContext): Promise<BenchResult> {
  const notes: string[] = [];
  const rows: ResultRow[] = [];
  const raw: Record<string, unknown> = {};
  const base: BenchResult = {
    name: 'cluster',
    title: 'Hub cluster on one redis-server: members on different hubs vs the same hub vs a single hub without Redis',
    subjects: [...SUBJECTS],
    baseline: 'same-hub',
    ratios: [
      { of: 'cross-hub', to: 'same-hub' },
      { of: 'cross-hub', to: 'single' },
      { of: 'same-hub', to: 'single' },
    ],
    rows,
    raw,
    notes,
  };
  const why = redisUnavailableReason();
  if (why) {
    notes.push(`not measured: ${why}`);
    return base;
  }
  const redis = await RedisServer.start();
  const servers: ServerChild[] = [];
  try {
    const hubArgs = ['bin/rtc-agent.js', 'hub', '--port', '0', '--redis', redis.url, '--redis-prefix', 'bench', '--rate', '1000000', '--max-peers-per-room', '200', '--max-connections', '19000', '--log-level', 'warn'];
    const cluster = await Promise.all([0, 1, 2].map((i) => startCommandChild(process.execPath, hubArgs, `cluster hub ${i + 1}`, { cwd: ROOT })));
    servers.push(...cluster);
    const single = await startServerChild(HUB_SERVER, { args: ['--max-peers', '200'] });
    servers.push(single);
    const redisPid = redis.pid as number;
    ctx.log(`cluster hubs: ${cluster.map((c) => `${c.url} (pid ${c.pid})`).join(', ')}; single hub ${single.url}; redis-server pid ${redisPid}`);
    // Server CPU counts the processes a subject's members use: their hubs, and redis-server.
    const pidsOf = (hubs: ServerChild[]): number[] => [...hubs.map((h) => h.pid), redisPid];

    const all = specs(ctx.quick);
    const chosen = ctx.scenarios.length ? all.filter((s) => ctx.scenarios.includes(s.id)) : all;
    for (const spec of chosen) {
      ctx.log(`${spec.id}: ${spec.title}`);
      const fanout = spec.members > 2;
      const crossHubs = fanout ? cluster : cluster.slice(0, 2);
      const groups: Group[] = [
        await group('cross-hub', spec, crossHubs.map((c) => c.url), pidsOf(crossHubs)),
        await group('same-hub', spec, [cluster[0]!.url], pidsOf([cluster[0]!])),
        await group('single', spec, [single.url], [single.pid]),
      ];
      try {
        for (const g of groups) await throughput(g, spec, spec.warmup);
        const rounds = new Map<Subject, Phase[]>(SUBJECTS.map((s) => [s, []]));
        for (let r = 0; r < spec.throughput.rounds; r++) {
          for (let k = 0; k < groups.length; k++) {
            const g = groups[(k + r) % groups.length] as Group;
            const phase = await throughput(g, spec, spec.throughput);
            rounds.get(g.subject)!.push(phase);
            ctx.log(`  ${spec.id} ${g.subject} round ${r + 1}: ${phase.deliveriesPerSec} deliveries/s, ${phase.serverCpuUsPerDelivery} µs CPU/delivery (client ${phase.clientCpuPct}%, other ${phase.otherCpuPct}%)`);
          }
        }
        const lat = new Map<Subject, Awaited<ReturnType<typeof latency>>>();
        for (const g of groups) {
          const l = await latency(g, spec);
          lat.set(g.subject, l);
          ctx.log(`  ${spec.id} ${g.subject} latency: p50 ${l.p50} ms, p99 ${l.p99} ms (${l.received}/${l.expected})`);
          if (l.received < l.expected) notes.push(`${spec.id}/${g.subject}: latency phase lost ${l.expected - l.received} deliveries.`);
        }
        const med = new Map(SUBJECTS.map((s) => [s, median(rounds.get(s)!)]));
        const values = (pick: (p: Phase) => number | null): Record<string, number | null> => Object.fromEntries(SUBJECTS.map((s) => [s, pick(med.get(s)!)]));
        const row = (metric: string, unit: string, higherIsBetter: boolean, v: Record<string, number | null>, informational = false): ResultRow => ({ scenario: spec.id, metric, unit, higherIsBetter, informational, values: v });
        rows.push(
          row(fanout ? 'deliveries' : 'messages', '/s', true, values((p) => (fanout ? p.deliveriesPerSec : p.messagesPerSec))),
          row('latency p50', 'ms', false, Object.fromEntries(SUBJECTS.map((s) => [s, lat.get(s)!.p50]))),
          row('latency p99', 'ms', false, Object.fromEntries(SUBJECTS.map((s) => [s, lat.get(s)!.p99]))),
          row('server CPU', 'µs/delivery', false, values((p) => p.serverCpuUsPerDelivery)),
          row('server CPU', '% core', false, values((p) => p.serverCpuPct), true),
          row('client CPU', '% core', false, values((p) => p.clientCpuPct), true),
          row('other procs CPU', '% core', false, values((p) => p.otherCpuPct), true),
        );
        for (const [s, phases] of rounds) {
          const lost = phases.reduce((n, p) => n + p.undelivered, 0);
          if (lost > 0) notes.push(`${spec.id}/${s}: ${lost} deliveries never arrived.`);
        }
        raw[spec.id] = { rounds: Object.fromEntries(rounds), latency: Object.fromEntries(lat), spec };
      } finally {
        await Promise.all(groups.flatMap((g) => [g.sender, ...g.receivers].map((c) => c.close())));
      }
    }
    if (ctx.scenarios.length === 0 || ctx.scenarios.includes('connections')) {
      ctx.log('connections: held by 3 hub processes together');
      try {
        const c = await connectionsScenario(ctx, cluster, redisPid);
        rows.push(...c.rows);
        raw.connections = c.raw;
        notes.push(...c.notes);
      } catch (err) {
        notes.push(`FAILED connections: ${String(err)}`);
      }
    }
    for (const s of servers) {
      const tail = s.stderrTail().trim();
      if (tail) notes.push(`${s.url} stderr (tail): ${tail.slice(-800)}`);
    }
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await redis.close();
  }
  notes.push(
    'cross-hub: pair = sender on hub 1, receiver on hub 2; fan-out = 50 members round-robin over 3 hubs (sender on hub 1). same-hub: every member on hub 1 of the same cluster. single: bench/servers/hub-server.ts, no Redis.',
    'Server CPU µs/delivery sums the processes serving the subject: the hubs its members are on plus redis-server (cross-hub: 2 hubs for the pair, 3 for the fan-out; same-hub: hub 1), or the one hub (single); /proc counts CPU in 10 ms ticks per process. Rounds interleave subjects; the table shows the median round.',
    'Latency: one-way, low-rate phase, both ends in the bench process (same clock). The cluster hubs are `rtc-agent hub --redis` processes (dist/), rate limit lifted as for hub-relay.',
  );
  return base;
}

export const clusterBench: BenchModule = {
  name: 'cluster',
  description: 'hub cluster on Redis: relay cross-hub vs same hub vs no Redis, fan-out over 3 hubs, CPU/delivery, connections held by 3 hubs; scenarios pair-1KiB, fanout-50x1KiB, connections',
  run,
};
