/**
 * turn-vs-direct: P2P throughput and RTT between two agents connected directly (host candidates on
 * 127.0.0.1) vs through a TURN server (Debian's coturn on 127.0.0.1, started here with static
 * credentials). The TURN agents are relay-only (iceTransportPolicy 'relay') and bind their ICE
 * sockets to 127.0.0.2 and 127.0.0.3: TURN permissions are per IP, so nothing but coturn can carry
 * their traffic (native-notes.md, "Relay-only ICE still answers from the host socket"). The
 * selected pair is checked to be relay/relay on both ends before anything is measured.
 *
 * Both agents of each pair run in this process (as in agent-paths); the hub (signaling only) and
 * coturn run in their own processes. Rounds of the two subjects are interleaved.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openAgentPair, type AgentPair } from '../agent/agent-pair.js';
import { loadDist, type Dist } from '../agent/dist.js';
import { rttRound, throughputRound, type ThroughputRound } from '../agent/measure.js';
import { sleep } from '../lib/async.js';
import { startServerChild, type ServerChild } from '../lib/child.js';
import { round, summarize, type LatencySummary } from '../lib/stats.js';
import type { BenchContext, BenchModule, BenchResult, ResultRow } from '../lib/types.js';
import { NOISY_OTHER_PCT } from '../relay/scenarios.js';
import { coturnVersion, startCoturn, type Coturn } from '../servers/coturn.js';

const HUB_SERVER = fileURLToPath(new URL('../servers/hub-server.ts', import.meta.url));

const SUBJECTS = ['turn', 'direct'] as const;
type Subject = (typeof SUBJECTS)[number];
const LABELS: Record<Subject, string> = {
  direct: 'two agents, P2P, ICE bound to 127.0.0.1, host candidates, no STUN/TURN',
  turn: "two agents, P2P, iceTransportPolicy 'relay' through coturn on 127.0.0.1 (static credentials), agents' ICE bound to 127.0.0.2 / 127.0.0.3",
};

interface Scenario {
  id: string;
  title: string;
  kind: 'throughput' | 'rtt';
}
const SCENARIOS: Scenario[] = [
  { id: 'throughput-16KiB', title: 'one-way 16 KiB messages, await room.send', kind: 'throughput' },
  { id: 'rtt-64B', title: 'ping-pong 64 B', kind: 'rtt' },
];

function params(quick: boolean) {
  return quick
    ? {
        throughput: { warmupMs: 300, measureMs: 1_000, drainMs: 15_000, rounds: 1, payloadBytes: 16 * 1024 },
        rtt: { warmup: 100, samples: 500, rounds: 1, payloadBytes: 64 },
      }
    : {
        throughput: { warmupMs: 500, measureMs: 2_500, drainMs: 15_000, rounds: 5, payloadBytes: 16 * 1024 },
        rtt: { warmup: 200, samples: 1_000, rounds: 2, payloadBytes: 64 },
      };
}

type Round = ThroughputRound & { udpDropsByIp: Record<string, number> | null };

interface Outcome {
  throughput?: { rounds: Round[]; median: Round };
  rtt?: { samplesUs: number[]; summaryUs: LatencySummary };
}

type Candidates = { local: string; remote: string } | undefined;

/** The selected candidate pair as each side sees it; waits (bounded) until both sides report one. */
async function selectedPairs(pair: AgentPair, timeoutMs = 5_000): Promise<{ a: Candidates; b: Candidates }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const a = pair.roomA.peer(pair.idB)?.candidates;
    const b = pair.roomB.peer(pair.idA)?.candidates;
    if ((a && b) || Date.now() > deadline) return { a, b };
    await sleep(20);
  }
}

/**
 * Per-socket UDP drop counters (/proc/net/udp, last column: datagrams the kernel dropped because the
 * socket's receive buffer was full), keyed by inode; null off Linux.
 */
function udpSockets(): Map<string, { ip: string; drops: number }> | null {
  try {
    const out = new Map<string, { ip: string; drops: number }>();
    for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 13) continue;
      const hex = (f[1] ?? '').split(':')[0] ?? '';
      // IPv4 in host (little-endian) byte order: 0100007F = 127.0.0.1.
      const ip = [6, 4, 2, 0].map((i) => parseInt(hex.slice(i, i + 2), 16)).join('.');
      out.set(f[9] as string, { ip, drops: Number(f[f.length - 1]) });
    }
    return out;
  } catch {
    return null;
  }
}

/** Drops per local IP between two snapshots (sockets opened in between count from 0). */
function udpDropsByIp(s0: ReturnType<typeof udpSockets>, s1: ReturnType<typeof udpSockets>): Record<string, number> | null {
  if (!s0 || !s1) return null;
  const by: Record<string, number> = {};
  for (const [inode, { ip, drops }] of s1) {
    const d = drops - (s0.get(inode)?.drops ?? 0);
    if (d > 0) by[ip] = (by[ip] ?? 0) + d;
  }
  return by;
}

function medianRound(rounds: Round[]): { median: Round; clean: boolean } {
  const clean = rounds.filter((r) => r.cpu.otherPct === null || r.cpu.otherPct <= NOISY_OTHER_PCT);
  const pool = (clean.length ? clean : rounds).slice().sort((x, y) => x.mbps - y.mbps);
  return { median: pool[Math.floor((pool.length - 1) / 2)] as Round, clean: clean.length > 0 };
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const p = params(ctx.quick);
  const specs = ctx.scenarios.length ? SCENARIOS.filter((s) => ctx.scenarios.includes(s.id)) : SCENARIOS;
  if (specs.length === 0) throw new Error(`no scenario matches ${ctx.scenarios.join(', ')}; have ${SCENARIOS.map((s) => s.id).join(', ')}`);

  const notes: string[] = [];
  const failures: { scenario: string; subject: string; error: string }[] = [];
  const results = new Map<string, Map<Subject, Outcome>>();
  const selected: Partial<Record<Subject, { a: Candidates; b: Candidates }>> = {};
  const payloadSentBytes: Record<Subject, number> = { turn: 0, direct: 0 };
  const dist: Dist = await loadDist();
  // One reference on the native binding for the whole bench (the last releaseNative() runs cleanup()).
  const nativeStatus = await dist.native.acquireNative();
  if (!nativeStatus.available) throw new Error(`node-datachannel unavailable: ${nativeStatus.reason}`);
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'rtc-agent-bench-turn-'));
  const pipes = new Map<Subject, AgentPair>();
  const broken = new Set<Subject>();
  let hub: ServerChild | undefined;
  let coturn: Coturn | undefined;
  let coturnRelayed: number | null = null;
  let coturnInfo: string | null = null;

  const openPair = async (s: Subject): Promise<AgentPair> => {
    if (!hub) throw new Error('hub not running');
    if (s === 'direct') {
      const pair = await openAgentPair(dist, s, { hubUrl: hub.url, room: 'bench-direct', dir: path.join(tmp, s), e2ee: false, native: true, logLevel: 'warn' });
      selected.direct = await selectedPairs(pair);
      return pair;
    }
    if (!coturn) throw new Error('coturn not running');
    const viaTurn = { turnUrl: coturn.url, turnUsername: coturn.username, turnPassword: coturn.password, iceTransportPolicy: 'relay' as const };
    const pair = await openAgentPair(dist, s, {
      hubUrl: hub.url,
      room: 'bench-turn',
      dir: path.join(tmp, s),
      e2ee: false,
      native: true,
      logLevel: 'warn',
      setupTimeoutMs: 30_000,
      agentOptions: { a: { ...viaTurn, iceBindAddress: '127.0.0.2' }, b: { ...viaTurn, iceBindAddress: '127.0.0.3' } },
    });
    const sel = await selectedPairs(pair);
    selected.turn = sel;
    const isRelay = (c: Candidates): boolean => c?.local === 'relay' && c.remote === 'relay';
    if (!isRelay(sel.a) || !isRelay(sel.b)) {
      await pair.close().catch(() => undefined);
      throw new Error(`selected pair is not relay/relay on both ends: A ${JSON.stringify(sel.a)}, B ${JSON.stringify(sel.b)}`);
    }
    return pair;
  };
  const attempt = async <T>(scenario: string, s: Subject, body: (pipe: AgentPair) => Promise<T>): Promise<T | null> => {
    if (broken.has(s)) return null;
    try {
      let pipe = pipes.get(s);
      if (!pipe) {
        const t0 = performance.now();
        pipe = await openPair(s);
        pipes.set(s, pipe);
        ctx.log(`${s}: ready in ${Math.round(performance.now() - t0)} ms, selected pair A ${JSON.stringify(selected[s]?.a)} B ${JSON.stringify(selected[s]?.b)}`);
      }
      return await body(pipe);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      failures.push({ scenario, subject: s, error: msg });
      ctx.log(`${scenario}/${s}: FAILED ${msg}`);
      broken.add(s);
      const pipe = pipes.get(s);
      pipes.delete(s);
      await pipe?.close().catch(() => undefined);
      return null;
    }
  };

  try {
    hub = await startServerChild(HUB_SERVER, { args: ['--max-peers', '16'] });
    ctx.log(`hub: ${hub.url} (pid ${hub.pid}), signaling only`);
    const probe = coturnVersion();
    if ('missing' in probe) {
      notes.push(`turn not measured: ${probe.missing}.`);
      ctx.log(`turn: skipped: ${probe.missing}`);
      broken.add('turn');
    } else {
      try {
        coturn = await startCoturn();
        coturnInfo = `coturn ${coturn.version} at ${coturn.url}`;
        ctx.log(`coturn: ${coturn.url} (pid ${coturn.pid}, ${coturn.version})`);
      } catch (err) {
        failures.push({ scenario: '(start)', subject: 'turn', error: err instanceof Error ? err.message : String(err) });
        ctx.log(`coturn: failed to start: ${String(err)}`);
        broken.add('turn');
      }
    }
    // CPU of the process carrying the traffic besides the bench: coturn (idle for direct); -1 = none.
    const serverPid = coturn?.pid ?? -1;

    for (const spec of specs) {
      ctx.log(`${spec.id}: ${spec.title}`);
      const bySubject = new Map<Subject, Outcome>();
      results.set(spec.id, bySubject);
      const out = (s: Subject): Outcome => {
        let o = bySubject.get(s);
        if (!o) bySubject.set(s, (o = {}));
        return o;
      };
      // Open both pairs first, so setup is never inside a measured round.
      for (const s of SUBJECTS) await attempt(spec.id, s, async () => undefined);
      const order = (r: number): readonly Subject[] => (r % 2 === 0 ? SUBJECTS : [...SUBJECTS].reverse());
      if (spec.kind === 'throughput') {
        const payload = randomBytes(p.throughput.payloadBytes);
        const rounds = new Map<Subject, Round[]>();
        for (let r = 0; r < p.throughput.rounds; r++) {
          for (const s of order(r)) {
            const res = await attempt(spec.id, s, async (pipe): Promise<Round> => {
              const u0 = udpSockets();
              const t = await throughputRound(pipe, { payload, ...p.throughput }, serverPid);
              return { ...t, udpDropsByIp: udpDropsByIp(u0, udpSockets()) };
            });
            if (!res) continue;
            payloadSentBytes[s] += res.sent * payload.byteLength;
            rounds.set(s, [...(rounds.get(s) ?? []), res]);
            ctx.log(`  ${s} round ${r + 1}: ${res.mbps} MB/s, bench CPU ${res.cpu.benchPct}% (JS thread ${res.cpu.jsThreadPct ?? '?'}%), coturn ${res.cpu.hubPct ?? '?'}%, other ${res.cpu.otherPct ?? '?'}%, UDP drops ${JSON.stringify(res.udpDropsByIp)}`);
            if (res.undelivered !== 0) notes.push(`${spec.id}/${s} round ${r + 1}: ${res.undelivered} of ${res.sent} messages not received after the drain wait.`);
          }
        }
        for (const [s, rs] of rounds) {
          if (broken.has(s)) continue;
          const { median, clean } = medianRound(rs);
          const noisy = rs.filter((x) => (x.cpu.otherPct ?? 0) > NOISY_OTHER_PCT).length;
          if (!clean) notes.push(`${spec.id}/${s}: every round shared the CPU with other processes (> ${NOISY_OTHER_PCT}% of a core); numbers are contended.`);
          else if (noisy > 0) notes.push(`${spec.id}/${s}: ${noisy}/${rs.length} rounds shared the CPU with other processes (> ${NOISY_OTHER_PCT}% of a core); table uses the median of the ${rs.length - noisy} clean round(s).`);
          out(s).throughput = { rounds: rs, median };
        }
      } else {
        const payload = randomBytes(p.rtt.payloadBytes);
        const samples = new Map<Subject, number[]>();
        for (let r = 0; r < p.rtt.rounds; r++) {
          for (const s of order(r)) {
            const res = await attempt(spec.id, s, (pipe) => rttRound(pipe, payload, p.rtt.warmup, p.rtt.samples));
            if (!res) continue;
            payloadSentBytes[s] += 2 * (p.rtt.warmup + p.rtt.samples) * payload.byteLength;
            samples.set(s, [...(samples.get(s) ?? []), ...res]);
            const sum = summarize(res);
            ctx.log(`  ${s} round ${r + 1}: p50 ${round(sum.p50, 0)} µs, p99 ${round(sum.p99, 0)} µs`);
          }
        }
        for (const [s, us] of samples) {
          if (broken.has(s)) continue;
          const summaryUs = summarize(us);
          out(s).rtt = {
            samplesUs: us.map((x) => round(x, 1)),
            summaryUs: Object.fromEntries(Object.entries(summaryUs).map(([k, v]) => [k, round(v, 1)])) as unknown as LatencySummary,
          };
        }
      }
    }
  } finally {
    await Promise.all([...pipes.values()].map((pipe) => pipe.close().catch((err: unknown) => ctx.log(`close ${pipe.name}: ${String(err)}`))));
    dist.native.releaseNative();
    if (coturn) {
      // coturn logs each allocation's byte counts ("peer usage") when the agents release it.
      if (payloadSentBytes.turn > 0) {
        const deadline = Date.now() + 5_000;
        while (coturn.relayedBytes() < payloadSentBytes.turn && Date.now() < deadline) await sleep(100);
      }
      coturnRelayed = coturn.relayedBytes();
      await coturn.stop();
    }
    await hub?.stop();
    await rm(tmp, { recursive: true, force: true });
  }
  const hubTail = hub?.stderrTail().trim();
  if (hubTail) notes.push(`hub stderr (tail): ${hubTail.slice(-1500)}`);

  // ------------------------------------------------------------------ table
  const rows: ResultRow[] = [];
  const row = (spec: Scenario, metric: string, unit: string, higherIsBetter: boolean, pick: (o: Outcome) => number | null | undefined, informational = false): ResultRow => ({
    scenario: spec.id,
    metric,
    unit,
    higherIsBetter,
    informational,
    values: Object.fromEntries(SUBJECTS.map((s) => [s, pick(results.get(spec.id)?.get(s) ?? {}) ?? null])),
  });
  const dropsAt = (o: Outcome, ips: string[]): number | null | undefined => {
    const by = o.throughput?.median.udpDropsByIp;
    return by === undefined ? undefined : by === null ? null : ips.reduce((n, ip) => n + (by[ip] ?? 0), 0);
  };
  for (const spec of specs) {
    if (spec.kind === 'throughput') {
      rows.push(
        row(spec, 'payload', 'MB/s', true, (o) => o.throughput?.median.mbps),
        row(spec, 'messages', '/s', true, (o) => o.throughput?.median.messagesPerSec),
        row(spec, 'bench CPU (both peers)', 'µs/msg', false, (o) => o.throughput?.median.cpuUsPerMessage),
        row(spec, 'bench CPU', '% core', false, (o) => o.throughput?.median.cpu.benchPct, true),
        row(spec, '  of which JS thread', '% core', false, (o) => o.throughput?.median.cpu.jsThreadPct, true),
        row(spec, 'coturn CPU', '% core', false, (o) => o.throughput?.median.cpu.hubPct, true),
        row(spec, 'other procs CPU', '% core', false, (o) => o.throughput?.median.cpu.otherPct, true),
        row(spec, 'UDP drops at 127.0.0.1', 'per round', false, (o) => dropsAt(o, ['127.0.0.1']), true),
        row(spec, 'UDP drops at 127.0.0.2/.3', 'per round', false, (o) => dropsAt(o, ['127.0.0.2', '127.0.0.3']), true),
      );
    } else {
      rows.push(row(spec, 'RTT p50', 'µs', false, (o) => o.rtt?.summaryUs.p50), row(spec, 'RTT p99', 'µs', false, (o) => o.rtt?.summaryUs.p99));
    }
  }

  for (const f of failures) notes.push(`FAILED ${f.scenario}/${f.subject}: ${f.error}`);
  for (const s of SUBJECTS) if (selected[s]) notes.push(`${s}: selected candidate pair (local/remote) A ${JSON.stringify(selected[s]?.a)}, B ${JSON.stringify(selected[s]?.b)}.`);
  if (coturnInfo) {
    notes.push(
      `${coturnInfo}: its "peer usage" log lines count ${((coturnRelayed ?? 0) / 1e6).toFixed(1)} MB relayed (rb+sb over all allocations); the turn pair sent ${(payloadSentBytes.turn / 1e6).toFixed(1)} MB of payload (expect a bit over 2×: each byte leaves A's allocation and enters B's, plus frame/SCTP/DTLS overhead and acks).`,
    );
    if (payloadSentBytes.turn > 0 && (coturnRelayed ?? 0) < payloadSentBytes.turn) notes.push('coturn counted fewer bytes than the turn pair sent: the data may not all have gone through TURN (or coturn did not log usage before it was stopped).');
  }
  notes.push(
    `Throughput: the sender never stops during the measured window (${p.throughput.warmupMs} ms warm-up, then ${p.throughput.measureMs} ms counted at the receiver); median of ${p.throughput.rounds} interleaved round(s); every sent message is checked to arrive. MB/s = 10^6 payload bytes. A 16384 B agent message is 2 DataChannel messages (16 KiB frame + header overflow).`,
    'UDP drops: datagrams the kernel dropped at a full socket receive buffer (/proc/net/udp, per socket, summed by local IP) during the median round, warm-up and drain included. For turn, 127.0.0.1 = coturn (listener and relay sockets) and 127.0.0.2/.3 = the agents; for direct, the agents are on 127.0.0.1. On loopback a drop means the reader fell behind; SCTP takes it as congestion and slows down.',
    `RTT: A sends ${p.rtt.payloadBytes} B, B's message handler sends it back, A times it; ${p.rtt.rounds} round(s) × ${p.rtt.samples} after ${p.rtt.warmup} warm-up each.`,
    `Both agents of each pair run in the bench process (${os.cpus().length} cores shared with coturn's relay threads and the hub). coturn CPU (% core) is measured for both subjects; it should be ~0 for direct.`,
    "turn agents: iceTransportPolicy 'relay', ICE bound to 127.0.0.2 and 127.0.0.3 while coturn relays on 127.0.0.1, so only coturn can carry the traffic; relay/relay is required on both ends before measuring. Everything over UDP on loopback: the numbers are the cost of the TURN hop (coturn forwarding, ChannelData framing, libjuice's TURN path), not of a network.",
  );

  return {
    name: 'turn-vs-direct',
    title: 'Agent P2P through TURN (coturn, relay/relay) vs direct (host/host), both peers in the bench process',
    subjects: [...SUBJECTS],
    baseline: 'direct',
    ratios: [{ of: 'turn', to: 'direct' }],
    rows,
    raw: {
      subjects: SUBJECTS.map((s) => ({ name: s, label: LABELS[s] })),
      params: p,
      scenarios: specs,
      selectedCandidates: selected,
      coturn: coturnInfo,
      coturnRelayedBytes: coturnRelayed,
      payloadSentBytes,
      results: Object.fromEntries([...results].map(([id, m]) => [id, Object.fromEntries(m)])),
      failures,
      native: nativeStatus.version,
    },
    notes,
  };
}

export const turnBench: BenchModule = {
  name: 'turn-vs-direct',
  description: 'agent P2P through TURN (coturn, relay-only) vs direct; scenarios throughput-16KiB, rtt-64B',
  run,
};
