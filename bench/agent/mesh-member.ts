/**
 * One agent in its own process, for the mesh bench: `connect` makes the agent (dist/, loopback
 * ICE), `join` joins the room and reports, as events with this process's wall clock
 * (performance.timeOrigin + now, comparable across processes on one machine), when it first lists
 * every other member (`seen-all`) and when every one of them is on P2P (`meshed`). `stats` says
 * where each peer is. Closing the worker closes the agent.
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { emit, serveWorker } from '../lib/worker.js';
import { makeBenchAgent } from './agent-pair.js';
import { loadDist, type Agent } from './dist.js';
import { p2pReasonLogger } from './p2p-reasons.js';
import { removeTempDir } from '../lib/fs.js';

const dist = await loadDist();
const tmp = await mkdtemp(path.join(os.tmpdir(), 'rtc-agent-mesh-'));
let agent: Agent | undefined;
/** Why P2P attempts failed or links went back to relay, with how often (digits folded so they group). */
const failureReasons = new Map<string, number>();
const wallNow = (): number => performance.timeOrigin + performance.now();

serveWorker(
  {
    async connect(p: { hubUrl: string; name: string }) {
      agent = await makeBenchAgent(dist, p.name, { hubUrl: p.hubUrl, dir: tmp, e2ee: false, native: true, logLevel: 'error', overrides: { logger: p2pReasonLogger((r) => failureReasons.set(r, (failureReasons.get(r) ?? 0) + 1)) } });
      return { pid: process.pid };
    },
    async join(p: { room: string; expect: number }) {
      const a = agent;
      if (!a) throw new Error('connect first');
      let seenAll = false;
      let meshed = false;
      const check = (): void => {
        const peers = a.room(p.room)?.peers() ?? [];
        if (!seenAll && peers.length >= p.expect) {
          seenAll = true;
          emit('seen-all', { at: wallNow() });
        }
        if (!meshed && peers.length >= p.expect && peers.every((x) => x.path === 'p2p')) {
          meshed = true;
          emit('meshed', { at: wallNow() });
          a.off('path-changed', check);
          a.off('peer-joined', check);
        }
      };
      a.on('path-changed', check);
      a.on('peer-joined', check);

      const t0 = wallNow();
      await a.join(p.room);
      const joinedAt = wallNow();
      check();
      return { startedAt: t0, joinedAt };
    },
    stats(p: { room: string }) {
      const peers = agent?.room(p.room)?.peers() ?? [];
      const mem = process.memoryUsage();
      return {
        peers: peers.length,
        p2p: peers.filter((x) => x.path === 'p2p').length,
        p2pFailures: peers.reduce((n, x) => n + x.p2pFailures, 0),
        failureReasons: Object.fromEntries(failureReasons),
        rssBytes: mem.rss,
        heapUsedBytes: mem.heapUsed,
      };
    },
  },
  async () => {
    await agent?.close({ flushMs: 0 });
    await removeTempDir(tmp);
  },
);
