/**
 * The smoke report: per-pair results computed from what the workers saw, the JSON shape `--json`
 * prints, the human table, and JUnit XML for CI.
 */
import { formatTable } from '../terminal.js';
import type { Fleet, Worker } from './fleet.js';

export interface PairResult {
  a: string;
  b: string;
  /** p2p when both sides are on P2P; relay when either side relays; none when they never met. */
  path: 'p2p' | 'relay' | 'none';
  ok: boolean;
  /** From the later of the two starting to join until both had the expected path. */
  setupMs: number | null;
  /** Median application-level ping-pong round trip over the room (both directions). */
  rttMs: number | null;
  sent: number;
  received: number;
  lost: number;
  duplicated: number;
  reordered: number;
  error?: string;
}

export interface PeerResult {
  name: string;
  peerId: string | null;
  pid: number | null;
  native: boolean | null;
  nativeReason?: string;
  connectMs: number | null;
  error?: string;
}

export interface SmokeReport {
  ok: boolean;
  exitCode: number;
  reason?: string;
  hub: string;
  embeddedHub: boolean;
  room: string;
  expectedPath: 'p2p' | 'relay';
  /** Numbered messages each peer sent to each other peer. */
  messages: number;
  peers: PeerResult[];
  pairs: PairResult[];
  durationMs: number;
  /** Time per phase: connect, signaling, path, delivery, rtt, shutdown (only those reached). */
  phasesMs: Record<string, number>;
  native: { available: boolean; version?: string; reason?: string } | null;
  version: string;
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((p, q) => p - q);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Delivery from `from` to `to`: seq 1..expected should each arrive once, in order. */
function direction(from: Worker, to: Worker, expected: number): { received: number; lost: number; duplicated: number; reordered: number } {
  const seqs = (from.peerId && to.received.get(from.peerId)) || [];
  const unique = new Set(seqs.filter((s) => s >= 1 && s <= expected));
  let reordered = 0;
  let max = 0;
  for (const s of seqs) {
    if (s < max) reordered++;
    max = Math.max(max, s);
  }
  return { received: seqs.length, lost: expected - unique.size, duplicated: seqs.length - new Set(seqs).size, reordered };
}

export function pairResults(fleet: Fleet, expectedPath: string, messages: number, messagesSent: boolean): PairResult[] {
  const pairs: PairResult[] = [];
  const ws = fleet.workers;
  for (let i = 0; i < ws.length; i++) {
    for (let j = i + 1; j < ws.length; j++) {
      const a = ws[i]!;
      const b = ws[j]!;
      const ab = b.peerId ? a.peers.get(b.peerId) : undefined;
      const ba = a.peerId ? b.peers.get(a.peerId) : undefined;
      const path = !ab || !ba ? 'none' : ab.path === 'p2p' && ba.path === 'p2p' ? 'p2p' : ab.path === 'none' && ba.path === 'none' ? 'none' : 'relay';
      const start = Math.max(a.joinAt ?? 0, b.joinAt ?? 0);
      const setupMs = ab?.expectedAt !== undefined && ba?.expectedAt !== undefined ? round(Math.max(0, Math.max(ab.expectedAt, ba.expectedAt) - start)) : null;
      const samples = [...(b.peerId ? (a.rtt.get(b.peerId)?.samples ?? []) : []), ...(a.peerId ? (b.rtt.get(a.peerId)?.samples ?? []) : [])];
      const rtt = median(samples);
      const d1 = direction(a, b, messagesSent ? messages : 0);
      const d2 = direction(b, a, messagesSent ? messages : 0);
      const pair: PairResult = {
        a: a.name,
        b: b.name,
        path,
        ok: true,
        setupMs,
        rttMs: rtt === null ? null : round(rtt),
        sent: messagesSent ? 2 * messages : 0,
        received: d1.received + d2.received,
        lost: d1.lost + d2.lost,
        duplicated: d1.duplicated + d2.duplicated,
        reordered: d1.reordered + d2.reordered,
      };
      const problems: string[] = [];
      if (path === 'none') problems.push('the peers did not see each other');
      else if (path !== expectedPath) problems.push(`path is ${path}, expected ${expectedPath}`);
      if (!messagesSent) problems.push('no messages exchanged');
      else if (pair.lost || pair.duplicated || pair.reordered) problems.push(`${pair.lost} lost, ${pair.duplicated} duplicated, ${pair.reordered} reordered of ${pair.sent}`);
      if (problems.length > 0) {
        pair.ok = false;
        pair.error = problems.join('; ');
      }
      pairs.push(pair);
    }
  }
  return pairs;
}

export function peerResults(fleet: Fleet): PeerResult[] {
  return fleet.workers.map((w) => {
    const p: PeerResult = {
      name: w.name,
      peerId: w.peerId ?? null,
      pid: w.child.pid ?? null,
      native: w.connected?.native ?? null,
      connectMs: w.connected ? round(w.connected.connectMs) : null,
    };
    if (w.connected?.nativeReason !== undefined) p.nativeReason = w.connected.nativeReason;
    if (w.error) p.error = `${w.error.code}: ${w.error.message}`;
    return p;
  });
}

const fmt = (x: number | null): string => (x === null ? '-' : String(x));

export function renderSmoke(r: SmokeReport): string {
  const table = formatTable(
    ['PAIR', 'PATH', 'SETUP ms', 'RTT ms', 'MESSAGES', 'RESULT'],
    r.pairs.map((p) => [`${p.a} <-> ${p.b}`, p.path, fmt(p.setupMs), fmt(p.rttMs), `${p.received - p.duplicated}/${p.sent}`, p.ok ? 'ok' : `FAIL: ${p.error ?? ''}`]),
    { rule: true },
  );
  const native = r.native ? (r.native.available ? r.native.version : `unavailable (${r.native.reason})`) : 'unknown';
  const head = `rtc-agent smoke: ${r.peers.length} peers in room ${r.room} on ${r.embeddedHub ? 'embedded hub ' : ''}${r.hub}, expecting ${r.expectedPath}; native: ${native}\n\n`;
  const tail = r.ok ? `\nPASS in ${r.durationMs} ms\n` : `\nFAIL (exit ${r.exitCode}): ${r.reason ?? ''}\n`;
  return head + table + tail;
}

export function escapeXml(s: string): string {
  return (
    s
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&apos;')
      // Characters XML 1.0 cannot carry at all (control characters other than tab, CR, LF).
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '\ufffd')
  );
}

/** JUnit XML: one testcase for connecting to the hub, one per pair. */
export function renderJunit(r: SmokeReport, connectFailure: string | undefined, pairsTested: boolean): string {
  const cases: string[] = [];
  const connectMs = Math.max(0, ...r.peers.map((p) => p.connectMs ?? 0));
  const tc = (name: string, seconds: number, inner = ''): string =>
    `  <testcase classname="rtc-agent.smoke" name="${escapeXml(name)}" time="${(seconds / 1000).toFixed(3)}"${inner ? `>\n${inner}\n  </testcase>` : '/>'}`;
  const failure = (message: string, type: string, body = message): string => `    <failure message="${escapeXml(message)}" type="${escapeXml(type)}">${escapeXml(body)}</failure>`;
  cases.push(tc(`hub connect (${r.peers.length} peers)`, connectMs, connectFailure ? failure(connectFailure, 'connect') : ''));
  for (const p of r.pairs) {
    const name = `${p.a} <-> ${p.b}`;
    if (!pairsTested) cases.push(tc(name, 0, `    <skipped message="${escapeXml(`not reached: ${r.reason ?? 'the run stopped early'}`)}"/>`));
    else if (p.ok) cases.push(tc(name, p.setupMs ?? 0));
    else cases.push(tc(name, p.setupMs ?? 0, failure(p.error ?? 'failed', p.path === r.expectedPath ? 'delivery' : 'path', JSON.stringify(p))));
  }
  const failures = (connectFailure ? 1 : 0) + (pairsTested ? r.pairs.filter((p) => !p.ok).length : 0);
  const skipped = pairsTested ? 0 : r.pairs.length;
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<testsuites name="rtc-agent" tests="${cases.length}" failures="${failures}" skipped="${skipped}" time="${(r.durationMs / 1000).toFixed(3)}">\n` +
    `<testsuite name="rtc-agent smoke" tests="${cases.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${(r.durationMs / 1000).toFixed(3)}" timestamp="${new Date().toISOString()}">\n` +
    `  <properties>\n` +
    `    <property name="hub" value="${escapeXml(r.hub)}"/>\n    <property name="room" value="${escapeXml(r.room)}"/>\n` +
    `    <property name="expectedPath" value="${r.expectedPath}"/>\n    <property name="exitCode" value="${r.exitCode}"/>\n` +
    `  </properties>\n` +
    `${cases.join('\n')}\n` +
    `</testsuite>\n</testsuites>\n`
  );
}
