/**
 * A minimal SignalR JSON-protocol client over plain `ws`, for load benches that need thousands of
 * clients (the official client costs far more per connection): WebSocket straight to the hub URL
 * (no negotiate, as the official client's skipNegotiation does; both our hub and ASP.NET Core
 * accept it), the JSON handshake, invocations with completions, fire-and-forget sends, pings to stay
 * inside the hub's client timeout, and `pause()`/`resume()` of reading for slow-consumer runs.
 */
import WebSocket from 'ws';
import { deferred, withTimeout } from '../lib/async.js';

const RS = '\u001e';
/** Under both hubs' 30 s client timeout, like the official client's 15 s keep-alive. */
const PING_INTERVAL_MS = 15_000;
const PING = `{"type":6}${RS}`;

interface Invocation {
  type: number;
  invocationId?: string;
  target?: string;
  arguments?: unknown[];
  result?: unknown;
  error?: string;
}

export interface RawSignalrOptions {
  /** Local address to connect from (e.g. 127.0.0.2), so many connections do not exhaust one address's ports. */
  localAddress?: string;
  timeoutMs?: number;
}

export class RawSignalrClient {
  /** Called for every Relayed(room, from, payload) invocation. */
  onRelayed: ((room: string, from: string, payload: string) => void) | null = null;
  /** First close or error seen, for reports. */
  closedWith: string | null = null;
  private buffer = '';
  private handshaken = false;
  private readonly handshake = deferred<void>();
  private nextId = 1;
  private readonly pending = new Map<string, { resolve(v: unknown): void; reject(e: Error): void }>();
  private readonly ping: NodeJS.Timeout;
  private readonly closed: Promise<void>;

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => this.receive(data.toString('utf8')));
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        this.closedWith ??= `closed ${code}${reason.length ? ` ${reason.toString()}` : ''}`;
        this.handshake.reject(new Error(this.closedWith));
        for (const p of this.pending.values()) p.reject(new Error(this.closedWith));
        this.pending.clear();
        clearInterval(this.ping);
        resolve();
      }),
    );
    ws.on('error', (err) => (this.closedWith ??= `error ${err.message}`));
    this.ping = setInterval(() => {
      if (ws.readyState === WebSocket.OPEN) ws.send(PING);
    }, PING_INTERVAL_MS);
    this.ping.unref();
  }

  /** Connects and completes the handshake. */
  static async connect(hubUrl: string, o: RawSignalrOptions = {}): Promise<RawSignalrClient> {
    const timeoutMs = o.timeoutMs ?? 10_000;
    const ws = new WebSocket(hubUrl.replace(/^http/, 'ws'), { perMessageDeflate: false, ...(o.localAddress ? { localAddress: o.localAddress } : {}) });
    const opened = new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    try {
      await withTimeout(opened, timeoutMs, 'WebSocket open');
    } catch (err) {
      ws.terminate();
      throw err;
    }
    const client = new RawSignalrClient(ws);
    ws.send(`{"protocol":"json","version":1}${RS}`);
    try {
      await withTimeout(client.handshake.promise, timeoutMs, 'SignalR handshake');
    } catch (err) {
      client.terminate();
      throw err;
    }
    return client;
  }

  private receive(text: string): void {
    this.buffer += text;
    let at = 0;
    for (;;) {
      const end = this.buffer.indexOf(RS, at);
      if (end < 0) break;
      const record = this.buffer.slice(at, end);
      at = end + 1;
      if (!this.handshaken) {
        // The first record is the handshake reply: {} or {"error": ...}.
        this.handshaken = true;
        const reply = JSON.parse(record) as { error?: string };
        if (reply.error) this.handshake.reject(new Error(`handshake: ${reply.error}`));
        else this.handshake.resolve();
      } else if (record.length > 0) this.dispatch(JSON.parse(record) as Invocation);
    }
    this.buffer = this.buffer.slice(at);
  }

  private dispatch(m: Invocation): void {
    if (m.type === 1 && m.target === 'Relayed' && m.arguments) {
      const [room, from, payload] = m.arguments as [string, string, string];
      this.onRelayed?.(room, from, payload);
    } else if (m.type === 3 && m.invocationId) {
      const p = this.pending.get(m.invocationId);
      this.pending.delete(m.invocationId);
      if (m.error) p?.reject(new Error(m.error));
      else p?.resolve(m.result);
    } else if (m.type === 7) this.closedWith ??= `hub Close${m.error ? `: ${m.error}` : ''}`;
  }

  invoke<T>(target: string, args: unknown[], timeoutMs = 10_000): Promise<T> {
    const id = String(this.nextId++);
    const reply = new Promise<unknown>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.ws.send(`${JSON.stringify({ type: 1, invocationId: id, target, arguments: args })}${RS}`);
    return withTimeout(reply, timeoutMs, `${target} completion`).finally(() => this.pending.delete(id)) as Promise<T>;
  }

  /** Fire-and-forget invocation (no completion), as conn.send does. */
  send(target: string, args: unknown[]): void {
    this.ws.send(`${JSON.stringify({ type: 1, target, arguments: args })}${RS}`);
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Stops reading: the kernel's receive buffer fills, then the hub's send queue for us grows. */
  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  async close(timeoutMs = 5_000): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close(1000);
    await withTimeout(this.closed, timeoutMs, 'ws close').catch(() => this.ws.terminate());
  }

  terminate(): void {
    clearInterval(this.ping);
    this.ws.terminate();
  }
}

/** The hello both hubs' Join take (room contract): a random agent key, a name, no native. */
export function joinArgs(room: string, name: string, key: string): unknown[] {
  return [room, { agentKey: key, name, capabilities: { native: false } }];
}
