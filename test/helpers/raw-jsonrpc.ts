/**
 * A raw JSON-RPC 2.0 client on a plain `ws` WebSocket, written from docs/jsonrpc.md and the
 * JSON-RPC spec with no project code: what another stack's client sends, including input no
 * well-behaved client sends. Every message received is kept; waits look at what already arrived
 * first and fail after a guard timeout naming what was awaited.
 */
import WebSocket from 'ws';
import { onTestFinished } from 'vitest';

export class RawRpc {
  /** Every message (object or batch array) received, in order. */
  readonly received: any[] = [];
  private waiters: (() => void)[] = [];
  private nextId = 1;
  closeCode: number | undefined;
  closeReason = '';
  private readonly closedPromise: Promise<void>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      let value: unknown;
      try {
        value = JSON.parse(data.toString());
      } catch {
        value = { unparsable: data.toString() };
      }
      this.received.push(value);
      for (const w of this.waiters.splice(0)) w();
    });
    this.closedPromise = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        for (const w of this.waiters.splice(0)) w();
        resolve();
      }),
    );
  }

  /** Opens a WebSocket to `url`; rejects with `HTTP <status>` when the upgrade is refused. Closed when the test ends. */
  static async open(url: string, headers: Record<string, string> = {}, wsOptions: WebSocket.ClientOptions = {}): Promise<RawRpc> {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false, ...wsOptions });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    const client = new RawRpc(ws);
    onTestFinished(() => client.ws.terminate());
    return client;
  }

  /** Sends text as is, or a value as JSON. */
  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** Sends a request and resolves with its whole response object (result or error). */
  async request(method: string, params?: unknown, ms?: number): Promise<any> {
    const id = this.nextId++;
    // Only what arrives after the send: a test may have sent raw messages with the same id before.
    const mark = this.received.length;
    this.send({ jsonrpc: '2.0', method, ...(params === undefined ? {} : { params }), id });
    return this.waitFor((m) => this.received.indexOf(m) >= mark && m?.id === id && ('result' in m || 'error' in m), ms, `the response to ${method} (id ${id})`);
  }

  /** Sends a request and resolves with its result, or throws with the error object's message and code. */
  async call(method: string, params?: unknown, ms?: number): Promise<any> {
    const response = await this.request(method, params, ms);
    if ('error' in response) throw Object.assign(new Error(`${method} failed: ${response.error.code} ${response.error.message}`), { rpc: response.error });
    return response.result;
  }

  notify(method: string, params?: unknown): void {
    this.send({ jsonrpc: '2.0', method, ...(params === undefined ? {} : { params }) });
  }

  /** Notifications received of `method`. */
  notifications(method: string): any[] {
    return this.received.filter((m) => m?.method === method && !('id' in m));
  }

  /** Waits for a received message matching `match`, searching what already arrived first. */
  async waitFor(match: (m: any) => boolean, ms = 10_000, what = 'a matching message'): Promise<any> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.received.find(match);
      if (found !== undefined) return found;
      if (this.closeCode !== undefined) throw new Error(`socket closed (${this.closeCode} ${this.closeReason}) before ${what}; got ${JSON.stringify(this.received).slice(-800)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${ms} ms; got ${JSON.stringify(this.received).slice(-800)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** The message received after the first `count` (waits for it): "what came next". */
  async nth(count: number, ms = 10_000, what = 'the next message'): Promise<any> {
    await this.waitFor(() => this.received.length > count, ms, what);
    return this.received[count];
  }

  /** The next notification of `method` matching `filter`. */
  notification(method: string, filter: (params: any) => boolean = () => true, ms?: number): Promise<any> {
    return this.waitFor((m) => m?.method === method && !('id' in m) && filter(m.params), ms, `a ${method} notification`).then((m) => m.params);
  }

  async whenClosed(ms = 10_000): Promise<{ code: number | undefined; reason: string }> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([this.closedPromise, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`socket did not close within ${ms} ms`)), ms)))]);
    } finally {
      clearTimeout(timer);
    }
    return { code: this.closeCode, reason: this.closeReason };
  }
}

/** The JSON-RPC URL of a hub started by the tests (`http://127.0.0.1:PORT/hub` → `ws://127.0.0.1:PORT/rpc`). */
export function rpcUrl(hub: { port: number }): string {
  return `ws://127.0.0.1:${hub.port}/rpc`;
}
