/**
 * Membership that heals: a peer frozen long enough for the heartbeat to give up on it (while the hub
 * still lists it) comes back into the room by itself, P2P is renegotiated, and what `send()`
 * accepted while it was listed arrives exactly once and in order. Short heartbeats keep this fast;
 * the freeze lasts until the other side has reported the timeout (an event, not a guess).
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { useHub } from '../helpers/hub.js';
import { inbox, nextEvent, p2pTo, spawnChildAgent, useAgent } from '../helpers/agents.js';
import type { PeerJoined, PeerLeft } from '../../src/index.js';

const HEARTBEAT_MS = 300;

describe('healing after a freeze', () => {
  it('a SIGSTOPped peer is re-admitted on both sides after SIGCONT, back on P2P, nothing lost', async () => {
    const hub = await useHub();
    const watcher = await useAgent(hub.url, { heartbeatIntervalMs: HEARTBEAT_MS });
    const room = await watcher.join('heal');
    const got = inbox(watcher);
    const child = spawnChildAgent({ RTC_AGENT_HUB_URL: hub.url, ROOM: 'heal', RTC_AGENT_HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_MS) });
    const ready = await child.next((e) => e.event === 'ready');
    await p2pTo(watcher, 1);
    await child.next((e) => e.event === 'path-changed' && e.to === 'p2p');

    const left = nextEvent<PeerLeft>(watcher, 'peer-left', (p) => p.peerId === ready.peerId, 15_000);
    process.kill(child.child.pid!, 'SIGSTOP');
    try {
      // Accepted while the peer is still listed (it is frozen, so nothing is acknowledged).
      for (let i = 0; i < 20; i++) await room.send(`before-${i}`, { to: ready.peerId });
      const gone = await left;
      expect(gone.reason).toBe('timeout');
      expect(room.peers()).toEqual([]);
      // The hub still lists both: only the heartbeat gave up.
      const health = (await (await fetch(hub.url.replace(/\/hub$/, '/healthz'))).json()) as { members: number };
      expect(health.members).toBe(2);
    } finally {
      process.kill(child.child.pid!, 'SIGCONT');
    }

    const back = await nextEvent<PeerJoined>(watcher, 'peer-joined', (p) => p.peerId === ready.peerId, 15_000);
    expect(back.reason).toBe('resumed');
    // The child saw us again too (whether or not its own heartbeat had given up on us first).
    await child.next((e) => e.event === 'message' && e.text === 'before-19', 15_000);
    const texts = child.events.filter((e) => e.event === 'message').map((e) => e.text as string);
    expect(texts).toEqual(Array.from({ length: 20 }, (_, i) => `before-${i}`));

    await p2pTo(watcher, 1, 15_000);
    child.command({ cmd: 'send', data: 'after-freeze', to: room.selfId });
    await got.waitFor(1, 15_000);
    expect(got.messages.map((m) => m.text)).toEqual(['after-freeze']);
    await room.send('to-child-after', { to: ready.peerId });
    await child.next((e) => e.event === 'message' && e.text === 'to-child-after', 15_000);
    expect(room.peers().map((p) => p.peerId)).toEqual([ready.peerId]);
    child.command({ cmd: 'close' });
    expect(await child.exit).toBe(0);
  }, 60_000);

  it('relay-only peers whose hub path stalled past the heartbeat heal both ways, nothing lost or doubled', async () => {
    const hub = await useHub();
    const proxy = await FaultProxy.start(hub.port);
    onTestFinished(() => proxy.close());
    const options = { heartbeatIntervalMs: HEARTBEAT_MS, tryNative: false };
    const a = await useAgent(hub.url, { ...options, name: 'direct' });
    const b = await useAgent(proxy.urlFor(hub.url), { ...options, name: 'stalled' });
    const ra = await a.join('stall');
    const joined = nextEvent<PeerJoined>(a, 'peer-joined');
    const rb = await b.join('stall');
    await joined;
    const atA = inbox(a);
    const atB = inbox(b);

    const leftA = nextEvent<PeerLeft>(a, 'peer-left', () => true, 15_000);
    const leftB = nextEvent<PeerLeft>(b, 'peer-left', () => true, 15_000);
    proxy.stall();
    for (let i = 0; i < 10; i++) {
      await ra.send(`a-${i}`, { to: rb.selfId });
      await rb.send(`b-${i}`, { to: ra.selfId });
    }
    // Both heartbeats give up while the TCP connection (and so the hub's membership) stays up.
    expect((await leftA).reason).toBe('timeout');
    expect((await leftB).reason).toBe('timeout');
    const backAtA = nextEvent<PeerJoined>(a, 'peer-joined', (p) => p.peerId === rb.selfId, 15_000);
    const backAtB = nextEvent<PeerJoined>(b, 'peer-joined', (p) => p.peerId === ra.selfId, 15_000);
    proxy.resume();
    expect((await backAtA).reason).toBe('resumed');
    expect((await backAtB).reason).toBe('resumed');
    await atA.waitFor(10, 15_000);
    await atB.waitFor(10, 15_000);
    await ra.send('after', { to: rb.selfId });
    await rb.send('after', { to: ra.selfId });
    await atA.waitFor(11, 15_000);
    await atB.waitFor(11, 15_000);
    const expected = (p: string): string[] => [...Array.from({ length: 10 }, (_, i) => `${p}-${i}`), 'after'];
    expect(atB.messages.map((m) => m.text)).toEqual(expected('a'));
    expect(atA.messages.map((m) => m.text)).toEqual(expected('b'));
    expect(b.hubState).toBe('connected'); // healed without a hub reconnect
  }, 60_000);

  it('peers with no data path at all (no P2P, relay off) keep their heartbeat through probe signals', async () => {
    const hub = await useHub();
    const options = { heartbeatIntervalMs: 200, tryNative: false, allowRelay: false };
    const a = await useAgent(hub.url, options);
    const b = await useAgent(hub.url, options);
    const ra = await a.join('no-path');
    const joined = nextEvent<PeerJoined>(a, 'peer-joined');
    await b.join('no-path');
    await joined;
    const left: PeerLeft[] = [];
    a.on('peer-left', (p) => left.push(p));
    b.on('peer-left', (p) => left.push(p));
    // The scenario is "nothing happens": 15 heartbeat intervals, five times the timeout.
    await new Promise((resolve) => setTimeout(resolve, 15 * 200));
    expect(left).toEqual([]);
    expect(ra.peers()).toHaveLength(1);
    expect(ra.peers()[0]!.lastHeardMs).toBeLessThan(3 * 200);
  }, 30_000);
});
