/**
 * One agent in its own process, for the mesh bench: `connect` makes the agent (dist/, loopback
 * ICE), `join` joins the room and reports, as events with this process's wall clock
 * (performance.timeOrigin + now, comparable across processes on one machine), when it first lists
 * every other member (`seen-all`) and when every one of them is on P2P (`meshed`); `leave` leaves
 * it, so the same process can form a second mesh. `stats` says where each peer is and what the
 * formation cost in CPU. Closing the worker closes the agent.
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { emit, serveWorker } from '../lib/worker.js';
import { makeBenchAgent } from './agent-pair.js';
import { loadDist, type Agent } from './dist.js';
import { p2pReasonLogger } from './p2p-reasons.js';
import { removeTempDir } from '../lib/fs.js';
import { selfCpuMs, threadCpuByName, threadDelta } from '../lib/cpu.js';
import { Session } from 'node:inspector/promises';
import { writeFile } from 'node:fs/promises';

const dist = await loadDist();
const tmp = await mkdtemp(path.join(os.tmpdir(), 'rtc-agent-mesh-'));
let agent: Agent | undefined;
/** Why P2P attempts failed or links went back to relay, with how often (digits folded so they group). */
const failureReasons = new Map<string, number>();
const wallNow = (): number => performance.timeOrigin + performance.now();
/** This process's CPU from join() to "meshed": in all, and by thread name (JS is "(main)"). */
let formationCpu: { ms: number; threads: Record<string, number> } | null = null;
/** `--cpu-prof`: each formation's V8 profile (join to meshed) goes to `${profile.dir}/${room}-${name}.cpuprofile`. */
let profile: { session: Session; dir: string; name: string; written: Promise<void> } | null = null;

serveWorker(
  {
    async connect(p: { hubUrl: string; name: string; profileDir?: string }) {
      if (p.profileDir) {
        const session = new Session();
        session.connect();
        await session.post('Profiler.enable');
        profile = { session, dir: p.profileDir, name: p.name, written: Promise.resolve() };
      }
      agent = await makeBenchAgent(dist, p.name, { hubUrl: p.hubUrl, dir: tmp, e2ee: false, native: true, logLevel: 'error', overrides: { logger: p2pReasonLogger((r) => failureReasons.set(r, (failureReasons.get(r) ?? 0) + 1)) } });
      return { pid: process.pid };
    },
    async join(p: { room: string; expect: number }) {
      const a = agent;
      if (!a) throw new Error('connect first');
      if (profile) {
        await profile.written;
        await profile.session.post('Profiler.start');
      }
      failureReasons.clear();
      formationCpu = null;
      const cpu0 = selfCpuMs();
      const threads0 = threadCpuByName();
      let seenAll = false;
      let meshed = false;
      // Each peer's path, from the events: no peers() per event (its native stats calls, 31 peers
      // each, are the bench's cost, not the agent's).
      const paths = new Map<string, string>();
      const check = (): void => {
        if (!seenAll && paths.size >= p.expect) {
          seenAll = true;
          emit('seen-all', { at: wallNow() });
        }
        if (!meshed && paths.size >= p.expect && [...paths.values()].every((x) => x === 'p2p')) {
          meshed = true;
          emit('meshed', { at: wallNow() });
          formationCpu = { ms: selfCpuMs() - cpu0, threads: threadDelta(threads0, threadCpuByName()) };
          if (profile) {
            const { session, dir, name } = profile;
            profile.written = session.post('Profiler.stop').then((r) => writeFile(path.join(dir, `${p.room}-${name}.cpuprofile`), JSON.stringify(r.profile)));
          }
          a.off('path-changed', onPath);
          a.off('peer-joined', onJoined);
          a.off('peer-left', onLeft);
        }
      };
      const onPath = (c: { room: string; peerId: string; to: string }): void => {
        if (c.room !== p.room) return;
        paths.set(c.peerId, c.to);
        check();
      };
      const onJoined = (x: { room: string; peerId: string; path: string }): void => {
        if (x.room !== p.room) return;
        if (!paths.has(x.peerId)) paths.set(x.peerId, x.path);
        check();
      };
      const onLeft = (x: { room: string; peerId: string }): void => {
        if (x.room === p.room) paths.delete(x.peerId);
      };
      a.on('path-changed', onPath);
      a.on('peer-joined', onJoined);
      a.on('peer-left', onLeft);

      const t0 = wallNow();
      const room = await a.join(p.room);
      const joinedAt = wallNow();
      for (const x of room.peers()) if (!paths.has(x.peerId)) paths.set(x.peerId, x.path);
      check();
      return { startedAt: t0, joinedAt };
    },
    async leave(p: { room: string }) {
      await agent?.room(p.room)?.leave();
      return {};
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
        formationCpu,
      };
    },
  },
  async () => {
    await profile?.written;
    await agent?.close({ flushMs: 0 });
    await removeTempDir(tmp);
  },
);
