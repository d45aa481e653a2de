/**
 * Agents given several hubs: they connect to the first that answers, fail over to the others when
 * their hub goes away (a fresh connection, the same hello, so the same peer id), rejoin their rooms
 * and keep reliable delivery exactly once and in order across the move; when every attempt fails
 * they close with the reason of the last one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ErrorCode, RtcAgentError, createAgent, startHub, type Agent, type ReceivedMessage } from '../../src/index.js';
import { inbox, p2pTo, testAgentOptions, useAgent } from '../helpers/agents.js';
import { HubClient } from '../../src/signaling/hub-client.js';
import { silentEngineLogger } from '../../src/engine/log.js';
import { AGENT_KEY_A, AGENT_KEY_B, connectClient, record, useHub } from '../helpers/hub.js';
import { RedisServer, redisUnavailableReason } from '../helpers/redis.js';
import { waitUntil, within } from '../helpers/wait.js';

const BIN = fileURLToPath(new URL('../../bin/rtc-agent.js', import.meta.url));
/** Relay only, so every message crosses the hub that dies; quick retries. */
const RELAY = { tryNative: false, reconnectIntervalMs: 100, heartbeatIntervalMs: 2_000 } as const;
const COUNT = 400;

interface HubProcess {
  url: string;
  child: ChildProcess;
  exit: Promise<unknown>;
}

/** `rtc-agent hub` as its own process (so it can be SIGKILLed), on a free loopback port. */
async function hubProcess(args: string[] = []): Promise<HubProcess> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RTC_AGENT_')));
  const child = spawn(process.execPath, [BIN, 'hub', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, RTC_AGENT_LOG_LEVEL: 'warn' } });
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise((resolve) => child.once('exit', resolve));
  const url = await within(
    new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`hub exited (${code}) before printing its URL: ${err}`)));
    }),
    20_000,
    'hub process URL',
  );
  return { url, child, exit };
}

/** A port where nothing listens: a hub that is down. */
async function deadHubUrl(): Promise<string> {
  const hub = await startHub({ host: '127.0.0.1', port: 0 });
  const url = hub.url;
  await hub.close();
  return url;
}

/**
 * A TCP server that accepts and drops every connection, counting them: a hub that is down but
 * whose attempts can be counted. `close()` frees its port for a real hub.
 */
async function refusingServer(port = 0): Promise<{ url: string; port: number; connections: () => number; close: () => Promise<void> }> {
  let count = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    count++;
    sockets.add(socket);
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const bound = (server.address() as { port: number }).port;
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => (closed ??= new Promise((resolve) => server.close(() => resolve())));
  onTestFinished(close);
  return { url: `http://127.0.0.1:${bound}/hub`, port: bound, connections: () => count, close };
}

/** A TCP server that accepts connections and never answers: a hub behind a path that drops packets. */
async function silentServer(): Promise<{ url: string; connections: () => number }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hub`, connections: () => sockets.size };
}

/** Every hub state the agent reports, in order. */
function hubStates(agent: Agent): string[] {
  const states: string[] = [];
  agent.on('hub', (s) => states.push(s));
  return states;
}

/** The agent's next 'error' event. */
function nextError(agent: Agent, ms: number): Promise<RtcAgentError> {
  return within(new Promise<RtcAgentError>((resolve) => agent.once('error', resolve)), ms, 'agent error event');
}

function expectSequence(messages: ReceivedMessage[], from: string, count: number): void {
  const numbers = messages.filter((m) => m.from === from).map((m) => (m.data as { n: number }).n);
  const firstBad = numbers.findIndex((n, i) => n !== i);
  expect(firstBad, `first out-of-place message at index ${firstBad}: ${numbers.slice(Math.max(0, firstBad - 3), firstBad + 3).join(',')}`).toBe(-1);
  expect(numbers.length).toBe(count);
}

/** Sends {n} for n in [from, to), yielding to the event loop now and then as a real program does. */
async function sendRange(send: (n: number) => Promise<void>, from: number, to: number): Promise<void> {
  for (let n = from; n < to; n++) {
    await send(n);
    if (n % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('connecting to one of several hubs', () => {
  it('tries the hubs in order and takes the first that answers', async () => {
    const dead = await deadHubUrl();
    const hubA = await useHub();
    const hubB = await useHub();
    const agent = await useAgent(hubA.url, { ...RELAY, hubUrl: [dead, hubA.url, hubB.url] });
    expect(agent.settings.hubUrl).toEqual([dead, hubA.url, hubB.url]);
    expect(agent.hubUrl).toBe(hubA.url);
    const room = await agent.join('order');
    // The agent is a member on hub A, and hub B has never heard of it.
    const onA = await connectClient(hubA.url);
    const onB = await connectClient(hubB.url);
    const seenOnA = await onA.invoke('Join', 'order', { agentKey: AGENT_KEY_B });
    const seenOnB = await onB.invoke('Join', 'order', { agentKey: AGENT_KEY_B });
    expect(seenOnA.participants.map((p: { peerId: string }) => p.peerId)).toEqual([room.selfId]);
    expect(seenOnB.participants).toEqual([]);
  });

  it('accepts the list comma-separated, as --hub and RTC_AGENT_HUB_URL give it', async () => {
    const dead = await deadHubUrl();
    const hub = await useHub();
    const agent = await useAgent(hub.url, { ...RELAY, hubUrl: undefined, env: { RTC_AGENT_HUB_URL: `${dead},${hub.url}` } });
    expect(agent.settings.hubUrl).toEqual([dead, hub.url]);
    expect(agent.hubUrl).toBe(hub.url);
  });

  it('names every hub and why each failed when none accepts', async () => {
    const dead = await deadHubUrl();
    const locked = await useHub({ auth: { jwtSecret: 'failover-secret-long-enough-1234' } });
    const err = await createAgent(testAgentOptions(dead, { ...RELAY, hubUrl: [dead, locked.url] })).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RtcAgentError);
    const e = err as RtcAgentError;
    // Different reasons: the hub is unreachable as a whole, and each one says what it said.
    expect(e.code).toBe(ErrorCode.HUB_UNREACHABLE);
    expect(e.message).toMatch(/^none of 2 hubs accepted the connection: \(1\) RTC_ERR_HUB_UNREACHABLE: cannot reach hub http:\/\/127\.0\.0\.1:\d+\/hub: .+; \(2\) /);
    expect(e.message).toContain(`(1) RTC_ERR_HUB_UNREACHABLE: cannot reach hub ${dead}: `);
    // The hub's own words, after the URL they came from.
    expect(e.message).toContain(`(2) ${locked.url}: RTC_ERR_UNAUTHORIZED: a bearer token is required`);
    expect(e.details).toEqual({
      hubs: [
        { url: dead, code: ErrorCode.HUB_UNREACHABLE, reason: expect.stringContaining(dead) },
        { url: locked.url, code: ErrorCode.UNAUTHORIZED, reason: expect.stringContaining('a bearer token is required') },
      ],
    });
  });
});

describe('failing over to another hub', () => {
  it('moves to the next hub when its hub goes away, keeps its peer id and finds the peers there', async () => {
    const hubA = await useHub();
    const hubB = await useHub();
    const a = await useAgent(hubA.url, { ...RELAY, name: 'mover', hubUrl: [hubA.url, hubB.url] });
    const b = await useAgent(hubB.url, { ...RELAY, name: 'stayer' });
    const ra = await a.join('move');
    const rb = await b.join('move');
    const idBefore = ra.selfId;
    const states = hubStates(a);
    const atB = inbox(b);

    await hubA.close();
    await waitUntil(() => a.hubUrl === hubB.url && a.hubState === 'connected', { what: 'agent A connected to hub B', timeoutMs: 20_000 });
    expect(states.slice(0, 1)).toEqual(['reconnecting']);
    expect(states.at(-1)).toBe('connected');
    // The same room object, the same peer id, and now it sees (and is seen by) the peer on hub B.
    expect(a.room('move')).toBe(ra);
    expect(ra.selfId).toBe(idBefore);
    await waitUntil(() => ra.peers().some((p) => p.peerId === rb.selfId), { what: 'A to list B', timeoutMs: 20_000 });
    await waitUntil(() => rb.peers().some((p) => p.peerId === idBefore), { what: 'B to list A under its old id', timeoutMs: 20_000 });
    await ra.send({ n: 0 });
    expectSequence(await atB.waitFor(1, 20_000), idBefore, 1);
    expect(a.stats().hubReconnects).toBe(1);
  }, 60_000);

  it('keeps cycling through the hubs while all are down, and takes the first that comes back', async () => {
    const hubA = await useHub();
    const downB = await refusingServer();
    const a = await useAgent(hubA.url, { ...RELAY, reconnectIntervalMs: 50, maxReconnectAttempts: 20, hubUrl: [hubA.url, downB.url] });
    const ra = await a.join('cycle');
    const idBefore = ra.selfId;
    await hubA.close();
    // Hub B was tried (attempt 2), then A again, then B again: the agent goes round the list.
    await waitUntil(() => downB.connections() >= 2, { what: 'two attempts at hub B', timeoutMs: 20_000 });
    expect(a.hubState).toBe('reconnecting');
    await downB.close();
    const hubB = await useHub({ port: downB.port });
    await waitUntil(() => a.hubState === 'connected', { what: 'agent connected again', timeoutMs: 30_000 });
    expect(a.hubUrl).toBe(hubB.url);
    expect(ra.selfId).toBe(idBefore);
    const onB = await connectClient(hubB.url);
    const seen = await onB.invoke('Join', 'cycle', { agentKey: AGENT_KEY_B });
    expect(seen.participants.map((p: { peerId: string }) => p.peerId)).toEqual([idBefore]);
  }, 60_000);

  it('gives a hub that never answers one bounded attempt, then moves on', async () => {
    const hubA = await useHub();
    const silent = await silentServer();
    const hubB = await useHub();
    const a = await useAgent(hubA.url, { ...RELAY, hubUrl: [hubA.url, silent.url, hubB.url] });
    const ra = await a.join('silent');
    await hubA.close();
    // Attempt 1 (hub A) is refused, attempt 2 hangs at the silent hub until its 10 s are up, and
    // attempt 3 reaches hub B, long before the SignalR client's own 100 s negotiate timeout.
    await waitUntil(() => silent.connections() >= 1, { what: 'an attempt at the silent hub', timeoutMs: 10_000 });
    // Garbage collections during that attempt must not take its bound away (they did, now and
    // then, while it was an AbortSignal.any of a timeout: src/util/deadline.ts).
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      gc();
    }
    await waitUntil(() => a.hubUrl === hubB.url && a.hubState === 'connected', { what: 'agent A on hub B', timeoutMs: 40_000 });
    const onB = await connectClient(hubB.url);
    const seen = await onB.invoke('Join', 'silent', { agentKey: AGENT_KEY_B });
    expect(seen.participants.map((p: { peerId: string }) => p.peerId)).toEqual([ra.selfId]);
  }, 60_000);

  it('close() while connecting to a hub that never answers ends the attempt at once, with CLOSED, and the client stays closed', async () => {
    const silent = await silentServer();
    const client = new HubClient({ hubUrl: silent.url, maxReconnectAttempts: 0, reconnectIntervalMs: 100, log: silentEngineLogger() });
    const states: string[] = [];
    client.on('state', (s) => states.push(s));
    const connecting = client.connect().then(
      () => new Error('connected'),
      (err: unknown) => err,
    );
    await waitUntil(() => silent.connections() >= 1, { what: 'the attempt at the silent hub', timeoutMs: 10_000 });
    await client.close();
    // Well inside the attempt's own 10 s bound: close() ended it, the bound did not.
    const err = (await within(connecting, 5_000, 'connect() to end after close()')) as RtcAgentError;
    expect(err.code).toBe(ErrorCode.CLOSED);
    expect(client.state).toBe('closed');
    expect(states).toEqual(['connecting', 'closed']);
  });

  it(`delivers ${COUNT} relayed messages exactly once and in order while the hub both agents are on is SIGKILLed`, async () => {
    const hub1 = await hubProcess();
    const hub2 = await hubProcess();
    const hubs = { ...RELAY, hubUrl: [hub1.url, hub2.url] };
    const a = await useAgent(hub1.url, { ...hubs, name: 'a' });
    const b = await useAgent(hub1.url, { ...hubs, name: 'b' });
    const ra = await a.join('sigkill');
    const rb = await b.join('sigkill');
    await waitUntil(() => ra.peers().length === 1 && rb.peers().length === 1, { what: 'a and b to see each other' });
    const [idA, idB] = [ra.selfId, rb.selfId];
    const leftAtB: string[] = [];
    b.on('peer-left', (p) => leftAtB.push(`${p.peerId} ${p.reason}`));
    const atB = inbox(b);

    await sendRange((n) => ra.send({ n }), 0, COUNT / 2);
    hub1.child.kill('SIGKILL');
    await sendRange((n) => ra.send({ n }), COUNT / 2, COUNT);
    expectSequence(await atB.waitFor(COUNT, 60_000), idA, COUNT);
    await ra.flush(10_000);
    expect(atB.messages).toHaveLength(COUNT);

    expect([a.hubUrl, b.hubUrl]).toEqual([hub2.url, hub2.url]);
    expect([ra.selfId, rb.selfId]).toEqual([idA, idB]);
    expect(rb.peers().map((p) => p.peerId)).toEqual([idA]);
    expect(ra.peers().map((p) => p.peerId)).toEqual([idB]);
    // The dead hub said nothing, and the move was quicker than the heartbeat: nobody left.
    expect(leftAtB).toEqual([]);
  }, 90_000);

  it('keeps a live P2P link through the move: no peer-left, no path change', async () => {
    const hub1 = await hubProcess();
    const hub2 = await hubProcess();
    const hubs = { reconnectIntervalMs: 100, hubUrl: [hub1.url, hub2.url] };
    const a = await useAgent(hub1.url, { ...hubs, name: 'a' });
    const b = await useAgent(hub1.url, { ...hubs, name: 'b' });
    const ra = await a.join('p2p-move');
    const rb = await b.join('p2p-move');
    await Promise.all([p2pTo(a, 1), p2pTo(b, 1)]);
    const changes: string[] = [];
    const left: string[] = [];
    for (const agent of [a, b]) {
      agent.on('path-changed', (c) => changes.push(`${c.from}->${c.to}`));
      agent.on('peer-left', (p) => left.push(p.peerId));
    }
    const atB = inbox(b);

    hub1.child.kill('SIGKILL');
    await waitUntil(() => a.hubUrl === hub2.url && b.hubUrl === hub2.url && a.hubState === 'connected' && b.hubState === 'connected', {
      what: 'both agents on hub 2',
      timeoutMs: 30_000,
    });
    await waitUntil(() => ra.peers().length === 1 && rb.peers().length === 1, { what: 'both listed again' });
    await ra.send({ n: 0 });
    const [got] = await atB.waitFor(1, 20_000);
    expect(got?.path).toBe('p2p');
    expect(ra.peer(rb.selfId)).toMatchObject({ path: 'p2p', p2p: 'open' });
    expect(changes).toEqual([]);
    expect(left).toEqual([]);
  }, 90_000);
});

describe('giving up', () => {
  it('closes after maxReconnectAttempts over all hubs, with the last failure as the reason', async () => {
    const hubA = await useHub();
    const downB = await refusingServer();
    const a = await useAgent(hubA.url, { ...RELAY, reconnectIntervalMs: 20, maxReconnectAttempts: 4, hubUrl: [hubA.url, downB.url] });
    await a.join('give-up');
    const states = hubStates(a);
    const error = nextError(a, 30_000);
    await hubA.close();
    const e = await error;
    expect(e.code).toBe(ErrorCode.HUB_UNREACHABLE);
    // Attempt 4 of 4 went to hub B, the refusing one: its failure is the reason.
    expect(e.message).toMatch(/^cannot reach hub http:\/\/127\.0\.0\.1:\d+\/hub: /);
    expect(e.message).toContain(downB.url);
    expect(a.hubState).toBe('closed');
    expect(states).toEqual(['reconnecting', 'closed']);
    // Attempts 2 and 4 of 4 went to hub B (1 and 3 to hub A).
    expect(downB.connections()).toBeGreaterThanOrEqual(2);
  }, 60_000);

  it('reports UNAUTHORIZED when the hub refuses the token on every reconnect attempt', async () => {
    const secret = 'failover-secret-long-enough-1234';
    const hub = await useHub({ auth: { jwtSecret: secret } });
    const dir = mkdtempSync(join(tmpdir(), 'rtc-failover-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'hub.token');
    const sign = (key: string, seconds: number): Promise<string> =>
      new SignJWT({ sub: 'expiring' })
        .setProtectedHeader({ alg: 'HS256' })
        .setExpirationTime(Math.floor(Date.now() / 1000) + seconds)
        .sign(new TextEncoder().encode(key));
    // Long enough to connect and join on a loaded machine; the hub closes the connection when it runs out.
    writeFileSync(file, `${await sign(secret, 3)}\n`);
    const a = await useAgent(hub.url, { ...RELAY, maxReconnectAttempts: 3, accessTokenFile: file });
    await a.join('refused');
    // The renewer writes a token the hub does not accept (signed with another key).
    writeFileSync(`${file}.tmp`, `${await sign('some-other-secret-long-enough-12', 300)}\n`);
    renameSync(`${file}.tmp`, file);
    const e = await nextError(a, 30_000);
    expect(e.code).toBe(ErrorCode.UNAUTHORIZED);
    // The hub's reason for refusing the last attempt.
    expect(e.message).toContain('token signature is invalid');
    expect(a.hubState).toBe('closed');
  }, 40_000);
});

const noRedis = redisUnavailableReason();
if (noRedis) console.warn(`failover on a hub cluster skipped: ${noRedis}`);

describe.skipIf(noRedis !== null)('failing over within a hub cluster (two `rtc-agent hub --redis` processes)', () => {
  async function cluster(): Promise<[HubProcess, HubProcess]> {
    const redis = await RedisServer.start();
    onTestFinished(() => redis.close());
    return Promise.all([hubProcess(['--redis', redis.url]), hubProcess(['--redis', redis.url])]);
  }

  it(`A, given both hubs, keeps delivering ${COUNT} messages to B exactly once and in order while A's hub is SIGKILLed`, async () => {
    const [hub1, hub2] = await cluster();
    const a = await useAgent(hub1.url, { ...RELAY, heartbeatIntervalMs: 5_000, name: 'a', hubUrl: [hub1.url, hub2.url] });
    const b = await useAgent(hub2.url, { ...RELAY, heartbeatIntervalMs: 5_000, name: 'b' });
    // An official client on each hub: the one on hub 1 dies with it, the one on hub 2 watches.
    const doomed = await connectClient(hub1.url);
    const watcher = await connectClient(hub2.url);
    const left = record(watcher, 'PeerLeft');
    const ra = await a.join('cluster');
    const rb = await b.join('cluster');
    const { self: doomedSelf } = await doomed.invoke('Join', 'cluster', { agentKey: AGENT_KEY_A });
    await watcher.invoke('Join', 'cluster', { agentKey: AGENT_KEY_B });
    await waitUntil(() => ra.peers().some((p) => p.peerId === rb.selfId) && rb.peers().some((p) => p.peerId === ra.selfId), {
      what: 'a and b to see each other across the hubs',
    });
    const [idA, idB] = [ra.selfId, rb.selfId];
    const leftAtB: string[] = [];
    b.on('peer-left', (p) => leftAtB.push(`${p.peerId} ${p.reason}`));
    const atB = inbox(b);

    await sendRange((n) => ra.send({ n }), 0, COUNT / 2);
    hub1.child.kill('SIGKILL');
    await sendRange((n) => ra.send({ n }), COUNT / 2, COUNT);
    expectSequence(await atB.waitFor(COUNT, 60_000), idA, COUNT);
    await ra.flush(10_000);
    expect(atB.messages).toHaveLength(COUNT);
    expect(a.hubUrl).toBe(hub2.url);
    expect(ra.selfId).toBe(idA);

    // Hub 2 reports hub 1's members left once hub 1's liveness expires; A had moved before that,
    // so its entry is not among them: nobody on hub 2 ever saw A leave.
    await waitUntil(() => left.some(([, peerId]) => peerId === doomedSelf.peerId), { what: "hub 2 to report the dead hub's member left", timeoutMs: 30_000 });
    expect(left.filter(([, peerId]) => peerId === idA)).toEqual([]);
    expect(leftAtB.filter((l) => l.startsWith(idA))).toEqual([]);
    const { participants } = await watcher.invoke('Members', 'cluster');
    expect(participants.map((p: { peerId: string }) => p.peerId).sort()).toEqual([idA, idB].sort());
  }, 120_000);

  it('keeps the P2P link between agents on different hubs when one of them fails over', async () => {
    const [hub1, hub2] = await cluster();
    const a = await useAgent(hub1.url, { reconnectIntervalMs: 100, name: 'a', hubUrl: [hub1.url, hub2.url] });
    const b = await useAgent(hub2.url, { reconnectIntervalMs: 100, name: 'b' });
    const ra = await a.join('cluster-p2p');
    const rb = await b.join('cluster-p2p');
    await Promise.all([p2pTo(a, 1), p2pTo(b, 1)]);
    const events: string[] = [];
    for (const agent of [a, b]) {
      agent.on('path-changed', (c) => events.push(`${c.peerId} ${c.from}->${c.to}`));
      agent.on('peer-left', (p) => events.push(`${p.peerId} left ${p.reason}`));
    }
    hub1.child.kill('SIGKILL');
    await waitUntil(() => a.hubUrl === hub2.url && a.hubState === 'connected', { what: 'a on hub 2', timeoutMs: 30_000 });
    const atB = inbox(b);
    await ra.send({ n: 0 });
    const [got] = await atB.waitFor(1, 20_000);
    expect(got?.path).toBe('p2p');
    expect(ra.peer(rb.selfId)).toMatchObject({ path: 'p2p', p2p: 'open' });
    expect(events).toEqual([]);
  }, 90_000);
});
