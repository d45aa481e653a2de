/**
 * Real `rtc-agent hub --redis` processes on one redis-server, one of them SIGKILLed: its members
 * are reported left (`disconnected`) once on every surviving hub, a later Join does not list them,
 * traffic between the survivors keeps flowing meanwhile, and a peer that rejoins on another hub
 * before its old hub is declared dead keeps its id without anyone seeing it leave.
 */
import { expect, it } from 'vitest';
import { AGENT_KEY_A, AGENT_KEY_B, connectClient, nextCall, record, until } from '../helpers/hub.js';
import { waitUntil } from '../helpers/wait.js';
import { rawRedis, spawnHub } from './processes.js';
import { describeWithRedis, testPrefix } from './support.js';

const AGENT_KEY_C = 'agent-key-cccccccccccccccc';
const AGENT_KEY_D = 'agent-key-dddddddddddddddd';
/** Generous: the hubs declare a hub dead 4-8 s after it died; a loaded machine adds to that. */
const DEATH_NOTICE_MS = 30_000;

describeWithRedis('a hub SIGKILLed', (redis) => {
  it('is reported left once on each surviving hub, mid-stream, and later joins do not list its members', async () => {
    const prefix = testPrefix();
    const args = ['--redis', redis().url, '--redis-prefix', prefix];
    const [h1, h2, h3] = await Promise.all([spawnHub(args), spawnHub(args), spawnHub(args)]);
    const a = await connectClient(h1!.url);
    const b = await connectClient(h2!.url);
    const b2 = await connectClient(h2!.url);
    const c = await connectClient(h3!.url);
    const joinedA = await a.invoke('Join', 'r', { agentKey: AGENT_KEY_A });
    const aJoins = record(a, 'PeerJoined');
    const cJoins = record(c, 'PeerJoined');
    const joinedC = await c.invoke('Join', 'r', { agentKey: AGENT_KEY_C });
    const joinedB = await b.invoke('Join', 'r', { agentKey: AGENT_KEY_B });
    const joinedB2 = await b2.invoke('Join', 'r', { agentKey: AGENT_KEY_D });
    await until(() => aJoins.length === 3 && cJoins.length === 2, 10_000, 'A and C to list everyone');
    const leftAtA = record(a, 'PeerLeft');
    const leftAtC = record(c, 'PeerLeft');

    // A streams to C while hub 2 dies; every message arrives, in order.
    const received: string[] = [];
    c.on('Relayed', (_room: string, _from: string, payload: string) => received.push(payload));
    const total = 300;
    let killedAt = 0;
    for (let i = 0; i < total; i++) {
      await a.invoke('Relay', 'r', joinedC.self.peerId, Buffer.from(String(i)).toString('base64'));
      if (i === 100) {
        await h2!.kill();
        killedAt = performance.now();
      }
    }
    await until(() => received.length === total, 10_000, 'the whole stream at C');
    expect(received.map((p) => Number(Buffer.from(p, 'base64').toString()))).toEqual(Array.from({ length: total }, (_, i) => i));

    const gone = new Set([joinedB.self.peerId, joinedB2.self.peerId]);
    await waitUntil(() => [leftAtA, leftAtC].every((calls) => calls.filter((call) => gone.has(call[1])).length === 2), {
      what: "hub 2's members reported left at A and C",
      timeoutMs: DEATH_NOTICE_MS,
    });
    console.log(`hub 2's members were reported left ${Math.round(performance.now() - killedAt)} ms after SIGKILL`);
    for (const calls of [leftAtA, leftAtC]) {
      expect(calls.map((call) => call[2])).toEqual(['disconnected', 'disconnected']);
    }
    // The cleanup ran (hub 2 is out of the cluster), and every message it published reached both
    // hubs before a marker sent now: so what they told their clients is all there will be.
    const raw = await rawRedis(redis().url);
    await waitUntil(async () => (await raw.zCard(`{${prefix}}:nodes`)) === 2, { what: 'hub 2 to be out of the cluster' });
    const marker = nextCall(c, 'Relayed', 10_000, (_r: string, _f: string, p: string) => p === 'bWFya2Vy');
    await a.invoke('Relay', 'r', joinedC.self.peerId, 'bWFya2Vy');
    await marker;
    expect(leftAtA).toHaveLength(2);
    expect(leftAtC).toHaveLength(2);

    const d = await connectClient(h1!.url);
    const joinedD = await d.invoke('Join', 'r', { agentKey: 'agent-key-eeeeeeeeeeeeeeee' });
    expect(new Set(joinedD.participants.map((p: { peerId: string }) => p.peerId))).toEqual(new Set([joinedA.self.peerId, joinedC.self.peerId]));
    await expect(a.invoke('Relay', 'r', joinedB.self.peerId, 'eA==')).rejects.toThrow('RTC_ERR_PEER_NOT_IN_ROOM');
  });

  it('lets a peer rejoin on another hub before its old hub is declared dead: same id, nobody sees it leave', async () => {
    const prefix = testPrefix();
    const args = ['--redis', redis().url, '--redis-prefix', prefix];
    const [h1, h2] = await Promise.all([spawnHub(args), spawnHub(args)]);
    const watcher = await connectClient(h1!.url);
    const mover = await connectClient(h2!.url);
    await watcher.invoke('Join', 'r', { agentKey: AGENT_KEY_A });
    const listed = nextCall(watcher, 'PeerJoined');
    const before = await mover.invoke('Join', 'r', { agentKey: AGENT_KEY_B, name: 'mover' });
    await listed;
    const left = record(watcher, 'PeerLeft');

    await h2!.kill();
    // What an agent does when its hub vanishes: reconnect (here, to the surviving hub) and rejoin.
    const update = nextCall(watcher, 'PeerJoined');
    const moved = await connectClient(h1!.url);
    const after = await moved.invoke('Join', 'r', { agentKey: AGENT_KEY_B, name: 'mover' });
    expect(after.self.peerId).toBe(before.self.peerId);
    expect((await update)[1].peerId).toBe(before.self.peerId);

    // Wait until the dead hub's cleanup ran: it must have spared the entry that moved.
    const raw = await rawRedis(redis().url);
    await waitUntil(async () => (await raw.zCard(`{${prefix}}:nodes`)) === 1, { what: 'hub 2 to be out of the cluster', timeoutMs: DEATH_NOTICE_MS });
    const marker = nextCall(watcher, 'Relayed');
    await moved.invoke('Relay', 'r', null, 'c3RpbGwgaGVyZQ==');
    expect(await marker).toEqual(['r', before.self.peerId, 'c3RpbGwgaGVyZQ==']);
    expect(left).toEqual([]);
    expect((await watcher.invoke('Members', 'r')).participants.map((p: { peerId: string }) => p.peerId)).toEqual([before.self.peerId]);
  });
});
