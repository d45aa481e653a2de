/**
 * Interop with a real ASP.NET Core SignalR hub: interop/aspnet-hub/ implements the room contract
 * (docs/room-contract.md) in C#. This file builds it (once; the output is cached in
 * interop/aspnet-hub/bin and rebuilt only when a source is newer), runs it on 127.0.0.1 port 0, and
 * drives it with the official @microsoft/signalr client and with rtc-agent agents (P2P and relay).
 * Skipped, with the reason printed, when `dotnet` is not on PATH.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { AGENT_KEY_A, AGENT_KEY_B, connectClient, nextCall, record, signalR, until } from '../helpers/hub.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { inbox, nextEvent, p2pTo, spawnChildAgent, useAgent } from '../helpers/agents.js';
import { checkMembersFeature } from '../helpers/contract-checks.js';
import { ErrorCode, parseErrorCode, type PeerJoined, type PeerLeft } from '../../src/index.js';
import { ASPNET_BUILD_TIMEOUT_MS, ASPNET_DIR, DOTNET_ENV, aspNetHubArgs, ensureAspNetHubBuilt, probeDotnet } from '../../interop/support/aspnet-hub.js';

const START_TIMEOUT_MS = 30_000;
/** Short heartbeats so the heal test gives up on a frozen peer in about a second. */
const HEAL_HEARTBEAT_MS = 300;
/** Peer id the contract's test vector gives for AGENT_KEY_A without auth. */
const PEER_ID_A = 'pQ7vkAVfuE-FbV3p';

const dotnet = probeDotnet();
const skipReason = 'missing' in dotnet ? dotnet.missing : undefined;
const hasDotnet = skipReason === undefined;
if (!hasDotnet) console.warn(`aspnet-hub interop tests skipped: ${skipReason}; install the .NET 10 SDK to run them`);

interface AspNetHub {
  url: string;
  process: ChildProcess;
  stderr(): string;
  stop(): Promise<void>;
}

/** Starts the built hub on 127.0.0.1 port 0; its first stdout line is the hub URL. */
function startAspNetHub(): Promise<AspNetHub> {
  const child = spawn('dotnet', aspNetHubArgs(), {
    cwd: ASPNET_DIR,
    env: DOTNET_ENV,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.stdin!.end();
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  return new Promise((resolve, reject) => {
    let started = false;
    const fail = (why: string): void => {
      if (started) return;
      void stop();
      reject(new Error(`ASP.NET hub did not start: ${why}; stderr: ${err.slice(-2000)}`));
    };
    const timer = setTimeout(() => fail(`no URL within ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
    child.once('error', (e) => fail(e.message));
    child.once('exit', (code) => fail(`exited with ${code}`));
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      if (!/^http:\/\/127\.0\.0\.1:\d+\/hub$/.test(line)) return fail(`unexpected first line ${JSON.stringify(line)}`);
      started = true;
      resolve({ url: line, process: child, stderr: () => err, stop });
    });
  });
}

/** The stable code in an error from the official client (ASP.NET wraps the HubException text). */
async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (err) {
    return parseErrorCode((err as Error).message) ?? `no code in: ${(err as Error).message}`;
  }
  return 'no error';
}

describe.skipIf(!hasDotnet)('ASP.NET Core hub (interop/aspnet-hub)', () => {
  let hub: AspNetHub | undefined;
  const url = (): string => hub!.url;

  beforeAll(async () => {
    await ensureAspNetHubBuilt();
    hub = await startAspNetHub();
  }, ASPNET_BUILD_TIMEOUT_MS + START_TIMEOUT_MS);

  afterAll(async () => {
    await hub?.stop();
    expect(hub?.process.exitCode !== null || hub?.process.signalCode !== null).toBe(true);
  }, 15_000);

  it('implements the room contract for the official SignalR client', async () => {
    const a = await connectClient(url(), { stateful: true });
    const b = await connectClient(url());
    const c = await connectClient(url(), { transport: 'LongPolling' });

    const joinedA = await a.invoke('Join', 'interop-contract', { agentKey: AGENT_KEY_A, name: 'al\u0007pha', capabilities: { native: true, flag: 1 }, meta: { role: 'bot' } });
    expect(joinedA).toMatchObject({
      room: 'interop-contract',
      self: { peerId: PEER_ID_A, name: 'alpha', userId: null, capabilities: { native: true, flag: 1 }, meta: { role: 'bot' } },
      participants: [],
      iceServers: [],
      limits: { maxMessageBytes: 65_536, maxPeersPerRoom: 64, maxRoomsPerConnection: 32, messagesPerSecond: 2000 },
      contractVersion: 1,
    });
    expect(typeof joinedA.self.joinedAt).toBe('number');

    const peerJoined = nextCall(a, 'PeerJoined');
    const joinedB = await b.invoke('Join', 'interop-contract', { agentKey: AGENT_KEY_B });
    const idA: string = joinedA.self.peerId;
    const idB: string = joinedB.self.peerId;
    expect(idB).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(joinedB.self).toMatchObject({ name: `peer-${idB.slice(0, 6)}`, capabilities: { native: false }, meta: {} });
    expect(joinedB.participants.map((p: { peerId: string }) => p.peerId)).toEqual([idA]);
    expect(await peerJoined).toEqual(['interop-contract', joinedB.self]);

    // The hub stamps the sender on Signal and Relay.
    const signalAtA = nextCall(a, 'Signal');
    await b.invoke('Signal', 'interop-contract', idA, { type: 'bye', reason: 'test' });
    expect(await signalAtA).toEqual(['interop-contract', idB, { type: 'bye', reason: 'test' }]);
    const relayedAtB = nextCall(b, 'Relayed');
    await a.invoke('Relay', 'interop-contract', null, 'aGVsbG8=');
    expect(await relayedAtB).toEqual(['interop-contract', idA, 'aGVsbG8=']);
    const directAtA = nextCall(a, 'Relayed');
    await b.invoke('Relay', 'interop-contract', idA, 'ZGlyZWN0');
    expect(await directAtA).toEqual(['interop-contract', idB, 'ZGlyZWN0']);

    // Nothing crosses rooms: c is in another room, so `to` = c is refused and c receives nothing.
    const joinedC = await c.invoke('Join', 'interop-elsewhere', null);
    const seenByC = { signal: record(c, 'Signal'), relayed: record(c, 'Relayed') };
    expect(await codeOf(a.invoke('Signal', 'interop-contract', joinedC.self.peerId, { type: 'bye' }))).toBe(ErrorCode.PEER_NOT_IN_ROOM);
    expect(await codeOf(a.invoke('Relay', 'interop-contract', joinedC.self.peerId, 'eA=='))).toBe(ErrorCode.PEER_NOT_IN_ROOM);
    expect(await codeOf(a.invoke('Signal', 'interop-contract', idA, { type: 'bye' }))).toBe(ErrorCode.PEER_NOT_IN_ROOM);
    expect(await codeOf(c.invoke('Relay', 'interop-contract', null, 'eA=='))).toBe(ErrorCode.NOT_IN_ROOM);
    // Extra arguments never set a sender (ASP.NET refuses them while binding, before the hub method).
    await expect(a.invoke('Relay', 'interop-contract', idB, 'eA==', 'forged-sender')).rejects.toThrow();

    // Validation errors carry the Node hub's codes inside ASP.NET's wrapper text.
    const bad = await a.invoke('Join', 'bad room!', {}).catch((e: Error) => e);
    expect((bad as Error).message).toMatch(/HubException: RTC_ERR_INVALID_ROOM_NAME/);
    expect(parseErrorCode((bad as Error).message)).toBe(ErrorCode.INVALID_ROOM_NAME);
    expect(await codeOf(a.invoke('Join', 'ok-room', { agentKey: 'short' }))).toBe(ErrorCode.BAD_REQUEST);
    expect(await codeOf(a.invoke('Join', 'ok-room', { capabilities: { native: 'yes' } }))).toBe(ErrorCode.BAD_REQUEST);
    expect(await codeOf(a.invoke('Signal', 'interop-contract', idB, 'not an object'))).toBe(ErrorCode.BAD_REQUEST);
    expect(await codeOf(a.invoke('Leave', '.dot-first'))).toBe(ErrorCode.INVALID_ROOM_NAME);
    await a.invoke('Leave', 'never-joined'); // idempotent

    // The same peer id from a new connection replaces the old membership.
    const a2 = await connectClient(url());
    const replacedAtA = nextCall(a, 'PeerLeft');
    const updateAtB = nextCall(b, 'PeerJoined');
    const leftAtB = record(b, 'PeerLeft');
    const rejoined = await a2.invoke('Join', 'interop-contract', { agentKey: AGENT_KEY_A, name: 'alpha again' });
    expect(rejoined.self).toMatchObject({ peerId: PEER_ID_A, name: 'alpha again', joinedAt: joinedA.self.joinedAt });
    expect(await replacedAtA).toEqual(['interop-contract', PEER_ID_A, 'replaced']);
    expect((await updateAtB)[1]).toMatchObject({ peerId: PEER_ID_A, name: 'alpha again' });
    expect(await codeOf(a.invoke('Relay', 'interop-contract', null, 'eA=='))).toBe(ErrorCode.NOT_IN_ROOM);
    await a.stop(); // its memberships moved: the room loses nobody

    // Leave and disconnect.
    const leftB = nextCall(a2, 'PeerLeft');
    await b.invoke('Leave', 'interop-contract');
    expect(await leftB).toEqual(['interop-contract', idB, 'left']);
    await b.invoke('Join', 'interop-contract', { agentKey: AGENT_KEY_B });
    const goneB = nextCall(a2, 'PeerLeft');
    await b.stop();
    expect(await goneB).toEqual(['interop-contract', idB, 'disconnected']);
    expect(leftAtB).toEqual([]);
    expect(seenByC).toEqual({ signal: [], relayed: [] });
    expect(c.state).toBe(signalR.HubConnectionState.Connected);
  });

  it('implements the members feature like the Node hub (the same checks)', async () => {
    await checkMembersFeature(url(), 'interop-members');
  });

  it('heals a room through the ASP.NET hub after a peer was frozen past its heartbeat', async () => {
    const watcher = await useAgent(url(), { heartbeatIntervalMs: HEAL_HEARTBEAT_MS });
    const room = await watcher.join('interop-heal');
    const child = spawnChildAgent({ RTC_AGENT_HUB_URL: url(), ROOM: 'interop-heal', RTC_AGENT_HEARTBEAT_INTERVAL_MS: String(HEAL_HEARTBEAT_MS) });
    const ready = await child.next((e) => e.event === 'ready');
    await p2pTo(watcher, 1);
    const left = nextEvent<PeerLeft>(watcher, 'peer-left', (p) => p.peerId === ready.peerId, 15_000);
    process.kill(child.child.pid!, 'SIGSTOP');
    try {
      await room.send('while frozen', { to: ready.peerId });
      expect((await left).reason).toBe('timeout');
    } finally {
      process.kill(child.child.pid!, 'SIGCONT');
    }
    const back = await nextEvent<PeerJoined>(watcher, 'peer-joined', (p) => p.peerId === ready.peerId, 15_000);
    expect(back.reason).toBe('resumed');
    expect(await child.next((e) => e.event === 'message', 15_000)).toMatchObject({ text: 'while frozen', from: room.selfId });
    await p2pTo(watcher, 1, 15_000);
    child.command({ cmd: 'close' });
    expect(await child.exit).toBe(0);
  }, 60_000);

  it('offers stateful reconnect: a dropped WebSocket resumes with nothing lost or duplicated', async () => {
    const negotiate = await fetch(`${url()}/negotiate?negotiateVersion=1&useStatefulReconnect=true`, { method: 'POST' });
    expect(await negotiate.json()).toMatchObject({ useStatefulReconnect: true });

    const port = Number(new URL(url()).port);
    const proxy = await TcpProxy.start(port);
    onTestFinished(() => proxy.close());
    const a = await connectClient(url(), { stateful: true, transport: 'WebSockets', url: url().replace(`:${port}`, `:${proxy.port}`) });
    const b = await connectClient(url(), { stateful: true, transport: 'WebSockets' });
    const idBefore = a.connectionId;
    let reconnecting = 0;
    a.onreconnecting(() => reconnecting++);
    const idA: string = (await a.invoke('Join', 'interop-resume', { agentKey: AGENT_KEY_A })).self.peerId;
    const idB: string = (await b.invoke('Join', 'interop-resume', { agentKey: AGENT_KEY_B })).self.peerId;
    const leftAtB = record(b, 'PeerLeft');

    const total = 600;
    const atB: number[] = [];
    const atA: number[] = [];
    b.on('Relayed', (_room: string, _from: string, payload: string) => atB.push(Number(payload)));
    a.on('Relayed', (_room: string, _from: string, payload: string) => atA.push(Number(payload)));
    for (let i = 0; i < total; i++) {
      void a.send('Relay', 'interop-resume', idB, String(i)).catch(() => undefined);
      void b.send('Relay', 'interop-resume', idA, String(i)).catch(() => undefined);
      if (i === total / 2) {
        await until(() => atB.length > 50 && atA.length > 50, 5_000, 'traffic before the drop');
        proxy.dropAll();
      }
      if (i % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    await until(() => atB.length >= total && atA.length >= total, 15_000, `all messages (a→b ${atB.length}, b→a ${atA.length})`);
    expect(atB).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(atA).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(a.connectionId).toBe(idBefore);
    expect(reconnecting).toBe(0);
    expect(proxy.accepted).toBeGreaterThanOrEqual(3); // negotiate, WebSocket, resumed WebSocket
    expect(leftAtB).toEqual([]);
  });

  it('connects two rtc-agent agents P2P through the ASP.NET hub', async () => {
    const a = await useAgent(url(), { name: 'alpha' });
    const b = await useAgent(url(), { name: 'beta' });
    const ra = await a.join('interop-p2p');
    const rb = await b.join('interop-p2p');
    const atA = inbox(a);
    const atB = inbox(b);
    await Promise.all([p2pTo(a, 1), p2pTo(b, 1)]);
    await ra.send('hello beta', { to: rb.selfId });
    await rb.send({ hello: 'alpha' });
    const [toB] = await atB.waitFor(1);
    const [toA] = await atA.waitFor(1);
    expect(toB).toMatchObject({ room: 'interop-p2p', from: ra.selfId, name: 'alpha', text: 'hello beta', path: 'p2p' });
    expect(toA).toMatchObject({ room: 'interop-p2p', from: rb.selfId, name: 'beta', data: { hello: 'alpha' }, path: 'p2p' });
  });

  it('relays between a native agent and one whose native binding cannot load', async () => {
    const native = await useAgent(url(), { name: 'native' });
    const room = await native.join('interop-relay');
    const box = inbox(native);
    const child = spawnChildAgent({ RTC_AGENT_HUB_URL: url(), RTC_AGENT_NAME: 'relay-only', ROOM: 'interop-relay', ECHO: '1' }, { blockNative: true });
    const ready = await child.next((e) => e.event === 'ready');
    expect(ready.native).toBe(false);
    await expect.poll(() => room.peer(ready.peerId), { timeout: 10_000 }).toMatchObject({ native: false, path: 'relay' });

    await room.send('ping over the ASP.NET relay', { to: ready.peerId });
    const atChild = await child.next((e) => e.event === 'message');
    expect(atChild).toMatchObject({ text: 'ping over the ASP.NET relay', path: 'relay', from: room.selfId });
    const [echo] = await box.waitFor(1);
    expect(echo).toMatchObject({ text: 'echo:ping over the ASP.NET relay', path: 'relay', from: ready.peerId, name: 'relay-only' });

    child.command({ cmd: 'close' });
    expect(await child.exit).toBe(0);
    await expect.poll(() => room.peer(ready.peerId), { timeout: 10_000 }).toBeUndefined();
  });
});
