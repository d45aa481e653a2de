/**
 * The TCP fault proxy itself, against a real TCP server on loopback: delay keeps byte order, a stall
 * holds bytes (and a FIN) without closing anything, resume flushes them in order, cut resets.
 */
import net from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { FaultProxy } from '../helpers/fault-proxy.js';

interface End {
  socket: net.Socket;
  received(): Buffer;
  events: string[];
}

function track(socket: net.Socket): End {
  const chunks: Buffer[] = [];
  const events: string[] = [];
  socket.on('data', (d: Buffer) => chunks.push(d));
  socket.on('end', () => events.push('end'));
  socket.on('error', (err: NodeJS.ErrnoException) => events.push(`error:${err.code}`));
  socket.on('close', () => events.push('close'));
  return { socket, received: () => Buffer.concat(chunks), events };
}

/** A server, a proxy in front of it, and one connection through the proxy: both ends tracked. */
async function connected(): Promise<{ proxy: FaultProxy; client: End; server: End }> {
  let accepted: (s: net.Socket) => void = () => undefined;
  const serverSide = new Promise<net.Socket>((resolve) => (accepted = resolve));
  const server = net.createServer({ allowHalfOpen: true }, (s) => accepted(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy = await FaultProxy.start((server.address() as net.AddressInfo).port);
  const socket = net.connect({ port: proxy.port, host: '127.0.0.1', allowHalfOpen: true });
  const ends = { proxy, client: track(socket), server: track(await serverSide) };
  onTestFinished(async () => {
    socket.destroy();
    await proxy.close();
    server.close();
  });
  return ends;
}

const pattern = (n: number, salt: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + salt) & 0xff));

describe('TCP fault proxy', () => {
  it('forwards both ways and, delayed, keeps byte order', async () => {
    const { proxy, client, server } = await connected();
    proxy.delay(30);
    const up = pattern(200_000, 1);
    const started = performance.now();
    // Many writes; the second half undelayed while the first is still held: it must not overtake.
    for (let i = 0; i < 100_000; i += 1000) client.socket.write(up.subarray(i, i + 1000));
    await expect.poll(() => proxy.stats().queuedBytes + proxy.stats().bytesUp, { timeout: 5_000, interval: 1 }).toBe(100_000);
    proxy.delay(0);
    for (let i = 100_000; i < up.length; i += 1000) client.socket.write(up.subarray(i, i + 1000));
    await expect.poll(() => server.received().length, { timeout: 10_000, interval: 5 }).toBe(up.length);
    expect(server.received().equals(up)).toBe(true);
    expect(performance.now() - started).toBeGreaterThanOrEqual(25); // the delay was applied (a lower bound)
    const down = pattern(50_000, 2);
    server.socket.write(down);
    await expect.poll(() => client.received().length, { timeout: 10_000, interval: 5 }).toBe(down.length);
    expect(client.received().equals(down)).toBe(true);
    expect(proxy.stats()).toMatchObject({ accepted: 1, open: 1, bytesUp: up.length, bytesDown: down.length, queuedBytes: 0 });
  });

  it('stalls without closing anything, holds bytes and a FIN in order, and flushes them on resume', async () => {
    const { proxy, client, server } = await connected();
    client.socket.write('before ');
    await expect.poll(() => server.received().toString(), { timeout: 5_000, interval: 5 }).toBe('before ');
    proxy.stall();
    const up = pattern(64_000, 3);
    const down = pattern(32_000, 4);
    client.socket.write(up);
    client.socket.end(); // the FIN comes after the bytes, during the stall
    server.socket.write(down);
    // The proxy has read everything (it is held, not in kernel buffers) and forwarded none of it.
    await expect.poll(() => proxy.stats().queuedBytes, { timeout: 5_000, interval: 5 }).toBe(up.length + down.length);
    expect(server.received().toString()).toBe('before ');
    expect(client.received().length).toBe(0);
    expect(server.events).toEqual([]);
    expect(client.events).toEqual([]);
    expect(proxy.stats()).toMatchObject({ open: 1, stalls: 1 });

    proxy.resume();
    await expect.poll(() => server.events, { timeout: 5_000, interval: 5 }).toContain('end');
    expect(server.received().equals(Buffer.concat([Buffer.from('before '), up]))).toBe(true);
    await expect.poll(() => client.received().length, { timeout: 5_000, interval: 5 }).toBe(down.length);
    expect(client.received().equals(down)).toBe(true);
    expect(client.events).toEqual([]); // the server side has not closed: the client's socket is still open
    expect(proxy.stats().queuedBytes).toBe(0);
  });

  it('cuts every connection with a reset, and closes idempotently', async () => {
    const { proxy, client, server } = await connected();
    client.socket.write('x');
    await expect.poll(() => server.received().length, { timeout: 5_000, interval: 5 }).toBe(1);
    proxy.cut();
    await expect.poll(() => client.events, { timeout: 5_000, interval: 5 }).toContain('close');
    await expect.poll(() => server.events, { timeout: 5_000, interval: 5 }).toContain('close');
    // A reset, not an orderly close: no FIN ('end') on either side.
    expect(client.events).toContain('error:ECONNRESET');
    expect(server.events).toContain('error:ECONNRESET');
    expect(client.events).not.toContain('end');
    expect(proxy.stats()).toMatchObject({ open: 0, cuts: 1 });

    const closing = proxy.close();
    expect(proxy.close()).toBe(closing);
    await closing;
    const refused = track(net.connect({ port: proxy.port, host: '127.0.0.1' }));
    await expect.poll(() => refused.events, { timeout: 5_000, interval: 5 }).toContain('close');
    expect(refused.events.join()).toMatch(/error:ECONNREFUSED/);
  });
});
