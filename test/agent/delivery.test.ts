/**
 * Reliable delivery across path switches and hub restarts: 10,000 sequenced messages arrive in
 * order, exactly once, while the path changes under them.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { startHub, type Hub, type ReceivedMessage } from '../../src/index.js';
import { inbox, p2pTo, useAgent } from '../helpers/agents.js';
import { useHub } from '../helpers/hub.js';
import { waitUntil } from '../helpers/wait.js';

const COUNT = 10_000;

function expectSequence(messages: ReceivedMessage[], count: number): void {
  const numbers = messages.map((m) => (m.data as { n: number }).n);
  const firstBad = numbers.findIndex((n, i) => n !== i);
  expect(firstBad, `first out-of-place message at index ${firstBad}: ${numbers.slice(Math.max(0, firstBad - 3), firstBad + 3).join(',')}`).toBe(-1);
  expect(numbers.length).toBe(count);
}

/**
 * Sends COUNT JSON messages {n}, calling `at[k]` after message k was accepted. It yields to the
 * event loop every 100 messages, as a real application does (a loop that never yields would keep
 * even its own incoming traffic waiting).
 */
async function stream(send: (n: number) => Promise<void>, at: Record<number, () => Promise<void> | void>): Promise<void> {
  for (let n = 0; n < COUNT; n++) {
    await send(n);
    await at[n]?.();
    if (n % 100 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('reliable delivery', () => {
  it('10,000 messages across P2P → relay → P2P switches: none lost, none duplicated, in order', async () => {
    const hub = await useHub();
    const a = await useAgent(hub.url);
    const b = await useAgent(hub.url);
    const ra = await a.join('seq');
    const rb = await b.join('seq');
    await Promise.all([p2pTo(a, 1), p2pTo(b, 1)]);
    const box = inbox(b);
    const switched: string[] = [];
    a.on('path-changed', (c) => switched.push(`${c.from}->${c.to}`));

    // P2P for the first 3,000, relay from the restart, P2P again once the new link is up (by 6,000).
    await stream((n) => ra.send({ n }), {
      3_000: () => ra.restartP2P(rb.selfId),
      6_000: () => p2pTo(a, 1),
    });
    const got = await box.waitFor(COUNT, 30_000);
    expectSequence(got, COUNT);
    expect(switched).toEqual(expect.arrayContaining(['p2p->relay', 'relay->p2p']));
    // Runs of the same path, in order of arrival: the stream really moved p2p → relay → p2p.
    const runs = got.map((m) => m.path).filter((p, i, all) => i === 0 || all[i - 1] !== p);
    expect(runs.slice(0, 1)).toEqual(['p2p']);
    expect(runs).toContain('relay');
    expect(runs.at(-1)).toBe('p2p');
    await ra.flush(5_000);
    expect(box.messages.length).toBe(COUNT);
  });

  it('10,000 relayed messages while the hub is killed and restarted: none lost, none duplicated, in order', async () => {
    let hub: Hub = await startHub({ host: '127.0.0.1', port: 0 });
    const port = hub.port;
    onTestFinished(() => hub.close());
    // Relay only (no native), so every message crosses the hub that dies.
    const opts = { tryNative: false, reconnectIntervalMs: 100, heartbeatIntervalMs: 2_000 };
    const a = await useAgent(hub.url, opts);
    const b = await useAgent(hub.url, opts);
    const ra = await a.join('restart');
    await b.join('restart');
    await waitUntil(() => ra.peers().length === 1, { what: 'ra.peers().length === 1' });
    const box = inbox(b);
    const states: string[] = [];
    a.on('hub', (s) => states.push(s));

    await stream((n) => ra.send({ n }), {
      4_000: async () => {
        await hub.close();
        hub = await startHub({ host: '127.0.0.1', port });
      },
    });
    const got = await box.waitFor(COUNT, 60_000);
    expectSequence(got, COUNT);
    expect(states).toEqual(expect.arrayContaining(['reconnecting', 'connected']));
    expect(got.every((m) => m.path === 'relay')).toBe(true);
  });

  it('keeps a live P2P link and keeps delivering over it while the hub is down', async () => {
    let hub: Hub = await startHub({ host: '127.0.0.1', port: 0 });
    const port = hub.port;
    onTestFinished(() => hub.close());
    const a = await useAgent(hub.url, { reconnectIntervalMs: 100 });
    const b = await useAgent(hub.url, { reconnectIntervalMs: 100 });
    const ra = await a.join('p2p-outage');
    const rb = await b.join('p2p-outage');
    await Promise.all([p2pTo(a, 1), p2pTo(b, 1)]);
    const box = inbox(b);
    const left: string[] = [];
    a.on('peer-left', (p) => left.push(p.peerId));

    await hub.close();
    await waitUntil(() => a.hubState !== 'connected', { what: "a.hubState !== 'connected'", timeoutMs: 5_000 });
    for (let n = 0; n < 1_000; n++) await ra.send({ n });
    const during = await box.waitFor(1_000, 10_000);
    expectSequence(during, 1_000);
    expect(during.every((m) => m.path === 'p2p')).toBe(true);

    hub = await startHub({ host: '127.0.0.1', port });
    await waitUntil(() => a.hubState === 'connected', { what: "a.hubState === 'connected'", timeoutMs: 10_000 });
    await waitUntil(() => b.hubState === 'connected', { what: "b.hubState === 'connected'", timeoutMs: 10_000 });
    // Same peer ids after the reconnect, and the P2P link was never dropped.
    expect(ra.peer(rb.selfId)).toMatchObject({ path: 'p2p', p2p: 'open' });
    expect(left).toEqual([]);
    await ra.send({ n: 1_000 });
    await box.waitFor(1_001);
  });
});
