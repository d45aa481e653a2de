/**
 * A peer that dies without a word (SIGKILL) is reported as left by the heartbeat within about three
 * intervals, while the hub still lists it: the heartbeat told, not the hub.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { useHub } from '../helpers/hub.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { nextEvent, p2pTo, spawnChildAgent, useAgent } from '../helpers/agents.js';
import type { PeerLeft } from '../../src/index.js';

const HEARTBEAT_MS = 500;

describe('faults: heartbeat', () => {
  it('reports a SIGKILLed peer as left within about three heartbeat intervals', async () => {
    const hub = await useHub();
    // The child reaches the hub through a proxy that keeps the hub's side open when the child dies:
    // the hub cannot notice, only the heartbeat can.
    const proxy = await TcpProxy.start(hub.port, { holdUpstream: true });
    onTestFinished(() => proxy.close());
    const viaProxy = hub.url.replace(`:${hub.port}`, `:${proxy.port}`);

    const watcher = await useAgent(hub.url, { heartbeatIntervalMs: HEARTBEAT_MS });
    const room = await watcher.join('hb');
    const child = spawnChildAgent({ RTC_AGENT_HUB_URL: viaProxy, ROOM: 'hb', RTC_AGENT_HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_MS) });
    const ready = await child.next((e) => e.event === 'ready');
    await p2pTo(watcher, 1);
    const left = nextEvent<PeerLeft>(watcher, 'peer-left', (p) => p.peerId === ready.peerId, 10_000);

    const killedAt = Date.now();
    child.child.kill('SIGKILL');
    const gone = await left;
    const after = Date.now() - killedAt;
    expect(gone.reason).toBe('timeout');
    expect(after).toBeGreaterThanOrEqual(2 * HEARTBEAT_MS);
    // Three intervals of silence, plus the room's 250 ms check and scheduling slack.
    expect(after).toBeLessThan(5 * HEARTBEAT_MS);
    expect(room.peers()).toEqual([]);
    // The hub still lists the dead peer's connection: it was the heartbeat that told.
    const health = (await (await fetch(hub.url.replace(/\/hub$/, '/healthz'))).json()) as { members: number };
    expect(health.members).toBe(2);
    console.log(`[faults] SIGKILL: reported left (timeout) ${after} ms after the kill = ${(after / HEARTBEAT_MS).toFixed(1)} heartbeats of ${HEARTBEAT_MS} ms; the hub still listed it`);
  });
});
