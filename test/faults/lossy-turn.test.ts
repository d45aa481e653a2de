/**
 * Agents on a lossy, slow path: relay-only ICE through Debian's coturn, with a user-space
 * impairment relay in front of it giving every one-way trip 5% loss and 40 ms ± 10 ms delay (see
 * test/helpers/udp-impair.ts for why only the client → coturn hop is impaired). Reliable messages
 * must all arrive, once, in order; the heartbeat must not mistake loss for a dead peer.
 * Measured figures are printed for the CI log; only behaviour is asserted.
 */
import { describe, expect, it } from 'vitest';
import { hasCoturn } from '../helpers/coturn.js';
import { useHub } from '../helpers/hub.js';
import { useImpairedTurn, type Impairment } from '../helpers/udp-impair.js';
import { p2pTo, useAgent } from '../helpers/agents.js';
import type { Agent, PeerLeft, ReceivedMessage } from '../../src/index.js';
import { DEFAULT_HEARTBEAT_INTERVAL_MS } from '../../src/config/settings-schema.js';

if (!hasCoturn) console.warn('lossy-path fault tests skipped: turnserver (Debian package coturn) is not installed; .ci/run installs it');

/** 5% loss, 40 ms ± 10 ms, on each agent's uplink: exactly that one way, end to end. */
const LOSSY: Impairment = { lossRate: 0.05, delayMs: 40, jitterMs: 10 };
const SEED = 20_240_905;
const RELIABLE_COUNT = 10_000;
const UNRELIABLE_COUNT = 2_000;

/** `promise`, or a rejection saying `what()` once `ms` have passed. */
function within<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what()} (after ${ms} ms)`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/** Two relay-only agents (ICE on 127.0.0.2 / .3) in one room, P2P through coturn, peer-left recorded. */
async function lossyPair(): Promise<{ a: Agent; b: Agent; aId: string; bId: string; left: PeerLeft[]; relayStats: () => unknown }> {
  // Clean while the link is set up, lossy from then on: see below.
  const turn = await useImpairedTurn({ seed: SEED });
  const hub = await useHub();
  const a = await useAgent(hub.url, { name: 'a', ...turn.agentOptions('127.0.0.2') });
  const b = await useAgent(hub.url, { name: 'b', ...turn.agentOptions('127.0.0.3') });
  const left: PeerLeft[] = [];
  a.on('peer-left', (p) => left.push(p));
  b.on('peer-left', (p) => left.push(p));
  const ra = await a.join('lossy');
  const rb = await b.join('lossy');
  // The link is set up on a clean path and the loss and delay start once it is open: through TURN,
  // libdatachannel (node-datachannel 0.33.4) can deadlock a DTLS handshake when the peer's
  // ClientHello is already queued as the ICE state changes (native-notes.md, "TURN: a DTLS setup
  // that deadlocks the process"), and a 40 ms path makes that race likely. The deadlock freezes the
  // whole process in native code, so no test could report it. What this file checks is delivery
  // and liveness on a lossy path, not setup on one.
  await Promise.all([p2pTo(a, 1, 45_000), p2pTo(b, 1, 45_000)]);
  // Only TURN carries the traffic: relay candidates on both ends of both selected pairs.
  expect(ra.peer(rb.selfId)!.candidates).toEqual({ local: 'relay', remote: 'relay' });
  expect(rb.peer(ra.selfId)!.candidates).toEqual({ local: 'relay', remote: 'relay' });
  turn.relay.setImpairment({ up: LOSSY });
  return { a, b, aId: ra.selfId, bId: rb.selfId, left, relayStats: () => turn.relay.stats() };
}

describe.skipIf(!hasCoturn)('faults: lossy, delayed path through TURN', () => {
  it(
    `delivers ${RELIABLE_COUNT} reliable messages at 5% loss + 40 ± 10 ms: none lost, none duplicated, in order`,
    async () => {
      const { a, b, aId, bId, left, relayStats } = await lossyPair();
      const ra = a.room('lossy')!;
      const rb = b.room('lossy')!;

      // Reliable: the receiver checks sequence as messages come; resolves at the last one.
      let next = 0;
      let duplicates = 0;
      let gaps = 0;
      let notP2p = 0;
      let unreliableGot = 0;
      let allArrived: () => void = () => undefined;
      const arrived = new Promise<void>((resolve) => (allArrived = resolve));
      b.on('message', (m: ReceivedMessage) => {
        if (!m.reliable) {
          unreliableGot++;
          return;
        }
        const text = m.text ?? '';
        if (text.startsWith('ping:')) {
          rb.send(`pong:${text.slice(5)}`, { to: aId }).catch(() => undefined);
          return;
        }
        if (!text.startsWith('r')) return;
        const seq = Number(text.slice(1));
        if (m.path !== 'p2p') notP2p++;
        if (seq < next) duplicates++;
        else if (seq > next) gaps++;
        next = Math.max(next, seq + 1);
        if (next === RELIABLE_COUNT) allArrived();
      });

      const started = performance.now();
      for (let i = 0; i < RELIABLE_COUNT; i++) await ra.send(`r${i}`, { to: bId });
      await within(arrived, 150_000, () => `only ${next}/${RELIABLE_COUNT} reliable messages arrived`);
      const deliveredMs = performance.now() - started;
      expect(await ra.flush(60_000)).toBe(true);
      expect({ next, duplicates, gaps, notP2p }).toEqual({ next: RELIABLE_COUNT, duplicates: 0, gaps: 0, notP2p: 0 });

      // Unreliable: no retransmissions, so some are lost; how many is measured, not asserted.
      for (let i = 0; i < UNRELIABLE_COUNT; i++) await ra.send(`u${i}`, { to: bId, reliable: false });
      // A reliable marker behind them, then the unreliable count must stop growing.
      await ra.send('r-marker', { to: bId });
      expect(await ra.flush(30_000)).toBe(true);
      let seen = -1;
      while (seen !== unreliableGot) {
        seen = unreliableGot;
        await new Promise((r) => setTimeout(r, 500)); // quiescence, for the measurement only
      }

      // RTT: 200 reliable echoes, 4 in flight at a time, measured by the sender.
      const rtts: number[] = [];
      const chains = Array.from({ length: 4 }, async (_, c) => {
        for (let i = 0; i < 50; i++) {
          const key = `${c}-${i}`;
          const sent = performance.now();
          const done = new Promise<void>((resolve) => {
            const onMsg = (m: ReceivedMessage): void => {
              if (m.text === `pong:${key}`) {
                a.off('message', onMsg);
                resolve();
              }
            };
            a.on('message', onMsg);
          });
          await ra.send(`ping:${key}`, { to: bId });
          await within(done, 30_000, () => `no echo for ping ${key}`);
          rtts.push(performance.now() - sent);
        }
      });
      await Promise.all(chains);
      rtts.sort((x, y) => x - y);

      const relayed = relayStats() as { up: { in: number; dropped: number } };
      console.log(
        `[faults] lossy TURN: ${RELIABLE_COUNT} reliable delivered in ${(deliveredMs / 1000).toFixed(1)} s, 0 lost, 0 duplicated, in order; ` +
          `unreliable delivered ${unreliableGot}/${UNRELIABLE_COUNT} (${((100 * unreliableGot) / UNRELIABLE_COUNT).toFixed(1)}%); ` +
          `echo RTT p50 ${percentile(rtts, 50).toFixed(0)} ms, p99 ${percentile(rtts, 99).toFixed(0)} ms (n=${rtts.length}); ` +
          `agent-reported RTT a→b ${ra.peer(bId)?.rttMs} ms, b→a ${rb.peer(aId)?.rttMs} ms; ` +
          `relay uplink dropped ${relayed.up.dropped}/${relayed.up.in} packets`,
      );
      // Each echo crossed the impaired hop twice: at least 2 × (40 − 10) ms (a lower bound, load-proof).
      expect(percentile(rtts, 0)).toBeGreaterThanOrEqual(60);
      expect(relayed.up.dropped).toBeGreaterThan(0); // the loss was real
      expect(unreliableGot).toBeGreaterThan(0);
      expect(unreliableGot).toBeLessThanOrEqual(UNRELIABLE_COUNT);
      expect(left).toEqual([]);
      expect(ra.peer(bId)).toMatchObject({ path: 'p2p', candidates: { local: 'relay', remote: 'relay' } });
    },
    240_000,
  );

  it(
    'reports no peer-left at 5% loss + 40 ± 10 ms with default heartbeats (two full timeout windows, idle)',
    async () => {
      const { a, b, aId, bId, left } = await lossyPair();
      const ra = a.room('lossy')!;
      const rb = b.room('lossy')!;
      // A peer is declared dead after 3 silent intervals; watch two such windows with only the
      // heartbeat on the wire (the hardest case: nothing else refreshes "last heard").
      const windowMs = 3 * DEFAULT_HEARTBEAT_INTERVAL_MS;
      const firstLeft = new Promise<PeerLeft | null>((resolve) => {
        const t = setTimeout(() => resolve(null), 2 * windowMs); // the observation period is the scenario
        const onLeft = (p: PeerLeft): void => {
          clearTimeout(t);
          resolve(p);
        };
        a.once('peer-left', onLeft);
        b.once('peer-left', onLeft);
      });
      expect(await firstLeft).toBeNull();
      expect(left).toEqual([]);
      expect(ra.peers().map((p) => p.peerId)).toEqual([bId]);
      expect(rb.peers().map((p) => p.peerId)).toEqual([aId]);
      for (const [room, peer] of [[ra, bId], [rb, aId]] as const) {
        const info = room.peer(peer)!;
        expect(info.path).toBe('p2p');
        // Heartbeats crossed the impaired path both ways: the RTT they measure is at least 2 × 30 ms.
        expect(info.rttMs).toBeGreaterThanOrEqual(60);
      }
      console.log(
        `[faults] lossy TURN, ${(2 * windowMs) / 1000} s idle with ${DEFAULT_HEARTBEAT_INTERVAL_MS} ms heartbeats: no peer-left; ` +
          `agent-reported RTT a→b ${ra.peer(bId)?.rttMs} ms, b→a ${rb.peer(aId)?.rttMs} ms, last heard ${ra.peer(bId)?.lastHeardMs} / ${rb.peer(aId)?.lastHeardMs} ms ago`,
      );
    },
    120_000,
  );
});
