/** Process hygiene and settings: exits by itself, agents in one process stay independent, clear errors. */
import { describe, expect, it } from 'vitest';
import { createAgent } from '../../src/index.js';
import { useHub } from '../helpers/hub.js';
import { inbox, p2pTo, spawnChildAgent, testAgentOptions, useAgent } from '../helpers/agents.js';

describe('lifecycle', () => {
  it('a native agent process exits by itself after close()', async () => {
    const hub = await useHub();
    const peer = await useAgent(hub.url);
    await peer.join('exit');
    const child = spawnChildAgent({ RTC_AGENT_HUB_URL: hub.url, ROOM: 'exit' });
    const ready = await child.next((e) => e.event === 'ready');
    expect(ready.native).toBe(true);
    await p2pTo(peer, 1);
    const started = Date.now();
    child.command({ cmd: 'close' });
    await child.next((e) => e.event === 'closed');
    expect(await child.exit).toBe(0);
    // Closing every channel before the connection lets the process go at once (native-notes.md).
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('closing one agent leaves the other agents in the process working over P2P', async () => {
    const hub = await useHub();
    const [a, b, c] = await Promise.all([useAgent(hub.url), useAgent(hub.url), useAgent(hub.url)]);
    const rooms = await Promise.all([a, b, c].map((x) => x.join('shared')));
    await Promise.all([p2pTo(a, 2), p2pTo(b, 2), p2pTo(c, 2)]);
    await c.close();
    await c.close(); // idempotent
    const atB = inbox(b);
    await rooms[0]!.send('still here', { to: rooms[1]!.selfId });
    const got = await atB.waitFor(1);
    expect(got[0]).toMatchObject({ text: 'still here', path: 'p2p' });
    expect(rooms[0]!.peer(rooms[1]!.selfId)).toMatchObject({ path: 'p2p', p2p: 'open' });
  });

  it('rejects bad settings with an error naming the setting', async () => {
    const hub = await useHub();
    await expect(createAgent(testAgentOptions(hub.url, { heartbeatIntervalMs: -5 }))).rejects.toThrow(/RTC_ERR_CONFIG|heartbeatIntervalMs/);
    await expect(createAgent(testAgentOptions(hub.url, { heartbeatIntervalMs: -5 }))).rejects.toMatchObject({ code: 'RTC_ERR_CONFIG', details: expect.objectContaining({ setting: 'heartbeatIntervalMs' }) });
    await expect(createAgent(testAgentOptions(hub.url, { env: { RTC_AGENT_ICE_TRANSPORT_POLICY: 'sometimes' } }))).rejects.toThrow(/iceTransportPolicy.*RTC_AGENT_ICE_TRANSPORT_POLICY/);
  });

  it('fails fast with HUB_UNREACHABLE when nothing listens at the hub URL', async () => {
    const started = Date.now();
    await expect(createAgent(testAgentOptions('http://127.0.0.1:9/hub'))).rejects.toMatchObject({ code: 'RTC_ERR_HUB_UNREACHABLE' });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('rejects sends to unknown peers and unsendable values clearly', async () => {
    const hub = await useHub();
    const a = await useAgent(hub.url);
    const room = await a.join('errors');
    await expect(room.send('x', { to: 'nobody' })).rejects.toMatchObject({ code: 'RTC_ERR_UNKNOWN_PEER' });
    await expect(room.send(undefined)).rejects.toMatchObject({ code: 'RTC_ERR_BAD_REQUEST' });
    await room.leave();
    await expect(room.send('x')).rejects.toMatchObject({ code: 'RTC_ERR_CLOSED' });
  });
});
