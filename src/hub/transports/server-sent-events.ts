import type { ServerResponse } from 'node:http';
import type { HubClientConnection, TransportSink } from '../connection.js';
import type { WireRecord } from '../wire-codec.js';

/**
 * Server-Sent Events transport (server → client only; the client POSTs its messages). Each frame is
 * one event: `data: <line>\r\n` per line, then a blank line (ServerSentEventsMessageFormatter.cs).
 */
export class ServerSentEventsSink implements TransportSink {
  readonly name = 'ServerSentEvents' as const;
  private ended = false;

  constructor(
    private readonly res: ServerResponse,
    conn: HubClientConnection,
  ) {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-cache',
      'X-Accel-Buffering': 'no',
    });
    // ASP.NET Core opens with an empty comment (a Firefox workaround); harmless for everyone else.
    res.write(':\r\n');
    res.socket?.setNoDelay(true);
    res.on('close', () => conn.transportLost(this, Date.now()));
    res.on('drain', () => conn.notifyDrained());
  }

  /** Text only: the handshake refuses MessagePack on this transport, as ASP.NET Core does. */
  write(frame: WireRecord): void {
    if (this.ended) return;
    if (typeof frame !== 'string') frame = Buffer.from(frame).toString('utf8');
    let event = '';
    for (const line of frame.split(/\r?\n/)) event += `data: ${line}\r\n`;
    this.res.write(event + '\r\n');
  }

  bufferedBytes(): number {
    return this.res.writableLength;
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.res.end();
  }
}
