/** Process hygiene and settings: exits by itself, agents in one process stay independent, clear errors. */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createAgent, derivePeerId } from '../../src/index.js';
import { useHub } from '../helpers/hub.js';
import { inbox, p2pTo, spawnChildAgent, testAgentOptions, useAgent } from '../helpers/agents.js';
import { within } from '../helpers/wait.js';

const TRACK_TIMERS = fileURLToPath(new URL('../fixtures/track-timers.cjs', import.meta.url));

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

  it('leaves no timer behind once close() resolved, after using P2P and the relay', async () => {
    const hub = await useHub();
    const p2pPeer = await useAgent(hub.url);
    const relayPeer = await useAgent(hub.url, { tryNative: false });
    const rooms = [await p2pPeer.join('timers'), await relayPeer.join('timers')];
    const child = spawnChildAgent({ RTC_AGENT_HUB_URL: hub.url, ROOM: 'timers', ECHO: '1', NODE_OPTIONS: `--require ${TRACK_TIMERS}` });
    const ready = await child.next((e) => e.event === 'ready');
    await p2pTo(p2pPeer, 1);
    const echoes = [inbox(p2pPeer), inbox(relayPeer)];
    await rooms[0]!.send('over p2p', { to: ready.peerId });
    await rooms[1]!.send('over the relay', { to: ready.peerId });
    await Promise.all(echoes.map((box) => box.waitFor(1)));
    expect(echoes.map((box) => box.messages[0]!.path)).toEqual(['p2p', 'relay']);
    child.command({ cmd: 'close' });
    const closed = await child.next((e) => e.event === 'closed');
    // Once close() resolved, the only timer left may be ws's close-handshake guard (cleared as soon
    // as the hub answers the close). The SignalR client's stateful-reconnect ack timer, which held
    // the process ~1 s, must be gone, and so must every timer of the agent's own.
    const timers = (closed.timers as string[]).filter((t) => !/WebSocket\.close/.test(t));
    expect(timers).toEqual([]);
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
