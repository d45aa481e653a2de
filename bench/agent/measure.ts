/**
 * Measurements over a Pipe: one-way throughput counted at the receiver in a fixed steady-state
 * window, ping-pong RTT, and file transfer over an agent pair. Every wait has a deadline.
 */
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { withTimeout } from '../lib/async.js';
import { machineBusyMs, pidCpuMs, selfCpuMs } from '../lib/cpu.js';
import { round } from '../lib/stats.js';
import type { AgentPair } from './agent-pair.js';
import type { FileReceived } from './dist.js';
import type { Pipe } from './pipe.js';

export interface ThroughputSpec {
  payload: Uint8Array;
  /** Sending before the measured window starts (JIT, congestion window, buffers fill). */
  warmupMs: number;
  /** The measured window; the sender keeps going through it, so nothing drains inside it. */
  measureMs: number;
  /** Bound on draining after the sender stops. */
  drainMs: number;
}

/**
 * CPU ms of this process's main thread (the JS event loop both peers share), from
 * /proc/self/task/<pid>/stat; null off Linux. The rest of the process's CPU is libdatachannel's
 * native threads (SCTP, DTLS, ICE) and libuv/V8 helpers.
 */
export function mainThreadCpuMs(): number | null {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks * 10 : null;
  } catch {
    return null;
  }
}

export interface CpuShares {
  /** % of one core: this process (both peers), its main (JS) thread, the hub child, everything else on the machine. */
  benchPct: number;
  jsThreadPct: number | null;
  hubPct: number | null;
  otherPct: number | null;
}

export interface ThroughputRound {
  /** Payload bytes (10^6) received by B per second inside the window. */
  mbps: number;
  messagesPerSec: number;
  windowMs: number;
  receivedInWindow: number;
  sent: number;
  received: number;
  /** Bench-process CPU (both peers) per message received in the window, µs. */
  cpuUsPerMessage: number;
  /** The main (JS) thread's part of it. */
  jsUsPerMessage: number | null;
  cpu: CpuShares;
  /** Messages sent but not received after the drain wait (must be 0). */
  undelivered: number;
}

interface Snapshot {
  t: number;
  bytes: number;
  msgs: number;
  self: number;
  js: number | null;
  hub: number | null;
  machine: number | null;
}

export async function throughputRound(pipe: Pipe, spec: ThroughputSpec, hubPid: number): Promise<ThroughputRound> {
  let bytes = 0;
  let msgs = 0;
  pipe.onA = null;
  pipe.onB = (d) => {
    bytes += d.byteLength;
    msgs++;
  };
  const snap = (): Snapshot => ({ t: performance.now(), bytes, msgs, self: selfCpuMs(), js: mainThreadCpuMs(), hub: pidCpuMs(hubPid), machine: machineBusyMs() });
  let s0: Snapshot | undefined;
  let s1: Snapshot | undefined;
  let stop = false;
  const t0 = setTimeout(() => (s0 = snap()), spec.warmupMs);
  const t1 = setTimeout(() => {
    s1 = snap();
    stop = true;
  }, spec.warmupMs + spec.measureMs);
  // Hard bound in case timers starve (a sender that never yields would be a finding in itself).
  const hardStop = performance.now() + spec.warmupMs + spec.measureMs + 10_000;
  let sent = 0;
  try {
    while (!stop) {
      if (performance.now() > hardStop) throw new Error(`${pipe.name}: sender never yielded to the measurement timers`);
      const p = pipe.send(spec.payload);
      if (p) await p;
      sent++;
    }
  } finally {
    clearTimeout(t0);
    clearTimeout(t1);
  }
  // Drain: everything sent must arrive (a lost message would be a bug, not a number).
  const deadline = Date.now() + spec.drainMs;
  while (msgs < sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  await pipe.drain(Math.max(1, deadline - Date.now())).catch(() => undefined);
  pipe.onB = null;
  if (!s0 || !s1) throw new Error(`${pipe.name}: measurement window never opened`);
  const wallMs = s1.t - s0.t;
  const inWindow = s1.msgs - s0.msgs;
  const selfMs = s1.self - s0.self;
  const hubMs = s0.hub === null || s1.hub === null ? null : s1.hub - s0.hub;
  const machineMs = s0.machine === null || s1.machine === null ? null : s1.machine - s0.machine;
  return {
    mbps: round((s1.bytes - s0.bytes) / 1e6 / (wallMs / 1000), 2),
    messagesPerSec: round((inWindow * 1000) / wallMs, 0),
    windowMs: round(wallMs, 1),
    receivedInWindow: inWindow,
    sent,
    received: msgs,
    cpuUsPerMessage: inWindow > 0 ? round((selfMs * 1000) / inWindow, 1) : Number.NaN,
    jsUsPerMessage: inWindow > 0 && s0.js !== null && s1.js !== null ? round(((s1.js - s0.js) * 1000) / inWindow, 1) : null,
    cpu: {
      benchPct: round((selfMs / wallMs) * 100, 1),
      jsThreadPct: s0.js === null || s1.js === null ? null : round(((s1.js - s0.js) / wallMs) * 100, 1),
      hubPct: hubMs === null ? null : round((hubMs / wallMs) * 100, 1),
      otherPct: machineMs === null ? null : round((Math.max(0, machineMs - selfMs - (hubMs ?? 0)) / wallMs) * 100, 1),
    },
    undelivered: sent - msgs,
  };
}

/**
 * Ping-pong: A sends `payload`, B sends back what it got, A times the round trip. Returns the
 * measured round trips in µs (warm-up ones dropped).
 */
export async function rttRound(pipe: Pipe, payload: Uint8Array, warmup: number, samples: number, perTripTimeoutMs = 5_000): Promise<number[]> {
  let arrived: (() => void) | null = null;
  const echoErrors: unknown[] = [];
  pipe.onB = (d) => {
    const p = pipe.sendBack(d);
    if (p) p.catch((err: unknown) => echoErrors.push(err));
  };
  pipe.onA = () => {
    const a = arrived;
    arrived = null;
    a?.();
  };
  const out: number[] = [];
  try {
    for (let i = 0; i < warmup + samples; i++) {
      const back = new Promise<void>((resolve) => (arrived = resolve));
      const t = performance.now();
      const p = pipe.send(payload);
      if (p) await p;
      await withTimeout(back, perTripTimeoutMs, `${pipe.name}: echo ${i}`);
      const us = (performance.now() - t) * 1000;
      if (i >= warmup) out.push(us);
      if (echoErrors.length) throw new Error(`${pipe.name}: echo failed: ${String(echoErrors[0])}`);
    }
  } finally {
    pipe.onA = null;
    pipe.onB = null;
  }
  return out;
}

/**
 * Ping-pong over a channel that may lose messages (unreliable): each ping carries its number in
 * its first 4 bytes, an echo of an earlier ping is ignored, and a ping with no echo within
 * `perTripTimeoutMs` counts as lost instead of failing the round.
 */
export async function lossyRttRound(pipe: Pipe, payload: Uint8Array, warmup: number, samples: number, perTripTimeoutMs = 500): Promise<{ samplesUs: number[]; lost: number }> {
  if (payload.byteLength < 4) throw new Error('lossyRttRound: payload must be at least 4 bytes');
  const ping = new Uint8Array(payload);
  const view = new DataView(ping.buffer, ping.byteOffset, ping.byteLength);
  let waitingFor = -1;
  let arrived: (() => void) | null = null;
  const echoErrors: unknown[] = [];
  pipe.onB = (d) => {
    const p = pipe.sendBack(d);
    if (p) p.catch((err: unknown) => echoErrors.push(err));
  };
  pipe.onA = (d) => {
    if (d.byteLength < 4 || new DataView(d.buffer, d.byteOffset, d.byteLength).getUint32(0) !== waitingFor) return;
    const a = arrived;
    arrived = null;
    a?.();
  };
  const out: number[] = [];
  let lost = 0;
  try {
    for (let i = 0; i < warmup + samples; i++) {
      waitingFor = i;
      view.setUint32(0, i);
      const back = new Promise<void>((resolve) => (arrived = resolve));
      const t = performance.now();
      const p = pipe.send(ping);
      if (p) await p;
      const ok = await withTimeout(back, perTripTimeoutMs, 'echo').then(
        () => true,
        () => false,
      );
      const us = (performance.now() - t) * 1000;
      if (i >= warmup) {
        if (ok) out.push(us);
        else lost++;
      }
      if (echoErrors.length) throw new Error(`${pipe.name}: echo failed: ${String(echoErrors[0])}`);
    }
  } finally {
    pipe.onA = null;
    pipe.onB = null;
  }
  return { samplesUs: out, lost };
}

export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('data', (d) => h.update(d))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

export interface FileRound {
  mbps: number;
  ms: number;
  bytes: number;
  cpu: CpuShares;
}

/** A sends `file` to B with room.sendFile; timed from the call to its resolution, B's copy checked. */
export async function fileRound(pair: AgentPair, file: string, size: number, sha256: string, hubPid: number, timeoutMs: number): Promise<FileRound> {
  let received: FileReceived | undefined;
  const onReceived = (f: FileReceived): void => {
    if (f.from === pair.idA) received = f;
  };
  pair.b.on('file-received', onReceived);
  const self0 = selfCpuMs();
  const js0 = mainThreadCpuMs();
  const hub0 = pidCpuMs(hubPid);
  const machine0 = machineBusyMs();
  const t0 = performance.now();
  try {
    const sent = await withTimeout(pair.roomA.sendFile(file, { to: pair.idB }), timeoutMs, `${pair.name}: sendFile of ${size} bytes`);
    const ms = performance.now() - t0;
    const selfMs = selfCpuMs() - self0;
    const js1 = mainThreadCpuMs();
    const hub1 = pidCpuMs(hubPid);
    const machine1 = machineBusyMs();
    if (!sent.deliveredTo.includes(pair.idB)) throw new Error(`${pair.name}: sendFile resolved without B's confirmation (${JSON.stringify(sent)})`);
    if (sent.size !== size || sent.sha256 !== sha256) throw new Error(`${pair.name}: sender hashed ${sent.size} bytes ${sent.sha256}, expected ${size} ${sha256}`);
    // B confirms only after verifying the hash; its own event tells us where the copy is.
    const deadline = Date.now() + 5_000;
    while (!received && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    if (!received) throw new Error(`${pair.name}: B confirmed but emitted no file-received`);
    const got = received as FileReceived;
    if (got.sha256 !== sha256 || got.size !== size) throw new Error(`${pair.name}: B got ${got.size} bytes ${got.sha256}, expected ${sha256}`);
    await unlink(got.path).catch(() => undefined);
    const hubMs = hub0 === null || hub1 === null ? null : hub1 - hub0;
    const machineMs = machine0 === null || machine1 === null ? null : machine1 - machine0;
    return {
      mbps: round(size / 1e6 / (ms / 1000), 2),
      ms: round(ms, 1),
      bytes: size,
      cpu: {
        benchPct: round((selfMs / ms) * 100, 1),
        jsThreadPct: js0 === null || js1 === null ? null : round(((js1 - js0) / ms) * 100, 1),
        hubPct: hubMs === null ? null : round((hubMs / ms) * 100, 1),
        otherPct: machineMs === null ? null : round((Math.max(0, machineMs - selfMs - (hubMs ?? 0)) / ms) * 100, 1),
      },
    };
  } finally {
    pair.b.off('file-received', onReceived);
  }
}
