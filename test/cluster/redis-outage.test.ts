/**
 * Redis going away under a running cluster (the real redis-server SIGKILLed, then started again,
 * empty): hubs keep serving their own members, say so in /healthz, metrics and one warn log per
 * state change, refuse sends to other hubs with a clear error, reconnect, and resynchronise
 * presence so that nothing is stale afterwards.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { expect, it } from 'vitest';
import type { Hub } from '../../src/index.js';
import { AGENT_KEY_A, AGENT_KEY_B, connectClient, nextCall, record, until } from '../helpers/hub.js';
import { waitUntil } from '../helpers/wait.js';
import { rawRedis, spawnHub } from './processes.js';
import { describeWithRedis, testPrefix, useCluster } from './support.js';

const AGENT_KEY_C = 'agent-key-cccccccccccccccc';
const AGENT_KEY_D = 'agent-key-dddddddddddddddd';
/** Resync after Redis returns takes a reconnect backoff (≤ 2 s); members of vanished hubs go one node timeout later. */
const BACK_MS = 30_000;

/** A logger whose JSON lines the test can read. */
function capturingLogger(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'warn' }, sink), lines };
}

async function health(hub: Hub): Promise<{ status: string; redis?: string; cluster?: { nodes: number } }> {
  return (await (await fetch(new URL('/healthz', hub.url))).json()) as { status: string; redis?: string };
}

async function metric(hub: Hub, line: string): Promise<boolean> {
  const text = await (await fetch(new URL('/metrics', hub.url))).text();
  return text.split('\n').includes(line);
}

describeWithRedis('Redis outage', (redis) => {
  it('keeps local members served while Redis is down and resynchronises presence when it is back', async () => {
    const prefix = testPrefix();
    const log1 = capturingLogger();
    const [h1] = await useCluster(redis().url, 1, { logger: log1.logger }, prefix);
    const [h2] = await useCluster(redis().url, 1, {}, prefix);
    const a = await connectClient(h1!.url);
    const b = await connectClient(h1!.url);
    const c = await connectClient(h2!.url);
    const aJoins = record(a, 'PeerJoined');
    const joinedA = await a.invoke('Join', 'r', { agentKey: AGENT_KEY_A });
    const joinedB = await b.invoke('Join', 'r', { agentKey: AGENT_KEY_B });
    const joinedC = await c.invoke('Join', 'r', { agentKey: AGENT_KEY_C });
    await until(() => aJoins.length === 2, 5_000, 'A to list B and C');
    const cJoins = record(c, 'PeerJoined');
    const cLeft = record(c, 'PeerLeft');

    await redis().kill();
    await waitUntil(() => h1!.cluster?.state !== 'up' && h2!.cluster?.state !== 'up', { what: 'both hubs to notice Redis is gone' });
    const degraded = await health(h1!);
    expect(degraded).toMatchObject({ status: 'degraded', redis: expect.stringMatching(/^(reconnecting|down)$/) });
    expect(await metric(h1!, 'rtc_hub_backplane_up 0')).toBe(true);

    // Local traffic flows; a member on the other hub cannot be reached, and the caller is told.
    const atB = nextCall(b, 'Relayed');
    await a.invoke('Relay', 'r', joinedB.self.peerId, 'bG9jYWw=');
    expect(await atB).toEqual(['r', joinedA.self.peerId, 'bG9jYWw=']);
    await expect(a.invoke('Relay', 'r', joinedC.self.peerId, 'eA==')).rejects.toThrow(/RTC_ERR_SEND_TIMEOUT: peer '.+' is connected to another hub/);
    // Joins and leaves on this hub work; the hub still lists what it knew of the other hub.
    const d = await connectClient(h1!.url);
    const sawD = nextCall(a, 'PeerJoined');
    const joinedD = await d.invoke('Join', 'r', { agentKey: AGENT_KEY_D });
    expect(new Set(joinedD.participants.map((p: { peerId: string }) => p.peerId))).toEqual(new Set([joinedA.self.peerId, joinedB.self.peerId, joinedC.self.peerId]));
    expect((await sawD)[1].peerId).toBe(joinedD.self.peerId);
    const bLeft = nextCall(a, 'PeerLeft');
    await b.invoke('Leave', 'r');
    expect(await bLeft).toEqual(['r', joinedB.self.peerId, 'left']);

    await redis().start();
    await waitUntil(() => h1!.cluster?.state === 'up' && h2!.cluster?.state === 'up', { what: 'both hubs back up', timeoutMs: BACK_MS });
    // The other hub learns what happened meanwhile: D joined, B is gone.
    await waitUntil(() => cJoins.some((call) => call[1].peerId === joinedD.self.peerId), { what: 'C to hear of D', timeoutMs: BACK_MS });
    await waitUntil(() => cLeft.some((call) => call[1] === joinedB.self.peerId), { what: 'C to hear B is gone', timeoutMs: BACK_MS });
    const members = await c.invoke('Members', 'r');
    expect(new Set(members.participants.map((p: { peerId: string }) => p.peerId))).toEqual(new Set([joinedA.self.peerId, joinedD.self.peerId]));
    // And Redis holds exactly the members there are, each on its own hub.
    const raw = await rawRedis(redis().url);
    const stored = await raw.hGetAll(`{${prefix}}:room:r`);
    expect(Object.keys(stored).sort()).toEqual([joinedA.self.peerId, joinedC.self.peerId, joinedD.self.peerId].sort());
    // Traffic between the hubs works again, both ways.
    const atC = nextCall(c, 'Relayed');
    await a.invoke('Relay', 'r', joinedC.self.peerId, 'YmFjaw==');
    expect(await atC).toEqual(['r', joinedA.self.peerId, 'YmFjaw==']);
    const atD = nextCall(d, 'Relayed');
    await c.invoke('Relay', 'r', null, 'YWxs');
    expect(await atD).toEqual(['r', joinedC.self.peerId, 'YWxs']);

    expect((await health(h1!)).status).toBe('ok');
    expect(await metric(h1!, 'rtc_hub_backplane_up 1')).toBe(true);
    expect(await metric(h1!, 'rtc_hub_backplane_state_changes_total{state="reconnecting"} 1')).toBe(true);
    // One warn line per state change, no more.
    const states = log1.lines.filter((l) => typeof l.state === 'string').map((l) => l.state as string);
    expect(states[0]).toBe('reconnecting');
    expect(states.at(-1)).toBe('up');
    expect(states.every((s, i) => i === 0 || s !== states[i - 1])).toBe(true);
    expect(log1.lines.every((l) => l.level === 40)).toBe(true);
  });

  it('drops the members of a hub that went away while Redis was down', async () => {
    const prefix = testPrefix();
    const [h1] = await useCluster(redis().url, 1, {}, prefix);
    const [h2] = await useCluster(redis().url, 1, {}, prefix);
    const a = await connectClient(h1!.url);
    const c = await connectClient(h2!.url);
    await a.invoke('Join', 'r', { agentKey: AGENT_KEY_A });
    const listed = nextCall(a, 'PeerJoined');
    const joinedC = await c.invoke('Join', 'r', { agentKey: AGENT_KEY_C });
    await listed;
    const left = record(a, 'PeerLeft');

    await redis().kill();
    await waitUntil(() => h1!.cluster?.state !== 'up', { what: 'hub 1 to notice Redis is gone' });
    await h2!.close();
    await redis().start();
    await waitUntil(() => h1!.cluster?.state === 'up', { what: 'hub 1 back up', timeoutMs: BACK_MS });
    // Hub 1 gives hub 2 a node timeout to come back and re-add C; it does not, so C is gone.
    await waitUntil(() => left.length > 0, { what: "A to hear C's hub is gone", timeoutMs: BACK_MS });
    expect(left).toEqual([['r', joinedC.self.peerId, 'disconnected']]);
    expect((await a.invoke('Members', 'r')).participants).toEqual([]);
  });

  it('writes back the members of a hub the cluster took for dead (a stalled process), and they are reachable again', async () => {
    const prefix = testPrefix();
    const [h1] = await useCluster(redis().url, 1, {}, prefix);
    // A real process, so that it can stall (SIGSTOP) past the node timeout with its sockets open.
    const h2 = await spawnHub(['--redis', redis().url, '--redis-prefix', prefix]);
    const a = await connectClient(h1!.url);
    const c = await connectClient(h2.url, { serverTimeoutMs: 120_000 });
    await a.invoke('Join', 'r', { agentKey: AGENT_KEY_A });
    const listed = nextCall(a, 'PeerJoined');
    const joinedC = await c.invoke('Join', 'r', { agentKey: AGENT_KEY_C });
    await listed;
    const left = nextCall(a, 'PeerLeft', BACK_MS);
    h2.child.kill('SIGSTOP');
    try {
      expect(await left).toEqual(['r', joinedC.self.peerId, 'disconnected']);
      const back = nextCall(a, 'PeerJoined', BACK_MS);
      h2.child.kill('SIGCONT');
      // Its next heartbeat finds it was dropped and writes its members back.
      expect((await back)[1].peerId).toBe(joinedC.self.peerId);
    } finally {
      h2.child.kill('SIGCONT');
    }
    const atC = nextCall(c, 'Relayed');
    await a.invoke('Relay', 'r', joinedC.self.peerId, 'YWdhaW4=');
    expect((await atC)[2]).toBe('YWdhaW4=');
  }, 90_000);

  it('does not hang on a Redis that stops answering (SIGSTOP): a Join completes on its hub, and is shared once Redis thaws', async () => {
    const [h1, h2] = await useCluster(redis().url, 2);
    const a = await connectClient(h1!.url);
    const c = await connectClient(h2!.url);
    await a.invoke('Join', 'r', { agentKey: AGENT_KEY_A });
    const listed = nextCall(a, 'PeerJoined');
    await c.invoke('Join', 'r', { agentKey: AGENT_KEY_C });
    await listed;
    const cHearsD = nextCall(c, 'PeerJoined', BACK_MS);
    redis().pause();
    try {
      const d = await connectClient(h1!.url);
      const aHearsD = nextCall(a, 'PeerJoined', BACK_MS);
      // Redis answers nothing: after the command timeout the member is listed on this hub.
      const joinedD = await d.invoke('Join', 'r', { agentKey: AGENT_KEY_D });
      expect((await aHearsD)[1].peerId).toBe(joinedD.self.peerId);
      const atD = nextCall(d, 'Relayed');
      await a.invoke('Relay', 'r', joinedD.self.peerId, 'ZnJvemVu');
      expect((await atD)[2]).toBe('ZnJvemVu');
      redis().resume();
      // The join script was queued, not lost: it runs now and the other hub hears of D.
      expect((await cHearsD)[1].peerId).toBe(joinedD.self.peerId);
    } finally {
      redis().resume();
    }
  });
});
