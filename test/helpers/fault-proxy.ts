/**
 * A loopback TCP proxy in front of the hub that a fault test can degrade: delay every byte (both
 * directions, order kept), stall the path (nothing forwarded either way, nothing closed), resume
 * (everything held flushes in order), or cut every connection with a reset. tcp-proxy.ts stays the
 * simple proxy for the tests that only need to cut or tap.
 *
 * A stall keeps reading into the proxy's own queues rather than pausing the sockets. Both ends then
 * see what a stalled path in the middle of a network looks like to a program: writes succeed, the
 * connection stays established, nothing arrives, and only application-level keepalives can tell.
 * Reading also keeps the proxy in charge of order: a FIN or reset that comes in during the stall is
 * queued behind the bytes before it and delivered on resume(), as the network would. Pausing would
 * leave the held bytes in kernel buffers whose sizes the test does not control, and would hide a
 * close until resume. The cost is memory, bounded here by the test's own traffic.
 */
import net from 'node:net';

type Item = { at: number; chunk: Buffer } | { at: number; close: 'end' | 'destroy' };

/** One direction of one connection: bytes and closes, leaving in order at their times. */
class ByteQueue {
  private readonly items: Item[] = [];
  private lastAt = 0;
  private timer: NodeJS.Timeout | null = null;
  queuedBytes = 0;

  constructor(
    private readonly dest: net.Socket,
    private readonly held: () => boolean,
    private readonly forwarded: (bytes: number) => void,
  ) {}

  push(item: { chunk: Buffer } | { close: 'end' | 'destroy' }, delayMs: number): void {
    // Never before the item ahead: a delay change must not reorder bytes already in flight.
    const at = Math.max(performance.now() + delayMs, this.lastAt);
    this.lastAt = at;
    this.items.push({ at, ...item });
    if ('chunk' in item) this.queuedBytes += item.chunk.length;
    this.drain();
  }

  drain(): void {
    if (this.timer) return;
    if (this.held()) return;
    const now = performance.now() + 1; // timers round to whole ms and may fire a little early
    while (this.items.length > 0 && (this.items[0] as Item).at <= now) {
      const item = this.items.shift() as Item;
      if (this.dest.destroyed) continue;
      if ('chunk' in item) {
        this.queuedBytes -= item.chunk.length;
        this.forwarded(item.chunk.length);
        this.dest.write(item.chunk);
      } else if (item.close === 'end') {
        this.dest.end();
      } else {
        this.dest.destroy();
      }
    }
    if (this.items.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.drain();
    }, Math.max(0, (this.items[0] as Item).at - performance.now()));
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.items.length = 0;
    this.queuedBytes = 0;
  }
}

interface Pipe {
  client: net.Socket;
  upstream: net.Socket;
  up: ByteQueue;
  down: ByteQueue;
}

export interface FaultProxyStats {
  /** TCP connections accepted so far. */
  accepted: number;
  /** Connections not yet closed on both sides. */
  open: number;
  /** Bytes forwarded client → hub and hub → client. */
  bytesUp: number;
  bytesDown: number;
  /** Bytes held right now (delayed or stalled). */
  queuedBytes: number;
  stalls: number;
  cuts: number;
}

export class FaultProxy {
  private readonly pipes = new Set<Pipe>();
  private delayMs = 0;
  private stalledNow = false;
  private readonly counters = { accepted: 0, bytesUp: 0, bytesDown: 0, stalls: 0, cuts: 0 };
  private closing: Promise<void> | null = null;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  /** Listens on 127.0.0.1:0 and forwards to 127.0.0.1:`targetPort`. */
  static async start(targetPort: number): Promise<FaultProxy> {
    let proxy: FaultProxy | undefined;
    // Half-open on both sides: the proxy decides when a FIN goes on (after the bytes queued before it).
    const server = net.createServer({ allowHalfOpen: true }, (client) => proxy?.accept(client, targetPort));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new FaultProxy(server, (server.address() as net.AddressInfo).port);
    return proxy;
  }

  /** `url` (the hub's) with its port replaced by the proxy's. */
  urlFor(url: string): string {
    const u = new URL(url);
    u.port = String(this.port);
    return u.toString();
  }

  private accept(client: net.Socket, targetPort: number): void {
    if (this.closing) {
      client.resetAndDestroy();
      return;
    }
    this.counters.accepted++;
    const upstream = net.connect({ port: targetPort, host: '127.0.0.1', allowHalfOpen: true });
    const held = (): boolean => this.stalledNow;
    const pipe: Pipe = {
      client,
      upstream,
      up: new ByteQueue(upstream, held, (n) => (this.counters.bytesUp += n)),
      down: new ByteQueue(client, held, (n) => (this.counters.bytesDown += n)),
    };
    this.pipes.add(pipe);
    const wire = (from: net.Socket, queue: ByteQueue): void => {
      let ended = false;
      from.on('data', (chunk: Buffer) => queue.push({ chunk }, this.delayMs));
      from.on('end', () => {
        ended = true;
        queue.push({ close: 'end' }, this.delayMs);
      });
      // A reset or error on one side reaches the other side in order too (after the bytes before it).
      from.on('error', () => undefined);
      from.on('close', () => {
        if (!ended) queue.push({ close: 'destroy' }, this.delayMs);
        if (client.destroyed && upstream.destroyed) this.pipes.delete(pipe);
      });
    };
    wire(client, pipe.up);
    wire(upstream, pipe.down);
  }

  /** Delays every byte arriving from now on by `ms`, both directions (order is kept). */
  delay(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`delay must be a non-negative number of ms, got ${ms}`);
    this.delayMs = ms;
  }

  /** Stops forwarding both ways; sockets stay open and bytes queue until resume(). */
  stall(): void {
    if (this.stalledNow) return;
    this.stalledNow = true;
    this.counters.stalls++;
  }

  /** Forwards again: everything held goes out in order. */
  resume(): void {
    if (!this.stalledNow) return;
    this.stalledNow = false;
    for (const p of this.pipes) {
      p.up.drain();
      p.down.drain();
    }
  }

  get stalled(): boolean {
    return this.stalledNow;
  }

  /** Resets every open connection (RST both ways), dropping whatever was queued. */
  cut(): void {
    this.counters.cuts++;
    for (const p of this.pipes) {
      p.up.clear();
      p.down.clear();
      p.client.resetAndDestroy();
      p.upstream.resetAndDestroy();
    }
    this.pipes.clear();
  }

  stats(): FaultProxyStats {
    let queuedBytes = 0;
    for (const p of this.pipes) queuedBytes += p.up.queuedBytes + p.down.queuedBytes;
    return { ...this.counters, open: this.pipes.size, queuedBytes };
  }

  /** Cuts every connection and stops listening. Idempotent. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.cut();
      this.server.close(() => resolve());
    });
    return this.closing;
  }
}
