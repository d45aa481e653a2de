/**
 * join-latency: how long after `join()` a newcomer can talk, and how long until its traffic is on
 * P2P, against the time a bare node-datachannel pair needs to open its channel.
 *
 * Agent trial: two fresh agents (connected to the hub before the clock starts), A already in a
 * fresh room; t0 = B calls join(). B sends a message to A the moment join() resolves (the relay
 * carries it: no link yet); "first message" is when A receives it, "P2P" is when both agents have
 * reported path p2p to each other. Raw trial: t0 = two PeerConnections created in this process;
 * "first message" is a message sent on open arriving at the other side, "P2P" is both channels
 * open (signals handed over on the next turn, no hub). Trials of the subjects alternate.
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeBenchAgent } from '../agent/agent-pair.js';
import { loadDist, type Agent, type AvailableNativeBinding, type Dist, type Logger, type ReceivedMessage } from '../agent/dist.js';
import { loadNativeLink, nativeLinkSetup, type NativeLinkModule } from '../agent/native-link-pair.js';
import { openRawPair } from '../agent/raw-nd.js';
import { deferred, withTimeout } from '../lib/async.js';
import { startServerChild, type ServerChild } from '../lib/child.js';
import { machineBusyMs, selfCpuMs, pidCpuMs } from '../lib/cpu.js';
import { round, summarize } from '../lib/stats.js';
import type { BenchContext, BenchModule, BenchResult, ResultRow } from '../lib/types.js';
import { removeTempDir } from '../lib/fs.js';

const HUB_SERVER = fileURLToPath(new URL('../servers/hub-server.ts', import.meta.url));
const SUBJECTS = ['raw-nd', 'native-link', 'agent', 'agent-e2ee'] as const;
type Subject = (typeof SUBJECTS)[number];
const LABELS: Record<Subject, string> = {
  'raw-nd': 'two bare node-datachannel PeerConnections in the bench process, signals handed over on the next turn, one reliable DC',
  'native-link': "two NativeLinks (rtc-agent's link layer: the answerer as DTLS server) in the bench process, signals on the next turn, no hub; P2P only (no first message)",
  agent: 'two fresh agents (bench process), P2P allowed, E2EE off, hub in a child process',
  'agent-e2ee': 'same with enableE2ee + roomSecret (the room key is derived with scrypt inside join)',
};
/** A trial whose P2P has not opened after this is counted as failed (the relay still carried it). */
const TRIAL_TIMEOUT_MS = 20_000;

interface Trial {
  joinMs: number | null;
  firstMessageMs: number | null;
  p2pMs: number | null;
  /** P2P attempts that failed before one opened (the agent's retry), from peers(). */
  p2pFailures: number;
  /** Path of the first message as A saw it. */
  firstPath: string | null;
  /** Other processes' CPU during the trial, % of a core. */
  otherPct: number | null;
  error?: string;
}

async function rawTrial(binding: AvailableNativeBinding, n: number): Promise<Trial> {
  const m0 = machineBusyMs();
  const s0 = selfCpuMs();
  const t0 = performance.now();
  try {
    const pipe = await openRawPair(binding, `join-raw-${n}`, { timeoutMs: TRIAL_TIMEOUT_MS });
    const p2pMs = performance.now() - t0;
    const got = deferred<number>();
    pipe.onB = () => got.resolve(performance.now());
    pipe.send(new Uint8Array([1, 2, 3]));
    const firstAt = await withTimeout(got.promise, 5_000, 'raw first message');
    await pipe.close();
    return { joinMs: null, firstMessageMs: firstAt - t0, p2pMs, p2pFailures: 0, firstPath: 'p2p', otherPct: otherPct(m0, s0, null, null, t0) };
  } catch (err) {
    return { joinMs: null, firstMessageMs: null, p2pMs: null, p2pFailures: 0, firstPath: null, otherPct: null, error: (err as Error).message };
  }
}

async function linkTrial(mod: NativeLinkModule, binding: AvailableNativeBinding, log: Logger, n: number): Promise<Trial> {
  const r = await nativeLinkSetup(mod, binding, log, { answerAsDtlsServer: true, delayMs: 0, sessionId: `join-${n}`, timeoutMs: TRIAL_TIMEOUT_MS });
  return { joinMs: null, firstMessageMs: null, p2pMs: r.ms, p2pFailures: 0, firstPath: null, otherPct: null, ...(r.error ? { error: r.error } : {}) };
}

function otherPct(m0: number | null, s0: number, h0: number | null, hubPid: number | null, t0: number): number | null {
  const m1 = machineBusyMs();
  const h1 = hubPid === null ? null : pidCpuMs(hubPid);
  if (m0 === null || m1 === null) return null;
  const wall = performance.now() - t0;
  const hub = h0 === null || h1 === null ? 0 : h1 - h0;
  return round((Math.max(0, m1 - m0 - (selfCpuMs() - s0) - hub) / wall) * 100, 1);
}

/** Resolves with the time the agent reports `p2p` to its (only) peer in `room`. */
function whenP2P(agent: Agent, room: string): Promise<number> {
  return new Promise((resolve) => {
    const onChange = (c: { room: string; to: string }): void => {
      if (c.room === room && c.to === 'p2p') {
        agent.off('path-changed', onChange);
        resolve(performance.now());
      }
    };
    agent.on('path-changed', onChange);
  });
}

async function agentTrial(dist: Dist, hub: ServerChild, tmp: string, subject: 'agent' | 'agent-e2ee', n: number): Promise<Trial> {
  const e2ee = subject === 'agent-e2ee';
  const room = `join-${subject}-${n}`;
  const dir = path.join(tmp, `${subject}-${n}`);
  const agents: Agent[] = [];
  try {
    const a = await makeBenchAgent(dist, `${subject}-${n}-a`, { hubUrl: hub.url, dir: path.join(dir, 'a'), e2ee, native: true, logLevel: 'error' });
    agents.push(a);
    const b = await makeBenchAgent(dist, `${subject}-${n}-b`, { hubUrl: hub.url, dir: path.join(dir, 'b'), e2ee, native: true, logLevel: 'error' });
    agents.push(b);
    const roomA = await a.join(room);
    const first = deferred<{ at: number; path: string }>();
    a.on('message', (m: ReceivedMessage) => {
      if (m.room === room) first.resolve({ at: performance.now(), path: m.path });
    });
    const p2pA = whenP2P(a, room);
    const p2pB = whenP2P(b, room);
    const m0 = machineBusyMs();
    const s0 = selfCpuMs();
    const h0 = pidCpuMs(hub.pid);
    const t0 = performance.now();
    const roomB = await b.join(room);
    const joinedAt = performance.now();
    await roomB.send('first', { to: roomA.selfId });
    const got = await withTimeout(first.promise, TRIAL_TIMEOUT_MS, `${room}: first message`);
    const p2pAt = Math.max(...(await withTimeout(Promise.all([p2pA, p2pB]), TRIAL_TIMEOUT_MS, `${room}: both sides on p2p`)));
    const failures = (roomA.peer(roomB.selfId)?.p2pFailures ?? 0) + (roomB.peer(roomA.selfId)?.p2pFailures ?? 0);
    return { joinMs: joinedAt - t0, firstMessageMs: got.at - t0, p2pMs: p2pAt - t0, p2pFailures: failures, firstPath: got.path, otherPct: otherPct(m0, s0, h0, hub.pid, t0) };
  } catch (err) {
    return { joinMs: null, firstMessageMs: null, p2pMs: null, p2pFailures: 0, firstPath: null, otherPct: null, error: (err as Error).message };
  } finally {
    await Promise.all(agents.map((x) => x.close({ flushMs: 0 }).catch(() => undefined)));
    await removeTempDir(dir);
  }
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const trials = ctx.quick ? 5 : 40;
  const dist = await loadDist();
  // Held for the whole bench: the last agent's close must not run cleanup() under a raw pair.
  const status = await dist.native.acquireNative();
  if (!status.available) throw new Error(`node-datachannel unavailable: ${status.reason}`);
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'rtc-agent-join-'));
  const out: Record<Subject, Trial[]> = { 'raw-nd': [], 'native-link': [], agent: [], 'agent-e2ee': [] };
  const linkMod = await loadNativeLink();
  const linkLog = dist.api.silentLogger();
  let hub: ServerChild | undefined;
  try {
    hub = await startServerChild(HUB_SERVER, { args: ['--max-peers', '16'] });
    ctx.log(`hub: ${hub.url} (pid ${hub.pid}); ${trials} trials per subject`);
    for (let n = 0; n < trials; n++) {
      for (const s of n % 2 === 0 ? SUBJECTS : [...SUBJECTS].reverse()) {
        const t = s === 'raw-nd' ? await rawTrial(status, n) : s === 'native-link' ? await linkTrial(linkMod, status, linkLog, n) : await agentTrial(dist, hub, tmp, s, n);
        out[s].push(t);
        if (t.error) ctx.log(`  ${s} trial ${n + 1}: FAILED ${t.error}`);
      }
      if ((n + 1) % 5 === 0 || n + 1 === trials) {
        const last = (s: Subject): string => {
          const t = out[s][out[s].length - 1] as Trial;
          return `${s} first ${t.firstMessageMs === null ? '—' : Math.round(t.firstMessageMs)} / p2p ${t.p2pMs === null ? '—' : Math.round(t.p2pMs)} ms`;
        };
        ctx.log(`  trial ${n + 1}/${trials}: ${SUBJECTS.map(last).join(' | ')}`);
      }
    }
  } finally {
    await hub?.stop();
    dist.native.releaseNative();
    await removeTempDir(tmp);
  }

  const rows: ResultRow[] = [];
  const ms = (pick: (t: Trial) => number | null) => (s: Subject) => summarize(out[s].flatMap((t) => (pick(t) === null ? [] : [pick(t) as number])));
  const metric = (scenario: string, name: string, unit: string, value: (s: Subject) => number | null, informational = false): ResultRow => ({
    scenario,
    metric: name,
    unit,
    higherIsBetter: false,
    ...(informational ? { informational } : {}),
    values: Object.fromEntries(SUBJECTS.map((s) => [s, value(s)])),
  });
  const num = (v: number): number | null => (Number.isFinite(v) ? round(v, 1) : null);
  for (const [scenario, pick] of [
    ['join → first message', (t: Trial) => t.firstMessageMs],
    ['join → P2P', (t: Trial) => t.p2pMs],
  ] as const) {
    rows.push(
      metric(scenario, 'p50', 'ms', (s) => num(ms(pick)(s).p50)),
      metric(scenario, 'p99', 'ms', (s) => num(ms(pick)(s).p99)),
      metric(scenario, 'max', 'ms', (s) => num(ms(pick)(s).max)),
    );
  }
  rows.push(
    metric('join() itself', 'p50', 'ms', (s) => (s.startsWith('agent') ? num(ms((t) => t.joinMs)(s).p50) : null)),
    metric('join() itself', 'p99', 'ms', (s) => (s.startsWith('agent') ? num(ms((t) => t.joinMs)(s).p99) : null)),
    metric('trials', 'failed (no P2P within 20 s)', 'count', (s) => out[s].filter((t) => t.error !== undefined).length, true),
    metric('trials', 'needed a P2P retry', 'count', (s) => out[s].filter((t) => t.p2pFailures > 0).length, true),
    metric('trials', 'first message on relay', 'count', (s) => out[s].filter((t) => t.firstPath === 'relay').length, true),
    metric('trials', 'other procs CPU, median', '% core', (s) => {
      const v = out[s].flatMap((t) => (t.otherPct === null ? [] : [t.otherPct]));
      return v.length ? num(summarize(v).p50) : null;
    }, true),
  );
  const notes = [
    ...SUBJECTS.map((s) => `${s}: ${LABELS[s]}.`),
    `${trials} trials per subject, alternating. Agent t0 = B calls join() (A already joined, both connected); first message = B's room.send right after join() resolves, received by A; P2P = both sides report path p2p. Raw t0 = PeerConnections created; first message = sent on open, received; P2P = both channels open.`,
    "raw-nd uses libdatachannel's default DTLS role (the answerer is the DTLS client), whose first flight often waits for the ~1 s retransmit; native-link and the agent make the answerer the DTLS server (dtls-role bench). agent/native-link is what the hub round trips and the agent's own negotiation add.",
    `With nearest-rank percentiles and ${trials} trials, p99 is the slowest trial (max); slow trials of about 1 s are libdatachannel waiting for a DTLS retransmit (NATIVE-FACTS.md, native-notes.md "DTLS role and the 1 s setup").`,
  ];
  const busy = SUBJECTS.filter((s) => out[s].some((t) => (t.otherPct ?? 0) > 20));
  if (busy.length) notes.push(`Other processes used over 20% of a core during some trials of ${busy.join(', ')}: contended numbers.`);
  for (const s of SUBJECTS) for (const [i, t] of out[s].entries()) if (t.error) notes.push(`FAILED ${s} trial ${i + 1}: ${t.error}`);
  return {
    name: 'join-latency',
    title: 'join() → first message and → P2P, agents vs a bare node-datachannel pair opening its channel',
    subjects: [...SUBJECTS],
    baseline: 'raw-nd',
    ratios: [
      { of: 'agent', to: 'raw-nd' },
      { of: 'agent', to: 'native-link' },
      { of: 'agent-e2ee', to: 'agent' },
    ],
    rows,
    raw: { trialsPerSubject: trials, labels: LABELS, trials: out },
    notes,
  };
}

export const joinLatencyBench: BenchModule = {
  name: 'join-latency',
  description: 'join() → first message and → P2P (p50/p99 over 40 trials), agents with and without E2EE vs a bare node-datachannel pair',
  run,
};
