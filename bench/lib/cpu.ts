/**
 * CPU time of this process and of a child (by pid, from /proc on Linux). Lets a bench say who
 * was the bottleneck: with all clients in one process, a saturated client process means the
 * numbers measure the client library, not the server.
 */
import { readFileSync, readdirSync } from 'node:fs';

/** Linux USER_HZ; 100 on every mainstream kernel config. */
const CLOCK_TICKS_PER_SECOND = 100;

export function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** utime+stime of `pid` in ms, or null where /proc is unavailable. */
export function pidCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may contain spaces; fields after the closing paren are space-separated.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    if (!Number.isFinite(utime) || !Number.isFinite(stime)) return null;
    return ((utime + stime) * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** Busy CPU time of the whole machine (all cores) in ms, from /proc/stat; null off Linux. */
export function machineBusyMs(): number | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    // cpu user nice system idle iowait irq softirq steal ...; guest time is already inside user.
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const busy = [user, nice, system, irq, softirq, steal].reduce<number>((a, b) => a + (b ?? 0), 0);
    return Number.isFinite(busy) ? (busy * 1000) / CLOCK_TICKS_PER_SECOND : null;
  } catch {
    return null;
  }
}

export interface CpuUsage {
  /** Percent of one core used by the bench (client) process. */
  clientPct: number;
  /** Percent of one core used by the server child. */
  serverPct: number | null;
  /**
   * Percent of one core used by everything else on the machine (other builds, tests). High values
   * mean the round competed for CPU and its numbers are not trustworthy.
   */
  otherPct: number | null;
}

export interface CpuWindow {
  stop(): CpuUsage;
}

export function openCpuWindow(serverPid: number): CpuWindow {
  const t0 = performance.now();
  const self0 = selfCpuMs();
  const server0 = pidCpuMs(serverPid);
  const machine0 = machineBusyMs();
  return {
    stop() {
      const wall = performance.now() - t0;
      const self = selfCpuMs() - self0;
      const server1 = pidCpuMs(serverPid);
      const machine1 = machineBusyMs();
      const server = server0 === null || server1 === null ? null : server1 - server0;
      const other = machine0 === null || machine1 === null || server === null ? null : Math.max(0, machine1 - machine0 - self - server);
      return {
        clientPct: (self / wall) * 100,
        serverPct: server === null ? null : (server / wall) * 100,
        otherPct: other === null ? null : (other / wall) * 100,
      };
    },
  };
}

/**
 * CPU time (ms) of each thread of this process, summed by thread name (/proc/self/task/N/comm):
 * with the main thread named after the process, it tells JavaScript apart from libuv's and
 * V8's workers and a native library's threads. Empty off Linux.
 */
export function threadCpuByName(): Map<string, number> {
  const out = new Map<string, number>();
  let tasks: string[];
  try {
    tasks = readdirSync('/proc/self/task');
  } catch {
    return out;
  }
  for (const tid of tasks) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) + (tid === String(process.pid) ? ' (main)' : '');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ms = ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
      if (Number.isFinite(ms)) out.set(name, (out.get(name) ?? 0) + ms);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}

/** CPU ms per thread name between two {@link threadCpuByName} snapshots (threads that ended in between are not counted). */
export function threadDelta(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  return Object.fromEntries([...after].map(([k, v]) => [k, Math.round(v - (before.get(k) ?? 0))]));
}
