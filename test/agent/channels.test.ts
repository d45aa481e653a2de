/** Unreliable messages, several rooms per agent, and the bounded resend buffer. */
import { describe, expect, it, onTestFinished } from 'vitest';
import { useHub } from '../helpers/hub.js';
import { inbox, p2pTo, spawnChildAgent, useAgent } from '../helpers/agents.js';
import { waitUntil } from '../helpers/wait.js';

describe('channels and rooms', () => {
  it('sends unreliable messages over the unordered P2P channel and over relay', async () => {
    const hub = await useHub();
    const a = await useAgent(hub.url, { reliable: false });
    const b = await useAgent(hub.url);
    const ra = await a.join('games');
    await b.join('games');
    const box = inbox(b);
    await p2pTo(a, 1);
    // Unreliable means what it says (no retransmits; a loaded machine can drop some), and order is
    // not promised: send ticks until 20 have arrived, and check what arrived.
    let sent = 0;
    while (box.messages.length < 20 && sent < 5_000) {
      await ra.send({ tick: sent++ });
      if (sent % 20 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    const got = await box.waitFor(20);
    expect(got.every((m) => m.reliable === false && m.path === 'p2p' && m.kind === 'json')).toBe(true);
    const ticks = got.map((m) => (m.data as { tick: number }).tick);
    expect(new Set(ticks).size).toBe(ticks.length); // no tick delivered twice
    expect(ticks.every((t) => Number.isInteger(t) && t >= 0 && t < sent)).toBe(true);
    await expect(ra.send(new Uint8Array(20_000))).rejects.toMatchObject({ code: 'RTC_ERR_MESSAGE_TOO_LARGE' });

    // A relay-only peer gets them best effort over the hub.
    const c = await useAgent(hub.url, { tryNative: false });
    await c.join('games');
    const boxC = inbox(c);
    await waitUntil(() => ra.peers().length === 2, { what: 'ra.peers().length === 2' });
    await ra.send('state update');
    const atC = await boxC.waitFor(1);
    expect(atC[0]).toMatchObject({ text: 'state update', path: 'relay', reliable: false });
  });

  it('keeps several rooms apart in one agent', async () => {
    const hub = await useHub();
    const a = await useAgent(hub.url);
    const b = await useAgent(hub.url);
    const c = await useAgent(hub.url);
    const [a1, a2] = [await a.join('one'), await a.join('two')];
    await b.join('one');
    await c.join('two');
    const boxB = inbox(b);
    const boxC = inbox(c);
    await p2pTo(a, 2);
    await a1.send('to room one');
    await a2.send('to room two');
    expect((await boxB.waitFor(1))[0]).toMatchObject({ room: 'one', text: 'to room one' });
    expect((await boxC.waitFor(1))[0]).toMatchObject({ room: 'two', text: 'to room two' });
    await a2.send('second to two');
    await boxC.waitFor(2);
    expect(boxB.messages.map((m) => m.text)).toEqual(['to room one']);
    expect(a.joinedRooms().map((r) => r.name).sort()).toEqual(['one', 'two']);
  });

  it('refuses new sends with BUFFER_FULL when a peer stops acknowledging', async () => {
    const hub = await useHub();
    const a = await useAgent(hub.url, { tryNative: false, sendTimeoutMs: 1_000 });
    const room = await a.join('stuck');
    const child = spawnChildAgent({ RTC_AGENT_HUB_URL: hub.url, ROOM: 'stuck', RTC_AGENT_TRY_NATIVE: 'false' });
    const ready = await child.next((e) => e.event === 'ready');
    await waitUntil(() => room.peers().length === 1, { what: 'room.peers().length === 1' });
    // Frozen, not dead: it keeps its sockets but reads and acks nothing.
    child.child.kill('SIGSTOP');
    onTestFinished(() => {
      child.child.kill('SIGCONT');
    });
    const chunk = new Uint8Array(512 * 1024);
    let error: unknown;
    for (let i = 0; i < 20 && !error; i++) {
      await room.send(chunk, { to: ready.peerId }).catch((err: unknown) => (error = err));
    }
    expect(error).toMatchObject({ code: 'RTC_ERR_BUFFER_FULL' });
    expect(String((error as Error).message)).toMatch(/unacknowledged after 1000 ms/);
    expect(room.peer(ready.peerId)!.unackedBytes).toBeGreaterThanOrEqual(4 * 1024 * 1024);
  });
});
