/**
 * An agent process frozen for 20 s (SIGSTOP, then SIGCONT), as a laptop lid or a debugger would:
 * both agents use relay-only ICE through coturn (behind a clean impairment relay), ICE on
 * 127.0.0.2 / .3. Once it runs again, both must list each other again, be back on P2P, and
 * exchange messages both ways; how long each took after SIGCONT is printed (issue 9 asks for 5 s
 * and 10 s; here they are guards only, generous for a loaded 2-core machine, not the assertion). Whether and when a
 * `peer-left` happened during the freeze is not asserted: with default heartbeats it will, and the
 * healing must cope either way.
 *
 * Issue 9: fails on the code before healing (the peers never see each other again after the
 * heartbeat timeout); the waits for the re-join time out.
 */
import { describe, expect, it } from 'vitest';
import { hasCoturn } from '../helpers/coturn.js';
import { useHub } from '../helpers/hub.js';
import { useImpairedTurn } from '../helpers/udp-impair.js';
import { inbox, p2pTo, spawnChildAgent, useAgent } from '../helpers/agents.js';
import type { PeerLeft } from '../../src/index.js';
import { DEFAULT_HEARTBEAT_INTERVAL_MS } from '../../src/config/settings-schema.js';

if (!hasCoturn) console.warn('SIGSTOP fault test skipped: turnserver (Debian package coturn) is not installed; .ci/run installs it');

/** The freeze itself: longer than the default heartbeat timeout (3 × 5 s). */
const FROZEN_MS = 20_000;
/** Guards, not measurements (those are printed): a room that does not heal never gets there. */
const RELIST_WITHIN_MS = 30_000;
const P2P_WITHIN_MS = 45_000;

type Joined = { peerId: string; reason?: string };

describe.skipIf(!hasCoturn)('faults: agent process frozen', () => {
  it(
    'after SIGSTOP for 20 s and SIGCONT both list each other again, are back on P2P, and exchange messages both ways',
    async () => {
      const turn = await useImpairedTurn({ seed: 7 });
      const hub = await useHub();
      const a = await useAgent(hub.url, { name: 'a', ...turn.agentOptions('127.0.0.2') });
      const ra = await a.join('frozen');
      const atA = inbox(a);
      const child = spawnChildAgent({ RTC_AGENT_HUB_URL: hub.url, ROOM: 'frozen', RTC_AGENT_NAME: 'b', ECHO: '1', ...turn.agentEnv('127.0.0.3') });
      const ready = await child.next((e) => e.event === 'ready', 20_000);
      const bId = ready.peerId as string;
      await p2pTo(a, 1, 30_000);
      await child.next((e) => e.event === 'path-changed' && e.to === 'p2p', 30_000);
      expect(ra.peer(bId)!.candidates).toEqual({ local: 'relay', remote: 'relay' });
      await ra.send('before', { to: bId });
      await atA.waitFor(1);
      expect(atA.messages[0]).toMatchObject({ text: 'echo:before', path: 'p2p' });

      const left: PeerLeft[] = [];
      const joinedAtA: Joined[] = [];
      a.on('peer-left', (p) => left.push(p));
      a.on('peer-joined', (p) => joinedAtA.push(p as Joined));
      const pid = child.child.pid!;
      const childEventsBefore = child.events.length;
      process.kill(pid, 'SIGSTOP');
      try {
        await new Promise((resolve) => setTimeout(resolve, FROZEN_MS)); // the 20 s freeze is the scenario
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      const contAt = performance.now();
      const since = (): number => performance.now() - contAt;
      const state = (): string =>
        `peer-left at a: ${left.map((l) => l.reason).join(', ') || 'none'}; a's peers: ${JSON.stringify(ra.peers().map((p) => [p.peerId, p.path, p.lastHeardMs]))}; ` +
        `b's events since SIGSTOP: ${JSON.stringify(child.events.slice(childEventsBefore).filter((e) => e.event !== 'peers')).slice(0, 800)}`;
      /** Polls `check` until it holds; fails once `withinMs` have passed since SIGCONT. */
      const byThen = async (withinMs: number, what: string, check: () => boolean | Promise<boolean>): Promise<number> => {
        for (;;) {
          if (await check()) return since();
          if (since() > withinMs) throw new Error(`${what} within ${withinMs} ms of SIGCONT; ${state()}`);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      };
      let request = 0;
      const childPeers = async (): Promise<{ peerId: string; path: string; lastHeardMs: number; candidates: { local: string; remote: string } | null }[]> => {
        const id = ++request;
        child.command({ cmd: 'peers', id });
        return (await child.next((e) => e.event === 'peers' && e.id === id, 5_000)).peers;
      };
      // "Lists" means alive: in the table and heard from within the heartbeat timeout, so not a stale
      // entry from before the freeze that the heartbeat is about to drop.
      const aliveMs = 3 * DEFAULT_HEARTBEAT_INTERVAL_MS;
      const aListsB = (): boolean => ra.peers().some((p) => p.peerId === bId && p.lastHeardMs < aliveMs);
      const bListsA = async (): Promise<boolean> => (await childPeers()).some((p) => p.peerId === ra.selfId && p.lastHeardMs < aliveMs);
      const [aMs, bMs] = await Promise.all([
        byThen(RELIST_WITHIN_MS, 'a does not list b again', aListsB),
        byThen(RELIST_WITHIN_MS, 'b does not list a again', bListsA),
      ]);
      // Whoever gave up on the other during the freeze took it back as `resumed`, never as a newcomer.
      const childAfter = child.events.slice(childEventsBefore);
      const rejoinReasons = { a: joinedAtA.map((p) => p.reason), b: childAfter.filter((e) => e.event === 'peer-joined').map((e) => e.reason as string) };
      for (const reasons of [rejoinReasons.a, rejoinReasons.b]) for (const r of reasons) expect(r).toBe('resumed');
      if (left.length > 0) expect(rejoinReasons.a.length).toBeGreaterThan(0);
      if (childAfter.some((e) => e.event === 'peer-left')) expect(rejoinReasons.b.length).toBeGreaterThan(0);

      // Back on P2P, on both sides, through TURN.
      const aP2pMs = await byThen(P2P_WITHIN_MS, 'a is not back on P2P with b', () => aListsB() && ra.peer(bId)?.path === 'p2p');
      const bP2pMs = await byThen(P2P_WITHIN_MS, 'b is not back on P2P with a', async () =>
        (await childPeers()).some((p) => p.peerId === ra.selfId && p.path === 'p2p' && p.lastHeardMs < aliveMs),
      );
      expect(ra.peer(bId)).toMatchObject({ path: 'p2p', candidates: { local: 'relay', remote: 'relay' } });

      // Messages both ways, over P2P: ours is echoed back, and the child sends one of its own.
      await ra.send('after', { to: bId });
      expect(await child.next((e) => e.event === 'message' && e.text === 'after')).toMatchObject({ path: 'p2p' });
      child.command({ cmd: 'send', data: 'from-b', to: ra.selfId });
      await atA.waitFor(3, 15_000);
      expect(atA.messages.map((m) => m.text).sort()).toEqual(['echo:after', 'echo:before', 'from-b']);
      expect(atA.messages.slice(1).every((m) => m.path === 'p2p')).toBe(true);

      console.log(
        `[faults] SIGSTOP ${FROZEN_MS / 1000} s: peer-left at a: ${left.map((l) => l.reason).join(', ') || 'none'}, at b: ` +
          `${child.events.slice(childEventsBefore).filter((e) => e.event === 'peer-left').map((e) => e.reason).join(', ') || 'none'}; ` +
          `after SIGCONT: a lists b in ${aMs.toFixed(0)} ms, b lists a in ${bMs.toFixed(0)} ms; P2P at a in ${aP2pMs.toFixed(0)} ms, at b in ${bP2pMs.toFixed(0)} ms`,
      );
      child.command({ cmd: 'close' });
      expect(await child.exit).toBe(0);
    },
    200_000,
  );
});
