/**
 * The smoke test itself: N agents in N processes join one room, every pair must reach the expected
 * path (P2P, or relay with --relay-only) and deliver numbered messages both ways exactly once, in
 * order. Failures map to the documented exit codes. Workers are always taken down at the end.
 */
import { ExitCode } from '../exit-codes.js';
import type { AgentFlags } from '../agent-flags.js';
import { Fleet, type WaitResult, type Worker } from './fleet.js';
import { pairResults, peerResults, type SmokeReport } from './report.js';

export interface SmokeOptions {
  hubUrl: string;
  embeddedHub: boolean;
  room: string;
  peers: number;
  timeoutMs: number;
  relayOnly: boolean;
  messages: number;
  pings: number;
  flags: AgentFlags;
  version: string;
  /** Where worker logs go (prefixed with the worker name) when the user asked for logs. */
  forwardStderr?: NodeJS.WritableStream;
  signal: AbortSignal;
}

export interface SmokeOutcome {
  report: SmokeReport;
  /** Why connecting failed, for the JUnit "hub connect" testcase. */
  connectFailure: string | undefined;
  /** Whether the run got as far as testing pairs. */
  pairsTested: boolean;
}

class Failed extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
    readonly connect = false,
  ) {
    super(message);
  }
}

export async function runSmoke(o: SmokeOptions): Promise<SmokeOutcome> {
  const expectedPath = o.relayOnly ? 'relay' : 'p2p';
  const fleet = new Fleet(o.peers, expectedPath, o.forwardStderr);
  const { workers } = fleet;
  const deadline = o.timeoutMs;
  // Leave part of the time for messages and round trips once the mesh is up.
  const meshDeadline = deadline - Math.min(10_000, o.timeoutMs / 4);
  let failure: Failed | undefined;
  let messagesSent = false;
  let pairsTested = false;
  const others = (w: Worker): Worker[] => workers.filter((x) => x !== w);
  const phasesMs: Record<string, number> = {};
  let phaseStart = 0;
  const phaseDone = (name: string): void => {
    phasesMs[name] = Math.round(fleet.now() - phaseStart);
    phaseStart = fleet.now();
  };

  const check = (result: WaitResult, onTimeout: () => Failed): void => {
    if (result === 'ok') return;
    if (result === 'aborted') throw new Failed(ExitCode.FAILURE, 'interrupted');
    if (result === 'failed') throw workerFailure(fleet);
    throw onTimeout();
  };

  try {
    for (const w of workers) w.command({ cmd: 'start', flags: { ...o.flags, hub: o.hubUrl }, room: o.room, name: w.name, relayOnly: o.relayOnly });

    // 1. Every agent connects to the hub and joins.
    check(await fleet.waitFor(() => workers.every((w) => w.peerId !== undefined), meshDeadline, o.signal), () => {
      const connected = workers.filter((w) => w.connected).length;
      return connected === 0
        ? new Failed(ExitCode.HUB_UNREACHABLE, `no agent could connect to ${o.hubUrl} within ${Math.round(meshDeadline)} ms`, true)
        : new Failed(ExitCode.SIGNALING_TIMEOUT, `only ${workers.filter((w) => w.peerId).length}/${o.peers} agents joined the room in time`, true);
    });
    phaseDone('connect');
    if (!o.relayOnly) {
      const noNative = workers.find((w) => w.connected && !w.connected.native);
      if (noNative) throw new Failed(ExitCode.P2P_FAILED, `${noNative.name} cannot do P2P: ${noNative.connected?.nativeReason ?? 'native binding unavailable'}`);
    }

    // 2. Everyone sees everyone through the hub.
    const sawAll = (w: Worker): boolean => others(w).every((x) => x.peerId !== undefined && w.peers.has(x.peerId));
    check(await fleet.waitFor(() => workers.every(sawAll), meshDeadline, o.signal), () => {
      const missing = workers.filter((w) => !sawAll(w)).map((w) => `${w.name} saw ${others(w).filter((x) => x.peerId && w.peers.has(x.peerId)).length}/${o.peers - 1}`);
      return new Failed(ExitCode.SIGNALING_TIMEOUT, `signaling timeout: peers did not all see each other (${missing.join(', ')})`);
    });
    pairsTested = true;
    phaseDone('signaling');

    // 3. Every pair on the expected path, both sides.
    const onPath = (w: Worker): boolean => others(w).every((x) => w.peers.get(x.peerId!)?.path === expectedPath);
    check(await fleet.waitFor(() => workers.every(onPath), meshDeadline, o.signal), () => {
      const bad = pairResults(fleet, expectedPath, o.messages, false).filter((p) => p.path !== expectedPath);
      const what = bad.map((p) => `${p.a}<->${p.b} ${p.path}`).join(', ');
      return o.relayOnly
        ? new Failed(ExitCode.SIGNALING_TIMEOUT, `relay not established for ${what}`)
        : new Failed(ExitCode.P2P_FAILED, `P2P failed: ${bad.length} pair(s) not on p2p within the timeout (${what})${iceHint(workers)}`);
    });

    phaseDone('path');

    // 4. Numbered messages both ways.
    fleet.broadcast({ cmd: 'send', count: o.messages });
    messagesSent = true;
    const gotAll = (w: Worker): boolean => others(w).every((x) => new Set(w.received.get(x.peerId!) ?? []).size >= o.messages);
    check(await fleet.waitFor(() => workers.every((w) => gotAll(w) && w.sent !== undefined), deadline, o.signal), () => new Failed(ExitCode.DELIVERY_LOSS, 'messages missing at the timeout'));
    const sendError = workers.find((w) => w.sent?.error);
    if (sendError) throw new Failed(ExitCode.DELIVERY_LOSS, `${sendError.name}: send failed: ${sendError.sent?.error}`);

    phaseDone('delivery');

    // 5. Round trips (a missing pong is not a failure of its own; the pair shows no RTT).
    fleet.broadcast({ cmd: 'ping', count: o.pings });
    check(await fleet.waitFor(() => workers.every((w) => w.rttDone), deadline, o.signal), () => new Failed(ExitCode.OK, ''));
    phaseDone('rtt');
  } catch (err) {
    if (!(err instanceof Failed)) throw err;
    if (err.exitCode !== ExitCode.OK) failure = err;
  } finally {
    phaseStart = fleet.now();
    await fleet.shutdown();
    phaseDone('shutdown');
  }

  const pairs = pairResults(fleet, expectedPath, o.messages, messagesSent);
  if (!failure && pairsTested) {
    // Checked after the fact: a pair may have left its path, or a copy may have arrived late.
    const offPath = pairs.filter((p) => p.path !== expectedPath);
    const lossy = pairs.filter((p) => p.lost || p.duplicated || p.reordered);
    if (offPath.length > 0) failure = new Failed(o.relayOnly ? ExitCode.SIGNALING_TIMEOUT : ExitCode.P2P_FAILED, `${offPath.length} pair(s) left ${expectedPath} during the test`);
    else if (lossy.length > 0) failure = new Failed(ExitCode.DELIVERY_LOSS, `delivery loss in ${lossy.length} pair(s): ${lossy.map((p) => `${p.a}<->${p.b}: ${p.error}`).join('; ')}`);
  }
  const first = workers.find((w) => w.connected);
  const native = first?.connected
    ? first.connected.native
      ? { available: true, ...(first.connected.nativeVersion !== undefined ? { version: first.connected.nativeVersion } : {}) }
      : { available: false, ...(first.connected.nativeReason !== undefined ? { reason: first.connected.nativeReason } : {}) }
    : null;
  const report: SmokeReport = {
    ok: failure === undefined,
    exitCode: failure?.exitCode ?? ExitCode.OK,
    ...(failure ? { reason: failure.message } : {}),
    hub: o.hubUrl,
    embeddedHub: o.embeddedHub,
    room: o.room,
    expectedPath,
    messages: o.messages,
    peers: peerResults(fleet),
    pairs,
    durationMs: Math.round(fleet.now()),
    phasesMs,
    native,
    version: o.version,
  };
  return { report, connectFailure: failure?.connect ? failure.message : undefined, pairsTested };
}

/** A worker reported a fatal error or died: its own exit code says hub unreachable / auth refused. */
function workerFailure(fleet: Fleet): Failed {
  const w = fleet.failure()!;
  const connecting = w.peerId === undefined;
  if (w.error) {
    const code = w.error.exitCode === ExitCode.USAGE || w.error.exitCode === ExitCode.OK ? ExitCode.FAILURE : w.error.exitCode;
    return new Failed(w.error.exitCode === ExitCode.USAGE ? ExitCode.USAGE : code, `${w.name}: ${w.error.code}: ${w.error.message}`, connecting);
  }
  const how = w.exit?.signal ? `was killed by ${w.exit.signal}` : `exited with code ${w.exit?.code}`;
  const tail = w.stderrTail();
  return new Failed(ExitCode.FAILURE, `${w.name} ${how}${tail ? `: ${tail}` : ''}`, connecting);
}

function iceHint(workers: Worker[]): string {
  const warn = workers.flatMap((w) => w.warnings).find((m) => m.includes('P2P'));
  return warn ? `; last P2P error: ${warn}` : '';
}
