/** A raw WebSocket SignalR client for feeding the hub bytes the official client never sends. */
import WebSocket from 'ws';

const RS = '\u001e';

export class RawClient {
  readonly received: any[] = [];
  private buffer = '';
  private waiters: (() => void)[] = [];
  closeCode: number | undefined;
  private closedPromise: Promise<void>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.buffer += data.toString();
      const parts = this.buffer.split(RS);
      this.buffer = parts.pop() ?? '';
      for (const p of parts) this.received.push(JSON.parse(p));
      for (const w of this.waiters.splice(0)) w();
    });
    this.closedPromise = new Promise((resolve) =>
      ws.on('close', (code) => {
        this.closeCode = code;
        for (const w of this.waiters.splice(0)) w();
        resolve();
      }),
    );
  }

  /** Opens a WebSocket straight to the hub URL (skipNegotiation style). */
  static async open(hubUrl: string, headers: Record<string, string> = {}): Promise<RawClient> {
    const ws = new WebSocket(hubUrl.replace(/^http/, 'ws'), { headers, perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    return new RawClient(ws);
  }

  static async handshaken(hubUrl: string): Promise<RawClient> {
    const c = await RawClient.open(hubUrl);
    c.send('{"protocol":"json","version":1}' + RS);
    await c.waitFor((m) => typeof m === 'object' && m !== null && !('type' in m));
    return c;
  }

  send(text: string | Buffer): void {
    this.ws.send(text);
  }

  invoke(id: string, target: string, args: unknown[]): void {
    this.send(JSON.stringify({ type: 1, invocationId: id, target, arguments: args }) + RS);
  }

  /** Waits for a received message matching `match`, searching what already arrived first. */
  async waitFor(match: (m: any) => boolean, ms = 5_000): Promise<any> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.received.find(match);
      if (found !== undefined) return found;
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error(`socket closed (code ${this.closeCode}) before a matching message`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching message within ${ms} ms; got ${JSON.stringify(this.received).slice(0, 500)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  completion(id: string, ms?: number): Promise<any> {
    return this.waitFor((m) => m?.type === 3 && m.invocationId === id, ms);
  }

  async whenClosed(ms = 5_000): Promise<number | undefined> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([this.closedPromise, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`socket did not close within ${ms} ms`)), ms)))]);
    } finally {
      clearTimeout(timer);
    }
    return this.closeCode;
  }

  close(): void {
    this.ws.terminate();
  }
}
