/**
 * A worker that holds one end of many P2P links, for the link-memory bench: either agents (`agent`:
 * one agent per call to `agentJoin`'s name, each room one link) or bare node-datachannel
 * PeerConnections with one reliable DataChannel (`raw*`: signals go out as `signal` events and come
 * in through `rawSignal`, the bench process forwarding them between two hosts). `measure` reports
 * this process's memory, threads and file descriptors after a full GC (run with --expose-gc).
 */
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import { sleep } from '../lib/async.js';
import { emit, serveWorker } from '../lib/worker.js';
import { makeBenchAgent } from './agent-pair.js';
import { loadDist, type Agent, type NativeDataChannel, type NativePeerConnection } from './dist.js';
import { removeTempDir } from '../lib/fs.js';

/** Two RSS readings this close count as settled. */
const RSS_STABLE_BYTES = 256 * 1024;
const MAX_SAMPLES = 6;

const dist = await loadDist();
const status = await dist.native.acquireNative();
if (!status.available) throw new Error(`node-datachannel unavailable: ${status.reason}`);
const binding = status;
const tmp = await mkdtemp(path.join(os.tmpdir(), 'rtc-agent-links-'));
const agents = new Map<string, Agent>();

interface RawEnd {
  pc: NativePeerConnection;
  dc: NativeDataChannel | null;
  remoteSet: boolean;
  pending: { candidate: string; mid: string }[];
}
const raw = new Map<string, RawEnd>();

/** A throw inside a native callback aborts the process (NATIVE-FACTS pitfall 2). */
function guard(body: () => void): void {
  try {
    body();
  } catch (err) {
    process.stderr.write(`link-host: error in native callback: ${String(err)}\n`);
  }
}

async function countFds(): Promise<number | null> {
  return readdir('/proc/self/fd').then(
    (x) => x.length,
    () => null,
  );
}

async function countThreads(): Promise<number | null> {
  const status = await readFile('/proc/self/status', 'utf8').catch(() => '');
  const m = /^Threads:\s+(\d+)/m.exec(status);
  return m ? Number(m[1]) : null;
}

serveWorker(
  {
    async measure(p: { settleMs: number }) {
      const gc = (globalThis as { gc?: () => void }).gc;
      // RSS drifts for a while after allocations settle (V8 and malloc hand pages back late), so
      // sample until two readings agree within RSS_STABLE_BYTES, at most MAX_SAMPLES times.
      let last = Number.NaN;
      let m = process.memoryUsage();
      for (let i = 0; i < MAX_SAMPLES; i++) {
        gc?.();
        await sleep(p.settleMs);
        gc?.();
        m = process.memoryUsage();
        if (Math.abs(m.rss - last) < RSS_STABLE_BYTES) break;
        last = m.rss;
      }
      // Resident V8 heap (committed pages can be untouched, so heapTotal over-counts what is in RSS).
      const heapPhysicalBytes = v8.getHeapStatistics().total_physical_size;
      return { rssBytes: m.rss, heapTotalBytes: m.heapTotal, heapPhysicalBytes, heapUsedBytes: m.heapUsed, externalBytes: m.external, arrayBuffersBytes: m.arrayBuffers, threads: await countThreads(), fds: await countFds(), gc: gc !== undefined };
    },
    async agentConnect(p: { hubUrl: string; name: string }) {
      const agent = await makeBenchAgent(dist, p.name, { hubUrl: p.hubUrl, dir: path.join(tmp, p.name), e2ee: false, native: true, logLevel: 'error' });
      agents.set(p.name, agent);
      return true;
    },
    /** Joins `room` and resolves once its one peer is on P2P (or fails after `timeoutMs`). */
    async agentJoin(p: { name: string; room: string; timeoutMs: number }) {
      const agent = agents.get(p.name);
      if (!agent) throw new Error(`no agent ${p.name}`);
      const deadline = Date.now() + p.timeoutMs;
      const room = await agent.join(p.room);
      while (!(room.peers().length === 1 && room.peers()[0]?.path === 'p2p')) {
        if (Date.now() > deadline) throw new Error(`${p.name} in ${p.room}: no P2P peer within ${p.timeoutMs} ms (${JSON.stringify(room.peers().map((x) => x.path))})`);
        await sleep(20);
      }
      return true;
    },
    rawCreate(p: { id: string; offerer: boolean }) {
      const end: RawEnd = { pc: new binding.api.PeerConnection(p.id, { iceServers: [], bindAddress: '127.0.0.1' }), dc: null, remoteSet: false, pending: [] };
      raw.set(p.id, end);
      const opened = (dc: NativeDataChannel): void => {
        end.dc = dc;
        dc.onClosed(() => undefined);
        dc.onMessage(() => undefined);
        const report = (): void => emit('raw-open', { id: p.id });
        if (dc.isOpen()) report();
        else dc.onOpen(() => guard(report));
      };
      end.pc.onLocalDescription((sdp, type) => guard(() => emit('signal', { id: p.id, sdp, type })));
      end.pc.onLocalCandidate((candidate, mid) => guard(() => emit('signal', { id: p.id, candidate, mid })));
      if (p.offerer) opened(end.pc.createDataChannel('bench', {}));
      else end.pc.onDataChannel((dc) => guard(() => opened(dc)));
      return true;
    },
    rawState(p: { id: string }) {
      const end = raw.get(p.id);
      return end ? { pc: end.pc.state(), remoteSet: end.remoteSet, pendingCandidates: end.pending.length, dcOpen: end.dc?.isOpen() ?? null } : null;
    },
    rawSignal(p: { id: string; sdp?: string; type?: string; candidate?: string; mid?: string }) {
      const end = raw.get(p.id);
      if (!end) throw new Error(`no raw end ${p.id}`);
      if (p.sdp !== undefined) {
        end.pc.setRemoteDescription(p.sdp, p.type as 'offer' | 'answer');
        end.remoteSet = true;
        for (const c of end.pending.splice(0)) end.pc.addRemoteCandidate(c.candidate, c.mid);
      } else if (p.candidate !== undefined) {
        // Candidates may arrive before the description (NATIVE-FACTS pitfall 2): queue them.
        if (end.remoteSet) end.pc.addRemoteCandidate(p.candidate, p.mid ?? '0');
        else end.pending.push({ candidate: p.candidate, mid: p.mid ?? '0' });
      }
      return true;
    },
  },
  async () => {
    await Promise.all([...agents.values()].map((a) => a.close({ flushMs: 0 }).catch(() => undefined)));
    for (const end of raw.values()) {
      guard(() => end.dc?.close());
      guard(() => end.pc.close());
    }
    dist.native.releaseNative();
    await removeTempDir(tmp);
  },
);
