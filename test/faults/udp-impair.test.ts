/**
 * The UDP impairment relay itself, against a real UDP echo server on loopback: one upstream 5-tuple
 * per client, replies routed back, seeded loss that repeats for a seed, jitter that does not reorder,
 * reordering and duplication only when asked, live changes, counters.
 */
import dgram from 'node:dgram';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ImpairmentDecider, UdpImpairRelay, type UdpImpairOptions } from '../helpers/udp-impair.js';

interface Echo {
  port: number;
  /** Source address:port of every packet the server got, in arrival order. */
  sources: string[];
}

/** A UDP server on 127.0.0.1 that sends every packet back to where it came from. */
async function echoServer(): Promise<Echo> {
  // Large buffers: bursts must not be lost in the kernel (the relay's loss is the only loss wanted).
  const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
  const sources: string[] = [];
  socket.on('message', (msg, rinfo) => {
    sources.push(`${rinfo.address}:${rinfo.port}`);
    socket.send(msg, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  onTestFinished(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return { port: socket.address().port, sources };
}

async function relayTo(echo: Echo, options: Omit<UdpImpairOptions, 'target'> = {}): Promise<UdpImpairRelay> {
  const relay = await UdpImpairRelay.start({ target: { host: '127.0.0.1', port: echo.port }, ...options });
  onTestFinished(() => relay.close());
  return relay;
}

interface Client {
  port: number;
  /** Sequence numbers of the echoes received, in arrival order. */
  got: number[];
  arrivals: number[];
  send(seq: number): void;
  waitFor(n: number, ms?: number): Promise<void>;
}

/** A client socket on `host` talking to the relay; packets carry a 32-bit sequence number. */
async function client(relay: UdpImpairRelay, host = '127.0.0.1'): Promise<Client> {
  const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
  const got: number[] = [];
  const arrivals: number[] = [];
  const waiters: { n: number; done: () => void }[] = [];
  socket.on('message', (msg) => {
    got.push(msg.readUInt32BE(0));
    arrivals.push(performance.now());
    for (const w of [...waiters]) if (got.length >= w.n) w.done();
  });
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  onTestFinished(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return {
    port: socket.address().port,
    got,
    arrivals,
    send(seq) {
      const b = Buffer.alloc(64);
      b.writeUInt32BE(seq, 0);
      socket.send(b, relay.port, '127.0.0.1');
    },
    waitFor(n, ms = 10_000) {
      if (got.length >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`got ${got.length}/${n} echoes within ${ms} ms`)), ms);
        waiters.push({ n, done: () => (clearTimeout(t), resolve()) });
      });
    },
  };
}

/** Sends 0..count-1 in batches, waiting until the relay has seen each batch (no kernel-buffer loss). */
async function sendPaced(c: Client, relay: UdpImpairRelay, count: number, batch = 100): Promise<void> {
  const base = relay.stats().up.in;
  for (let i = 0; i < count; i += batch) {
    for (let j = i; j < Math.min(count, i + batch); j++) c.send(j);
    const want = base + Math.min(count, i + batch);
    await expect.poll(() => relay.stats().up.in, { timeout: 5_000, interval: 2 }).toBeGreaterThanOrEqual(want);
  }
}

describe('UDP impairment relay', () => {
  it('decides the same fates for the same seed, and different ones for another seed', () => {
    const fates = (seed: number): string => {
      const d = new ImpairmentDecider('up', seed, { lossRate: 0.3, delayMs: 40, jitterMs: 10, duplicateRate: 0.1, reorderRate: 0.1 });
      return JSON.stringify(Array.from({ length: 500 }, () => d.decide()));
    };
    expect(fates(42)).toBe(fates(42));
    expect(fates(42)).not.toBe(fates(43));
    const d = new ImpairmentDecider('up', 7, { delayMs: 40, jitterMs: 10 });
    const delays = Array.from({ length: 2_000 }, () => d.decide().delayMs);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(30);
    expect(Math.max(...delays)).toBeLessThanOrEqual(50);
    expect(() => new ImpairmentDecider('down', 1, { lossRate: 1.5 })).toThrow(/down\.lossRate must be a probability/);
    expect(() => new ImpairmentDecider('up', 1, { delayMs: -1 })).toThrow(/up\.delayMs must be a non-negative/);
  });

  it('gives each client its own upstream socket and routes the replies back to it', async () => {
    const echo = await echoServer();
    const relay = await relayTo(echo);
    const a = await client(relay, '127.0.0.2');
    const b = await client(relay, '127.0.0.3');
    for (let i = 0; i < 50; i++) {
      a.send(i);
      b.send(1000 + i);
    }
    await Promise.all([a.waitFor(50), b.waitFor(50)]);
    expect(a.got).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(b.got).toEqual(Array.from({ length: 50 }, (_, i) => 1000 + i));
    // The server saw two 5-tuples, both the relay's (on 127.0.0.1), neither the clients'.
    const sources = new Set(echo.sources);
    expect(sources.size).toBe(2);
    for (const s of sources) expect(s).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(relay.stats()).toMatchObject({ flows: 2, up: { in: 100, out: 100, dropped: 0 }, down: { in: 100, out: 100, dropped: 0 } });
  });

  it('drops the same packets for the same seed, at about the rate asked, in one direction only', async () => {
    const echo = await echoServer();
    const run = async (seed: number): Promise<number[]> => {
      const relay = await relayTo(echo, { seed, up: { lossRate: 0.2 } });
      const c = await client(relay);
      await sendPaced(c, relay, 2_000);
      const s = relay.stats();
      await c.waitFor(s.up.out);
      expect(s.up.dropped + s.up.out).toBe(2_000);
      expect(relay.stats().down.dropped).toBe(0);
      await relay.close();
      const got = new Set(c.got);
      return Array.from({ length: 2_000 }, (_, i) => i).filter((i) => !got.has(i));
    };
    const first = await run(9);
    const again = await run(9);
    const other = await run(10);
    expect(again).toEqual(first);
    expect(other).not.toEqual(first);
    // 2,000 draws at p = 0.2: 400 ± 18 (one sigma); ±100 is over 5 sigma.
    expect(first.length).toBeGreaterThan(300);
    expect(first.length).toBeLessThan(500);
  });

  it('delays with jitter but keeps order unless reordering is asked for', async () => {
    const echo = await echoServer();
    const relay = await relayTo(echo, { seed: 3, up: { delayMs: 20, jitterMs: 15 } });
    const c = await client(relay);
    const sentAt: number[] = [];
    for (let i = 0; i < 300; i++) {
      sentAt.push(performance.now());
      c.send(i);
      if (i % 10 === 9) await new Promise((r) => setTimeout(r, 1)); // spread them over the jitter range
    }
    await c.waitFor(300);
    expect(c.got).toEqual(Array.from({ length: 300 }, (_, i) => i));
    // Every packet waited at least the delay minus the jitter (a lower bound, which load cannot break).
    const oneWay = c.got.map((seq, k) => (c.arrivals[k] as number) - (sentAt[seq] as number));
    expect(Math.min(...oneWay)).toBeGreaterThanOrEqual(4);
    expect(relay.stats().up.reordered).toBe(0);

    relay.setImpairment({ up: { delayMs: 5, reorderRate: 0.2 } });
    // Batches of 20, each let out before the next: later packets still overtake a held one (it
    // waits 5 ms more), and no burst overflows a socket buffer on a loaded machine.
    for (let i = 300; i < 600; i++) {
      c.send(i);
      if (i % 20 === 19) await new Promise((r) => setImmediate(r));
    }
    await c.waitFor(600);
    const second = c.got.slice(300);
    expect([...second].sort((x, y) => x - y)).toEqual(Array.from({ length: 300 }, (_, i) => 300 + i));
    expect(second).not.toEqual([...second].sort((x, y) => x - y));
    expect(relay.stats().up.reordered).toBeGreaterThan(20);
  });

  it('duplicates when asked, changes live, rejects bad settings, and closes idempotently', async () => {
    const echo = await echoServer();
    const relay = await relayTo(echo, { seed: 5, down: { duplicateRate: 0.25 } });
    const c = await client(relay);
    await sendPaced(c, relay, 400);
    await expect.poll(() => relay.stats().down.in, { timeout: 5_000, interval: 2 }).toBe(400);
    const dup = relay.stats().down.duplicated;
    await c.waitFor(400 + dup);
    expect(dup).toBeGreaterThan(50);
    expect(c.got.length).toBe(400 + dup);
    expect(new Set(c.got).size).toBe(400);

    // Everything dropped upstream, then nothing: the change takes effect at once.
    relay.setImpairment({ up: { lossRate: 1 }, down: {} });
    await sendPaced(c, relay, 50);
    expect(relay.stats().up.dropped).toBe(50);
    relay.setImpairment({ up: {} });
    const before = c.got.length;
    for (let i = 0; i < 20; i++) c.send(5000 + i);
    await c.waitFor(before + 20);
    expect(c.got.slice(before)).toEqual(Array.from({ length: 20 }, (_, i) => 5000 + i));

    // A bad value changes nothing, in either direction.
    expect(() => relay.setImpairment({ up: { lossRate: 0.1 }, down: { jitterMs: Number.NaN } })).toThrow(/down\.jitterMs/);
    expect(relay.impairment.up.lossRate).toBe(0);

    const closing = relay.close();
    expect(relay.close()).toBe(closing);
    await closing;
  });
});
