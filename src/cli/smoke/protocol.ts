/**
 * The line protocol between `rtc-agent smoke` and its worker processes (`smoke --worker`): one
 * JSON object per line, commands on the worker's stdin, events on its stdout (logs go to stderr).
 * Messages between workers are JSON objects tagged `smoke`.
 */
import type { AgentFlags } from '../agent-flags.js';

export type WorkerCommand =
  /** First line: how to start. Flags travel here, not in argv, so a token never shows in `ps`. */
  | { cmd: 'start'; flags: AgentFlags; room: string; name: string; relayOnly: boolean }
  /** Send `count` numbered messages (seq 1..count) to every peer, then flush. */
  | { cmd: 'send'; count: number }
  /** Ping every peer `count` times, one at a time, and report the round trips. */
  | { cmd: 'ping'; count: number }
  | { cmd: 'close' };

export type WorkerEvent =
  | { ev: 'connected'; connectMs: number; native: boolean; nativeReason?: string; nativeVersion?: string }
  | { ev: 'ready'; peerId: string }
  | { ev: 'peer'; peerId: string; name: string; path: string }
  | { ev: 'left'; peerId: string; reason: string }
  | { ev: 'path'; peerId: string; from: string; to: string; reason: string }
  | { ev: 'msg'; from: string; seq: number; path: string }
  | { ev: 'sent'; peers: number; flushed: boolean; error?: string }
  | { ev: 'rtt'; peerId: string; samples: number[]; agentRttMs?: number }
  | { ev: 'rtt-done' }
  /** Starting failed; the worker exits with `exitCode`. */
  | { ev: 'error'; code: string; message: string; exitCode: number }
  /** A non-fatal agent error (e.g. a P2P attempt failed). */
  | { ev: 'warn'; code: string; message: string }
  | { ev: 'closed' };

/** What peers send each other. */
export type SmokePayload = { smoke: 'msg'; seq: number } | { smoke: 'ping'; n: number } | { smoke: 'pong'; n: number };

export function isSmokePayload(data: unknown): data is SmokePayload {
  if (typeof data !== 'object' || data === null) return false;
  const d = data as Record<string, unknown>;
  return (d.smoke === 'msg' && typeof d.seq === 'number') || ((d.smoke === 'ping' || d.smoke === 'pong') && typeof d.n === 'number');
}
