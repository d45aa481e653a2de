/**
 * A worker process (lib/worker.ts) that holds pipes of ONE build: bare node-datachannel pairs and
 * agent pairs from `--dist DIR` (default this checkout's dist/), and runs the measurements of
 * agent/measure.ts on them when the bench process asks. One build per process, because each build
 * keeps its own refcount around node-datachannel's process-global cleanup()
 * (src/transport/native/binding.ts): the last agent of one build closing would cut the other
 * build's links if they shared a process.
 *
 * It holds one reference on the native binding for its whole life, so agents closing never run
 * cleanup() under a raw pair.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { serveWorker } from '../lib/worker.js';
import { openAgentPair, unreliablePipe, type AgentPair } from './agent-pair.js';
import { DIST_DIR, loadDist, type AvailableNativeBinding } from './dist.js';
import { fileRound, lossyRttRound, rttRound, throughputRound } from './measure.js';
import type { Pipe } from './pipe.js';
import { openRawPair } from './raw-nd.js';
import { removeTempDir } from '../lib/fs.js';

export type PairSpec =
  | { name: string; kind: 'raw'; unreliable?: boolean }
  | { name: string; kind: 'agent'; hubUrl: string; room: string; e2ee: boolean; native: boolean; hubProtocol?: 'messagepack' | 'json' };

export interface ThroughputParams {
  name: string;
  payloadBytes: number;
  warmupMs: number;
  measureMs: number;
  drainMs: number;
  hubPid: number;
}

export interface RttParams {
  name: string;
  payloadBytes: number;
  warmup: number;
  samples: number;
  /** Send with reliable: false and count lost pings instead of failing. */
  unreliable?: boolean;
}

export interface RttResult {
  samplesUs: number[];
  lost: number;
  /** The agent's own heartbeat RTT to the peer, when the pipe is an agent pair. */
  agentHeartbeatRttMs: number | undefined;
}

const distArg = process.argv.indexOf('--dist');
const dist = await loadDist(distArg > 0 ? (process.argv[distArg + 1] as string) : DIST_DIR);
const status = await dist.native.acquireNative();
const tmp = await mkdtemp(path.join(os.tmpdir(), 'rtc-agent-bench-worker-'));
const pipes = new Map<string, Pipe>();

function pipeOf(name: string): Pipe {
  const pipe = pipes.get(name);
  if (!pipe) throw new Error(`no pipe ${name} (open it first)`);
  return pipe;
}

async function closeAll(): Promise<void> {
  await Promise.all([...pipes.values()].map((p) => p.close().catch(() => undefined)));
  pipes.clear();
  dist.native.releaseNative();
  await removeTempDir(tmp);
}

serveWorker(
  {
    info: () => ({
      dir: dist.dir,
      frame: dist.frame,
      native: status.available ? status.version : `unavailable: ${status.reason}`,
      pid: process.pid,
    }),
    async open(spec: PairSpec) {
      if (pipes.has(spec.name)) return { ms: 0 };
      const t0 = performance.now();
      let pipe: Pipe;
      if (spec.kind === 'raw') {
        if (!status.available) throw new Error(`node-datachannel unavailable: ${status.reason}`);
        pipe = await openRawPair(status as AvailableNativeBinding, spec.name, { unreliable: spec.unreliable === true });
      } else {
        pipe = await openAgentPair(dist, spec.name, {
          hubUrl: spec.hubUrl,
          room: spec.room,
          dir: path.join(tmp, spec.name.replace(/[^a-zA-Z0-9_-]/g, '_')),
          e2ee: spec.e2ee,
          native: spec.native,
          logLevel: 'warn',
          // Both sides speak this SignalR hub protocol (absent: the build's default).
          ...(spec.hubProtocol ? { agentOptions: { a: { hubProtocol: spec.hubProtocol }, b: { hubProtocol: spec.hubProtocol } } } : {}),
        });
      }
      pipes.set(spec.name, pipe);
      return { ms: Math.round(performance.now() - t0) };
    },
    throughput: (p: ThroughputParams) => throughputRound(pipeOf(p.name), { payload: randomBytes(p.payloadBytes), warmupMs: p.warmupMs, measureMs: p.measureMs, drainMs: p.drainMs }, p.hubPid),
    async rtt(p: RttParams): Promise<RttResult> {
      const base = pipeOf(p.name);
      const agent = base as Pipe & Partial<AgentPair>;
      const payload = randomBytes(p.payloadBytes);
      let samplesUs: number[];
      let lost = 0;
      if (p.unreliable) {
        // Raw pairs opened unreliable are already on that channel; agent pairs switch per send.
        const pipe = agent.roomA ? unreliablePipe(agent as AgentPair) : base;
        ({ samplesUs, lost } = await lossyRttRound(pipe, payload, p.warmup, p.samples));
      } else samplesUs = await rttRound(base, payload, p.warmup, p.samples);
      return { samplesUs, lost, agentHeartbeatRttMs: agent.roomA?.peer(agent.idB ?? '')?.rttMs };
    },
    file: (p: { name: string; file: string; bytes: number; sha256: string; hubPid: number; timeoutMs: number }) => {
      const pipe = pipeOf(p.name) as Pipe & Partial<AgentPair>;
      if (!pipe.roomA) throw new Error(`${p.name} is not an agent pair`);
      return fileRound(pipe as AgentPair, p.file, p.bytes, p.sha256, p.hubPid, p.timeoutMs);
    },
    async close(p: { name: string }) {
      const pipe = pipes.get(p.name);
      pipes.delete(p.name);
      await pipe?.close();
      return true;
    },
  },
  closeAll,
);
