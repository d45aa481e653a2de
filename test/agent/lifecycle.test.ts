/** Process hygiene and settings: exits by itself, agents in one process stay independent, clear errors. */
import { describe, expect, it } from 'vitest';
import { createAgent, derivePeerId } from '../../src/index.js';
import { useHub } from '../helpers/hub.js';
import { inbox, p2pTo, spawnChildAgent, testAgentOptions, useAgent } from '../helpers/agents.js';
import { within } from '../helpers/wait.js';

describe('lifecycle', () => {
  it('a native agent process exits by itself after close()', async () => {
    const hub = await useHub();
    const peer = await useAgent(hub.url);
    await peer.join('exit');
    const child = spawnChildAgent({ RTC_AGENT_HUB_URL: hub.url, ROOM: 'exit' });
    const ready = await child.next((e) => e.event === 'ready');
    expect(ready.native).toBe(true);
    await p2pTo(peer, 1);
    child.command({ cmd: 'close' });
    await child.next((e) => e.event === 'closed');
    // Closing every channel before the connection lets the process go by itself (native-notes.md,
    // "Closing and exit"); the bound only turns a hang into a clear failure.
    expect(await within(child.exit, 20_000, 'the child to exit by itself after close()')).toBe(0);
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
    for (const agentKey of ['too-short', 'x'.repeat(129), 42 as unknown as string]) {
      await expect(createAgent(testAgentOptions(hub.url, { agentKey }))).rejects.toMatchObject({
        code: 'RTC_ERR_CONFIG',
        message: expect.stringMatching(/agentKey' must be a secret string of 16-128 characters/),
        details: { setting: 'agentKey' },
      });
    }
  });

  it('an agentKey gives the same peer id in every agent (and process) that uses it', async () => {
    const hub = await useHub();
    const key = 'lifecycle-test-agent-key-0001';
    const first = await useAgent(hub.url, { agentKey: key });
    const id = (await first.join('stable')).selfId;
    expect(id).toBe(derivePeerId(null, key));
    await first.close();
    const second = await useAgent(hub.url, { agentKey: key });
    expect((await second.join('stable')).selfId).toBe(id);
    const other = await useAgent(hub.url);
    expect((await other.join('stable')).selfId).not.toBe(id);
  });

  it('fails with HUB_UNREACHABLE when nothing listens at the hub URL (no retrying a refused first connect)', async () => {
    // The bound only turns endless retrying into a clear failure; a refused connect fails at once.
    await expect(within(createAgent(testAgentOptions('http://127.0.0.1:9/hub')), 20_000, 'createAgent to give up')).rejects.toMatchObject({ code: 'RTC_ERR_HUB_UNREACHABLE' });
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
