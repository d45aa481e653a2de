import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HubClientConnection, TransportSink } from '../connection.js';
import type { WireRecord } from '../wire-codec.js';

/**
 * Long polling: the client keeps one GET open; it returns with everything queued, with an empty
 * 200 after the poll timeout, or with 204 once the connection is over (TransportProtocols.md).
 */
export class LongPollingSink implements TransportSink {
  readonly name = 'LongPolling' as const;
  /** Frames of one connection are all text (JSON) or all bytes (MessagePack). */
  private queue: WireRecord[] = [];
  private queuedBytes = 0;
  private poll: ServerResponse | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private lastPollEndedAt: number;
  private ended = false;

  constructor(
    private readonly conn: HubClientConnection,
    private readonly pollTimeoutMs: number,
    private readonly disconnectTimeoutMs: number,
    now: number,
  ) {
    this.lastPollEndedAt = now;
  }

  /** The first poll returns at once and empty: the client waits for it before sending its handshake. */
  firstPoll(res: ServerResponse): void {
    respond(res, 200);
  }

  handlePoll(req: IncomingMessage, res: ServerResponse): void {
    if (this.poll) {
      // A newer poll replaces the old one, which ends with 204 as in ASP.NET Core.
      this.endPoll(204);
    }
    if (this.queue.length > 0) {
      this.deliver(res);
      return;
    }
    if (this.ended) {
      respond(res, 204);
      return;
    }
    this.poll = res;
    this.pollTimer = setTimeout(() => this.endPoll(200), this.pollTimeoutMs);
    req.on('close', () => {
      if (this.poll === res && !res.writableEnded) {
        this.clearPoll();
        this.lastPollEndedAt = Date.now();
      }
    });
  }

  private deliver(res: ServerResponse): void {
    const body = typeof this.queue[0] === 'string' ? (this.queue as string[]).join('') : Buffer.concat(this.queue as Uint8Array[]);
    this.queue = [];
    this.queuedBytes = 0;
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
    this.lastPollEndedAt = Date.now();
    this.conn.notifyDrained();
  }

  private endPoll(status: 200 | 204): void {
    const res = this.poll;
    this.clearPoll();
    if (res && !res.writableEnded) respond(res, status);
    this.lastPollEndedAt = Date.now();
  }

  private clearPoll(): void {
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = null;
    this.poll = null;
  }

  write(frame: WireRecord): void {
    this.queue.push(frame);
    this.queuedBytes += frame.length;
    const res = this.poll;
    if (res) {
      this.clearPoll();
      this.deliver(res);
    }
  }

  bufferedBytes(): number {
    return this.queuedBytes;
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    // A waiting poll takes what is left (e.g. our Close message); an empty one learns it is over.
    if (this.poll && this.queue.length === 0) this.endPoll(204);
  }

  /** A client that stopped polling is gone (there is no socket to tell us). */
  tick(now: number): void {
    if (!this.poll && !this.ended && now - this.lastPollEndedAt > this.disconnectTimeoutMs) {
      this.conn.transportLost(this, now);
    }
  }
}

function respond(res: ServerResponse, status: number): void {
  res.writeHead(status, { 'Content-Length': 0 });
  res.end();
}
