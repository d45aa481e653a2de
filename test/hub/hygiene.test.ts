/**
 * Connection hygiene under hostile sockets: clients that never finish a request head (silent or
 * dribbling header lines), refused upgrades whose clients never close, idle keep-alives, bad
 * requests and floods past the socket cap. Every such socket is destroyed by the hub (not just
 * ended: the flood clients keep their half of the connection open, as an attacker would), the
 * hub's socket count and its process's file descriptors return to where they were, and the
 * official client keeps working meanwhile.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { DEFAULT_REQUEST_HEAD_TIMEOUT_MS, effectiveMaxConnections, resolveHubOptions } from '../../src/hub/options.js';
import type { Hub } from '../../src/index.js';
import { AGENT_KEY_A, AGENT_KEY_B, connectClient, nextCall, useHub, type TransportKey } from '../helpers/hub.js';
import { assertHubHealthy, eventually } from '../helpers/hub-health.js';

const BIN = fileURLToPath(new URL('../../bin/rtc-agent.js', import.meta.url));

type FloodKind = 'silent' | 'dribble' | 'refused-upgrade' | 'bad-request';

interface FloodSocket {
  socket: net.Socket;
  /** Resolves when the socket is closed; only the hub closes these. */
  closed: Promise<void>;
}

/**
 * A hostile client that keeps its half of the connection open (allowHalfOpen, never ends): after
 * the hub's FIN it keeps writing, which fails (EPIPE/ECONNRESET, then 'close') only once the hub
 * has really destroyed its socket. A hub that merely ended it would go on reading forever.
 */
function floodSocket(port: number, kind: FloodKind): FloodSocket {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  socket.on('error', () => undefined);
  socket.resume();
  let timer: NodeJS.Timeout | undefined;
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      clearInterval(timer);
      resolve();
    }),
  );
  const keepWriting = (what: () => string): void => {
    if (timer) return;
    timer = setInterval(() => {
      if (!socket.destroyed) socket.write(what());
    }, 50);
  };
  socket.once('end', () => keepWriting(() => 'x'));
  socket.once('connect', () => {
    switch (kind) {
      case 'silent':
        return;
      case 'dribble': {
        socket.write('GET /hub HTTP/1.1\r\nHost: hub\r\n');
        let n = 0;
        keepWriting(() => `X-Slow-${n++}: still coming\r\n`);
        return;
      }
      case 'refused-upgrade':
        socket.write('GET /not-the-hub HTTP/1.1\r\nHost: hub\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
        return;
      case 'bad-request':
        socket.write('NOT HTTP AT ALL\r\n\r\n');
        return;
    }
  });
  return { socket, closed };
}

function flood(port: number, counts: Partial<Record<FloodKind, number>>): FloodSocket[] {
  const all: FloodSocket[] = [];
  for (const [kind, n] of Object.entries(counts) as [FloodKind, number][]) for (let i = 0; i < n; i++) all.push(floodSocket(port, kind));
  onTestFinished(() => {
    for (const f of all) f.socket.destroy();
  });
  return all;
}

async function metricValue(hub: Hub, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = hub.metrics.registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  const hit = values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val));
  return hit?.value ?? 0;
}

const openSockets = (hub: Hub): Promise<number> => metricValue(hub, 'rtc_hub_open_sockets');
const destroyed = (hub: Hub, reason: string): Promise<number> => metricValue(hub, 'rtc_hub_sockets_destroyed_total', { reason });

async function allClosed(sockets: FloodSocket[], ms: number): Promise<void> {
  let done = 0;
  for (const f of sockets) void f.closed.then(() => done++);
  await eventually(async () => done === sockets.length, ms, `all ${sockets.length} flood sockets to be closed by the hub (${done} so far)`);
}

/** Joins a room over `transport` and relays one message to a WebSocket member: the hub works. */
async function relayOver(hub: Hub, transport: TransportKey, room: string): Promise<void> {
  const a = await connectClient(hub.url, { transport });
  const b = await connectClient(hub.url);
  try {
    await a.invoke('Join', room, { agentKey: AGENT_KEY_A });
    const { self } = await b.invoke('Join', room, { agentKey: AGENT_KEY_B });
    const got = nextCall(b, 'Relayed', 10_000);
    await a.invoke('Relay', room, self.peerId, 'ZHVyaW5nIHRoZSBmbG9vZA==');
    expect((await got)[2]).toBe('ZHVyaW5nIHRoZSBmbG9vZA==');
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
}

describe('half-open and slow sockets', () => {
  it('destroys 300 sockets that never finish a request head or an upgrade, while real clients keep working', async () => {
    // The default head timeout: long enough that the flood is certainly still open while the
    // real clients below connect, join and relay.
    const hub = await useHub();
    const before = await openSockets(hub);
    const sockets = flood(hub.port, { silent: 100, dribble: 100, 'refused-upgrade': 100 });
    await eventually(async () => (await openSockets(hub)) >= before + 300, 10_000, 'the hub to accept all 300 flood sockets');

    // During the flood: the official client over every transport.
    await assertHubHealthy(hub);
    await relayOver(hub, 'ServerSentEvents', 'flood-sse');
    await relayOver(hub, 'LongPolling', 'flood-lp');

    await allClosed(sockets, DEFAULT_REQUEST_HEAD_TIMEOUT_MS + 20_000);
    expect(await destroyed(hub, 'head_timeout')).toBeGreaterThanOrEqual(200);
    expect(await destroyed(hub, 'upgrade_timeout')).toBe(100);
    // Idle keep-alive sockets of the clients above close on their own; then the count is back.
    await eventually(async () => (await openSockets(hub)) <= before, 20_000, 'the hub socket count to return to its baseline');
    await assertHubHealthy(hub);
  }, 60_000);

  it('leaves no file descriptors behind in the hub process (rtc-agent hub, /proc/<pid>/fd)', async () => {
    if (!existsSync('/proc/self/fd')) {
      console.log('skipped: /proc/<pid>/fd is not available on this platform');
      return;
    }
    const child = spawn(process.execPath, [BIN, 'hub', '--port', '0', '--request-head-timeout', '1000'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RTC_AGENT_LOG_LEVEL: 'warn' },
    });
    onTestFinished(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    const url = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`hub exited ${code} before printing its URL`)));
    });
    const port = Number(new URL(url).port);
    const fds = (): number => readdirSync(`/proc/${child.pid}/fd`).length;
    const baseline = fds();

    const sockets = flood(port, { silent: 100, dribble: 100, 'refused-upgrade': 50, 'bad-request': 50 });
    await eventually(async () => fds() >= baseline + 200, 10_000, `the hub process to hold the flood's descriptors (${fds()} vs baseline ${baseline})`);
    await allClosed(sockets, 20_000);
    await eventually(async () => fds() <= baseline, 20_000, `the hub's descriptors to return to ${baseline} (now ${fds()})`);
    // And it still serves.
    const c = await connectClient(url);
    await expect(c.invoke('Join', 'after-flood', {})).resolves.toMatchObject({ room: 'after-flood' });
  }, 60_000);

  it('destroys a bad request from a client that never closes, after answering 400', async () => {
    const hub = await useHub();
    const replies: string[] = [];
    const [bad] = flood(hub.port, { 'bad-request': 1 });
    bad!.socket.on('data', (d: Buffer) => replies.push(d.toString()));
    await allClosed([bad!], 10_000);
    expect(replies.join('')).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(await destroyed(hub, 'bad_request')).toBe(1);
    await eventually(async () => (await openSockets(hub)) === 0, 10_000, 'no open sockets');
  });

  it('destroys an idle keep-alive socket after the idle timeout', async () => {
    const hub = await useHub({ idleSocketTimeoutMs: 200 });
    const [idle] = flood(hub.port, { silent: 1 });
    const replies: string[] = [];
    idle!.socket.on('data', (d: Buffer) => replies.push(d.toString()));
    idle!.socket.write('GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n');
    await allClosed([idle!], 10_000);
    expect(replies.join('')).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(await destroyed(hub, 'idle')).toBe(1);
    expect(await destroyed(hub, 'head_timeout')).toBe(0);
  });
});

describe('socket cap', () => {
  it('refuses sockets past maxConnections at accept, and serves again once the flood is gone', async () => {
    const hub = await useHub({ maxConnections: 20, requestHeadTimeoutMs: 1_000 });
    const first = flood(hub.port, { silent: 20 });
    await eventually(async () => (await openSockets(hub)) === 20, 10_000, 'the hub to hold 20 sockets');
    const extra = flood(hub.port, { silent: 10 });
    // The extra ones are cut at once, long before any head timeout.
    await allClosed(extra, 10_000);
    expect(await destroyed(hub, 'over_capacity')).toBe(10);
    expect(await openSockets(hub)).toBeLessThanOrEqual(20);
    await allClosed(first, 20_000);
    await assertHubHealthy(hub);
  }, 40_000);

  it('keeps the cap below the open-file limit, with room for everything else', () => {
    expect(effectiveMaxConnections(10_000, 1_024)).toBe(960);
    expect(effectiveMaxConnections(100, 1_024)).toBe(100);
    expect(effectiveMaxConnections(10_000, undefined)).toBe(10_000);
    expect(effectiveMaxConnections(10_000, 10)).toBe(1);
  });

  it('names a bad socket setting', () => {
    expect(() => resolveHubOptions({ requestHeadTimeoutMs: 0 })).toThrow("hub setting 'requestHeadTimeoutMs' must be a positive integer, got 0");
    expect(() => resolveHubOptions({ maxConnections: 1.5 })).toThrow("hub setting 'maxConnections' must be a positive integer, got 1.5");
    expect(() => resolveHubOptions({ idleSocketTimeoutMs: -1 })).toThrow("hub setting 'idleSocketTimeoutMs' must be a positive integer, got -1");
  });
});
