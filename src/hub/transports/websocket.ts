import type { WebSocket, WebSocketServer } from 'ws';
import type { HubClientConnection, TransportSink } from '../connection.js';
import type { WireRecord } from '../wire-codec.js';

/**
 * WebSockets transport, no subprotocol (TransportProtocols.md): JSON records in text frames,
 * MessagePack in binary frames; what arrives is taken as bytes whatever the frame type (the
 * official client sends its JSON handshake in a text frame before MessagePack binary ones).
 * Reading pauses while the connection is busy with a message that applies backpressure.
 */
export class WebSocketSink implements TransportSink {
  readonly name = 'WebSockets' as const;
  private pendingBytes = 0;
  private paused = false;
  private ended = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly conn: HubClientConnection,
  ) {
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => this.onMessage(data));
    ws.on('close', () => conn.transportLost(this, Date.now()));
    ws.on('error', (err) => conn.log.debug({ err }, 'websocket error'));
  }

  private onMessage(data: Buffer | ArrayBuffer | Buffer[]): void {
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    const busy = this.conn.receive(bytes, Date.now());
    if (busy && !this.paused) {
      this.paused = true;
      this.ws.pause();
      void busy.finally(() => {
        this.paused = false;
        this.ws.resume();
      });
    }
  }

  write(frame: WireRecord): void {
    const bytes = frame.length;
    this.pendingBytes += bytes;
    this.ws.send(frame, () => {
      this.pendingBytes -= bytes;
      this.conn.notifyDrained();
    });
  }

  bufferedBytes(): number {
    return this.pendingBytes;
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    // 1000 after our Close message: the client then stops without "closed with status code" noise.
    this.ws.close(1000);
  }
}

/** Resolves once every client of `wss` has closed, or after `boundMs` whatever is still open. */
export function whenClientsClosed(wss: WebSocketServer, boundMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, boundMs);
    const check = (): void => {
      if (wss.clients.size === 0) {
        clearTimeout(timer);
        resolve();
      }
    };
    for (const ws of wss.clients) ws.once('close', () => setImmediate(check));
    check();
  });
}
