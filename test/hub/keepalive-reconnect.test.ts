/**
 * Keep-alive and stateful reconnect, with short configured intervals: an idle client stays
 * connected; a WebSocket dropped mid-stream resumes under the same connection id and every
 * message, in both directions, is delivered exactly once.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { AGENT_KEY_A, AGENT_KEY_B, closed, connectClient, nextCall, useHub } from '../helpers/hub.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { waitUntil } from '../helpers/wait.js';

describe('keep-alive', () => {
  it('keeps an idle client connected well past its server timeout', async () => {
    const hub = await useHub({ keepAliveIntervalMs: 100, clientTimeoutMs: 600 });
    // Counts the hub's pings on the wire (server → client frames are unmasked text).
    let pings = 0;
    const proxy = await TcpProxy.start(hub.port, {
      tap: (direction, chunk) => {
        if (direction === 'down') pings += chunk.toString('latin1').split('{"type":6}').length - 1;
        return chunk;
      },
    });
    onTestFinished(() => proxy.close());
    // The client gives up after 400 ms of silence; only the hub's pings keep it alive.
    const idle = await connectClient(hub.url, { serverTimeoutMs: 400, keepAliveMs: 100, url: hub.url.replace(`:${hub.port}`, `:${proxy.port}`) });
    let closedErr: Error | undefined | null = null;
    idle.onclose((err) => (closedErr = err));
    const before = pings;
    // Idle through 20 of the hub's pings, 100 ms apart: about 2 s, five of the client's timeouts.
    await waitUntil(
      () => {
        if (closedErr !== null) throw new Error(`the idle client was closed after ${pings - before} pings: ${String(closedErr)}`);
        return pings - before >= 20;
      },
      { what: '20 keep-alive pings from the hub to the idle client' },
    );
    expect(idle.state).toBe('Connected');
    await expect(idle.invoke('Join', 'r', {})).resolves.toMatchObject({ room: 'r' });
  });

  it('drops a client that stops sending for longer than the client timeout', async () => {
    const hub = await useHub({ keepAliveIntervalMs: 100, clientTimeoutMs: 500 });
    // The observer pings often enough to stay; the silent client below does not.
    const observer = await connectClient(hub.url, { keepAliveMs: 100 });
    await observer.invoke('Join', 'r', { agentKey: AGENT_KEY_A });
    // A raw client that pings once (arming the timeout) and then goes silent.
    const { RawClient } = await import('../helpers/raw-ws.js');
    const silent = await RawClient.handshaken(hub.url);
    silent.send('{"type":6}\u001e');
    silent.invoke('1', 'Join', ['r', { agentKey: AGENT_KEY_B }]);
    await silent.completion('1');
    const left = await nextCall(observer, 'PeerLeft', 3_000);
    expect(left[2]).toBe('disconnected');
    const close = await silent.waitFor((m) => m.type === 7, 3_000);
    expect(close.error).toContain('RTC_ERR_TIMEOUT');
  });
});

describe('stateful reconnect', () => {
  it('resumes a dropped WebSocket with the same connection id and nothing lost or duplicated', async () => {
    const hub = await useHub({ keepAliveIntervalMs: 200, clientTimeoutMs: 2_000 });
    const proxy = await TcpProxy.start(hub.port);
    onTestFinished(() => proxy.close());
    const viaProxy = hub.url.replace(`:${hub.port}`, `:${proxy.port}`);

    const a = await connectClient(hub.url, { stateful: true, transport: 'WebSockets', url: viaProxy });
    const b = await connectClient(hub.url, { stateful: true, transport: 'WebSockets' });
    const idBefore = a.connectionId;
    let reconnecting = 0;
    a.onreconnecting(() => reconnecting++);
    await a.invoke('Join', 'r', { agentKey: AGENT_KEY_A });
    const { self: bSelf } = await b.invoke('Join', 'r', { agentKey: AGENT_KEY_B });
    const aSelf = (await b.invoke('Join', 'r', { agentKey: AGENT_KEY_B })).participants[0];

    const total = 600;
    const atB: number[] = [];
    const atA: number[] = [];
    b.on('Relayed', (_room: string, _from: string, payload: string) => atB.push(Number(payload)));
    a.on('Relayed', (_room: string, _from: string, payload: string) => atA.push(Number(payload)));

    // Stream both ways; cut the network under `a` in the middle of it.
    for (let i = 0; i < total; i++) {
      void a.send('Relay', 'r', bSelf.peerId, String(i)).catch(() => undefined);
      void b.send('Relay', 'r', aSelf.peerId, String(i)).catch(() => undefined);
      if (i === total / 2) {
        await waitUntil(() => atB.length > 50 && atA.length > 50, { timeoutMs: 5_000, what: 'traffic before the drop' });
        proxy.dropAll();
      }
      if (i % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    await waitUntil(() => atB.length >= total && atA.length >= total, { timeoutMs: 10_000, what: `all ${total} messages both ways` });
    expect(atB).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(atA).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(a.connectionId).toBe(idBefore);
    expect(a.state).toBe('Connected');
    expect(reconnecting).toBe(0);
    // The proxy really was cut, and one new TCP connection (no new negotiate) carries the resumed WebSocket.
    expect(proxy.accepted).toBe(3);
    // No extra copies trickle in afterwards: a round trip after the stream comes back alone.
    const marker = nextCall(b, 'Relayed', 5_000, (_r: string, _f: string, p: string) => p === 'end');
    await a.invoke('Relay', 'r', bSelf.peerId, 'end');
    await marker;
    expect(atB.length).toBe(total + 1);
  });

  it('ends a connection whose WebSocket does not come back within the disconnect timeout', async () => {
    const hub = await useHub({ disconnectTimeoutMs: 300 });
    const proxy = await TcpProxy.start(hub.port);
    onTestFinished(() => proxy.close());
    const viaProxy = hub.url.replace(`:${hub.port}`, `:${proxy.port}`);
    const observer = await connectClient(hub.url);
    await observer.invoke('Join', 'r', { agentKey: AGENT_KEY_B });
    const a = await connectClient(hub.url, { stateful: true, url: viaProxy });
    await a.invoke('Join', 'r', { agentKey: AGENT_KEY_A });
    const gone = closed(a, 5_000);
    // Close the proxy entirely so the single resume attempt fails.
    await proxy.close();
    await gone;
    const left = await nextCall(observer, 'PeerLeft', 3_000);
    expect(left[2]).toBe('disconnected');
  });
});
