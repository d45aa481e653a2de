/**
 * Hub load scenarios over raw SignalR clients (raw-signalr.ts), written once for any hub that
 * speaks the room contract (ours, interop/aspnet-hub):
 *
 *   connectionLevels  idle clients connected and joined (rooms of `roomSize`) up to each level;
 *                     the hub's RSS per connection at each level
 *   fanoutKnee        one sender broadcasts to a room at rising rates; the rate at which the
 *                     receivers' one-way p99 passes a bound
 *   slowConsumer      a busy room where one member stops reading for a while: the others'
 *                     largest gap between deliveries and their p99
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { sleep } from '../lib/async.js';
import { machineBusyMs, pidCpuMs, selfCpuMs } from '../lib/cpu.js';
import { round, summarize } from '../lib/stats.js';
import { PayloadFactory, readHeader } from './payload.js';
import { joinArgs, RawSignalrClient } from './raw-signalr.js';

/** VmRSS of a process, bytes (Linux); null where /proc is unavailable. */
export function rssOf(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

type Log = (line: string) => void;

async function joined(hubUrl: string, room: string, name: string, localAddress?: string): Promise<RawSignalrClient> {
  const c = await RawSignalrClient.connect(hubUrl, localAddress ? { localAddress } : {});
  try {
    await c.invoke('Join', joinArgs(room, name, randomBytes(18).toString('base64url')));
  } catch (err) {
    c.terminate();
    throw err;
  }
  return c;
}

// ------------------------------------------------------------------------------- connections

export interface LevelResult {
  level: number;
  connected: number;
  failed: number;
  /** Time to connect and join this level's new clients. */
  connectMs: number;
  connectsPerSec: number;
  hubRssBytes: number | null;
  /** (hub RSS now − hub RSS before any client) / connected. */
  rssPerConnectionBytes: number | null;
  hubCpuUsPerConnection: number | null;
  clientRssBytes: number;
  firstError: string | null;
}

export async function connectionLevels(
  hubUrl: string,
  hubPid: number,
  o: { levels: number[]; roomSize: number; concurrency: number; settleMs: number; localAddress?: string; log: Log },
): Promise<{ baselineRssBytes: number | null; levels: LevelResult[] }> {
  const clients: RawSignalrClient[] = [];
  const baselineRssBytes = rssOf(hubPid);
  const levels: LevelResult[] = [];
  let failed = 0;
  let firstError: string | null = null;
  try {
    for (const level of o.levels) {
      const t0 = performance.now();
      const cpu0 = pidCpuMs(hubPid);
      const before = clients.length;
      let next = clients.length + failed;
      let lastLog = performance.now();
      // A fixed number of connects in flight, like a crowd reconnecting after a restart.
      const lane = async (): Promise<void> => {
        while (next < level) {
          const i = next++;
          try {
            clients.push(await joined(hubUrl, `load-${Math.floor(i / o.roomSize)}`, `c${i}`, o.localAddress));
          } catch (err) {
            failed++;
            firstError ??= err instanceof Error ? err.message : String(err);
          }
          if (performance.now() - lastLog > 5_000) {
            lastLog = performance.now();
            o.log(`    ${clients.length} connected, ${failed} failed (target ${level})`);
          }
        }
      };
      await Promise.all(Array.from({ length: o.concurrency }, lane));
      const connectMs = performance.now() - t0;
      const cpu1 = pidCpuMs(hubPid);
      await sleep(o.settleMs);
      const rss = rssOf(hubPid);
      const added = clients.length - before;
      levels.push({
        level,
        connected: clients.length,
        failed,
        connectMs: round(connectMs, 0),
        connectsPerSec: round((added * 1000) / connectMs, 0),
        hubRssBytes: rss,
        rssPerConnectionBytes: rss !== null && baselineRssBytes !== null && clients.length > 0 ? round((rss - baselineRssBytes) / clients.length, 0) : null,
        hubCpuUsPerConnection: cpu0 !== null && cpu1 !== null && added > 0 ? round(((cpu1 - cpu0) * 1000) / added, 0) : null,
        clientRssBytes: process.memoryUsage().rss,
        firstError,
      });
      o.log(`    level ${level}: ${clients.length} connected, ${failed} failed in ${Math.round(connectMs)} ms; hub RSS ${rss === null ? '?' : round(rss / 1024 / 1024, 1)} MiB`);
      const lost = clients.filter((c) => !c.open).length;
      if (lost > 0) o.log(`    ${lost} clients were closed by the hub meanwhile (${clients.find((c) => !c.open)?.closedWith})`);
    }
  } finally {
    for (const c of clients) c.terminate();
  }
  return { baselineRssBytes, levels };
}

// ------------------------------------------------------------------------------- fan-out knee

export interface KneeStep {
  rate: number;
  deliveriesPerSecTarget: number;
  sent: number;
  delivered: number;
  expected: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  clientCpuPct: number;
  hubCpuPct: number | null;
  otherCpuPct: number | null;
}

/** Sends `rate` messages per second for `ms`, in small catch-up bursts so timer lag does not lower the rate. */
async function paced(ms: number, rate: number, sendOne: () => void): Promise<number> {
  const t0 = performance.now();
  let sent = 0;
  while (performance.now() - t0 < ms) {
    const due = Math.floor((rate * (performance.now() - t0)) / 1000);
    while (sent < due) {
      sendOne();
      sent++;
    }
    await sleep(2);
  }
  return sent;
}

export async function fanoutKnee(
  hubUrl: string,
  hubPid: number,
  o: { receivers: number; payloadBytes: number; rates: number[]; warmupMs: number; stepMs: number; p99LimitMs: number; drainMs: number; log: Log },
): Promise<{ steps: KneeStep[]; kneeRate: number | null; passedAt: number | null }> {
  const room = 'fanout';
  const sender = await joined(hubUrl, room, 'sender');
  const receivers: RawSignalrClient[] = [];
  const steps: KneeStep[] = [];
  try {
    for (let i = 0; i < o.receivers; i++) receivers.push(await joined(hubUrl, room, `r${i}`));
    let samples: number[] = [];
    let delivered = 0;
    let seqFloor = 0;
    for (const r of receivers) {
      r.onRelayed = (_room, _from, payload) => {
        const h = readHeader(payload);
        if (h.seq < seqFloor) return;
        samples.push(performance.now() - h.sentAt);
        delivered++;
      };
    }
    const payloads = new PayloadFactory(o.payloadBytes);
    let seq = 1;
    // Unmeasured warm-up at the first rate: JIT tiers (.NET's in particular) and buffers settle.
    await paced(o.warmupMs, o.rates[0] ?? 100, () => sender.send('Relay', [room, null, payloads.make(seq++)]));
    await sleep(500);
    let kneeRate: number | null = null;
    let passedAt: number | null = null;
    for (const rate of o.rates) {
      samples = [];
      delivered = 0;
      seqFloor = seq;
      const s0 = selfCpuMs();
      const h0 = pidCpuMs(hubPid);
      const m0 = machineBusyMs();
      const t0 = performance.now();
      const sent = await paced(o.stepMs, rate, () => sender.send('Relay', [room, null, payloads.make(seq++)]));
      const wall = performance.now() - t0;
      const s1 = selfCpuMs();
      const h1 = pidCpuMs(hubPid);
      const m1 = machineBusyMs();
      const expected = sent * o.receivers;
      const deadline = performance.now() + o.drainMs;
      while (delivered < expected && performance.now() < deadline) await sleep(10);
      const sum = summarize(samples);
      const hub = h0 === null || h1 === null ? null : h1 - h0;
      const step: KneeStep = {
        rate,
        deliveriesPerSecTarget: rate * o.receivers,
        sent,
        delivered,
        expected,
        p50Ms: round(sum.p50, 2),
        p99Ms: round(sum.p99, 2),
        maxMs: round(sum.max, 2),
        clientCpuPct: round(((s1 - s0) / wall) * 100, 1),
        hubCpuPct: hub === null ? null : round((hub / wall) * 100, 1),
        otherCpuPct: m0 === null || m1 === null ? null : round((Math.max(0, m1 - m0 - (s1 - s0) - (hub ?? 0)) / wall) * 100, 1),
      };
      steps.push(step);
      o.log(`    ${rate} msg/s × ${o.receivers}: p50 ${step.p50Ms} ms, p99 ${step.p99Ms} ms, ${delivered}/${expected} delivered, bench CPU ${step.clientCpuPct}%, hub ${step.hubCpuPct ?? '?'}%`);
      if (step.p99Ms > o.p99LimitMs || delivered < expected) {
        passedAt = rate;
        break;
      }
      kneeRate = rate;
      // Let queues empty fully before the next, faster step.
      await sleep(200);
    }
    return { steps, kneeRate, passedAt };
  } finally {
    for (const c of [sender, ...receivers]) c.terminate();
  }
}

// ------------------------------------------------------------------------------- slow consumer

export interface SlowConsumerResult {
  members: number;
  rate: number;
  payloadBytes: number;
  frozenMs: number;
  sent: number;
  /** Largest gap between two deliveries at any healthy receiver, from the freeze to the end. */
  largestGapMs: number;
  /** Healthy receivers' one-way latency for messages sent while the member was frozen. */
  frozenP50Ms: number;
  frozenP99Ms: number;
  /** Messages the healthy receivers should have had but did not, after the drain wait. */
  healthyMissing: number;
  /** What happened to the frozen member: still open, or how the hub closed it. */
  frozenOutcome: string;
  /** When the hub closed the frozen member, ms after the freeze; null if it did not. */
  frozenClosedAfterMs: number | null;
  /** Deliveries the frozen member got after it resumed reading. */
  frozenDeliveredAfter: number;
}

export async function slowConsumer(
  hubUrl: string,
  o: { members: number; payloadBytes: number; rate: number; beforeMs: number; frozenMs: number; afterMs: number; drainMs: number; log: Log },
): Promise<SlowConsumerResult> {
  const room = 'slow';
  const sender = await joined(hubUrl, room, 'sender');
  const others: RawSignalrClient[] = [];
  try {
    for (let i = 0; i < o.members - 1; i++) others.push(await joined(hubUrl, room, `m${i}`));
    const [frozen, ...healthy] = others as [RawSignalrClient, ...RawSignalrClient[]];
    const payloads = new PayloadFactory(o.payloadBytes);
    let seq = 1;
    let freezeAt = Number.POSITIVE_INFINITY;
    let frozenSeqFrom = Number.POSITIVE_INFINITY;
    let frozenSeqTo = Number.POSITIVE_INFINITY;
    const lastAt = healthy.map(() => 0);
    let largestGapMs = 0;
    const got = healthy.map(() => 0);
    const frozenLatencies: number[] = [];
    healthy.forEach((c, i) => {
      c.onRelayed = (_room, _from, payload) => {
        const now = performance.now();
        const h = readHeader(payload);
        got[i]!++;
        if (now >= freezeAt && lastAt[i]! > 0) largestGapMs = Math.max(largestGapMs, now - Math.max(lastAt[i]!, freezeAt));
        lastAt[i] = now;
        if (h.seq >= frozenSeqFrom && h.seq < frozenSeqTo) frozenLatencies.push(now - h.sentAt);
      };
    });
    let frozenDeliveredAfter = 0;
    let resumed = false;
    frozen.onRelayed = () => {
      if (resumed) frozenDeliveredAfter++;
    };
    let frozenClosedAt: number | null = null;
    const watchFrozen = setInterval(() => {
      if (!frozen.open && frozenClosedAt === null) frozenClosedAt = performance.now();
    }, 5);
    const send = (): void => sender.send('Relay', [room, null, payloads.make(seq++)]);
    let sent = await paced(o.beforeMs, o.rate, send);
    frozen.pause();
    freezeAt = performance.now();
    frozenSeqFrom = seq;
    o.log(`    member frozen (${o.rate} msg/s of ${o.payloadBytes} B to ${o.members - 1} members)`);
    sent += await paced(o.frozenMs, o.rate, send);
    frozenSeqTo = seq;
    resumed = true;
    frozen.resume();
    o.log(`    member reading again after ${o.frozenMs} ms${frozenClosedAt !== null ? ' (the hub had closed it)' : ''}`);
    sent += await paced(o.afterMs, o.rate, send);
    const deadline = performance.now() + o.drainMs;
    while (got.some((n) => n < sent) && performance.now() < deadline) await sleep(10);
    // A receiver still missing messages after the drain wait has been waiting since its last one.
    const waitedUntil = performance.now();
    healthy.forEach((_, i) => {
      if (got[i]! < sent) largestGapMs = Math.max(largestGapMs, waitedUntil - Math.max(lastAt[i]!, freezeAt));
    });
    clearInterval(watchFrozen);
    const sum = summarize(frozenLatencies);
    return {
      members: o.members,
      rate: o.rate,
      payloadBytes: o.payloadBytes,
      frozenMs: o.frozenMs,
      sent,
      largestGapMs: round(largestGapMs, 1),
      frozenP50Ms: round(sum.p50, 2),
      frozenP99Ms: round(sum.p99, 2),
      healthyMissing: got.reduce((n, g) => n + Math.max(0, sent - g), 0),
      frozenOutcome: frozen.open ? 'still connected' : (frozen.closedWith ?? 'closed'),
      frozenClosedAfterMs: frozenClosedAt === null ? null : round(frozenClosedAt - freezeAt, 0),
      frozenDeliveredAfter,
    };
  } finally {
    for (const c of [sender, ...others]) c.terminate();
  }
}
