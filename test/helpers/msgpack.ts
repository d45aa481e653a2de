/**
 * The official client with the official MessagePack hub protocol (@microsoft/signalr-protocol-msgpack),
 * and a raw MessagePack WebSocket client for bytes the official client never sends.
 */
import { onTestFinished } from 'vitest';
import { MessagePackHubProtocol } from '@microsoft/signalr-protocol-msgpack';
import { decode, encode } from '@msgpack/msgpack';
import WebSocket from 'ws';
import { TRANSPORTS, signalR, type ClientOptions } from './hub.js';

export type Protocol = 'json' | 'messagepack';

/** Builds (not starts) an official client speaking `protocol`; stopped when the current test ends. */
export function buildProtocolClient(hubUrl: string, protocol: Protocol, options: ClientOptions = {}): signalR.HubConnection {
  const http: signalR.IHttpConnectionOptions = { transport: TRANSPORTS[options.transport ?? 'WebSockets'] };
  if (options.skipNegotiation) http.skipNegotiation = true;
  let builder = new signalR.HubConnectionBuilder().withUrl(options.url ?? hubUrl, http).configureLogging(signalR.LogLevel.None);
  if (protocol === 'messagepack') builder = builder.withHubProtocol(new MessagePackHubProtocol());
  if (options.stateful) builder = builder.withStatefulReconnect();
  if (options.serverTimeoutMs !== undefined) builder = builder.withServerTimeout(options.serverTimeoutMs);
  if (options.keepAliveMs !== undefined) builder = builder.withKeepAliveInterval(options.keepAliveMs);
  const conn = builder.build();
  onTestFinished(() => conn.stop());
  return conn;
}

export async function connectProtocolClient(hubUrl: string, protocol: Protocol, options: ClientOptions = {}): Promise<signalR.HubConnection> {
  const conn = buildProtocolClient(hubUrl, protocol, options);
  await conn.start();
  return conn;
}

/** One MessagePack message with its VarInt length prefix, written independently of the hub's code. */
export function frame(value: unknown): Buffer {
  const body = encode(value);
  const prefix: number[] = [];
  let size = body.length;
  do {
    let b = size & 0x7f;
    size >>>= 7;
    if (size > 0) b |= 0x80;
    prefix.push(b);
  } while (size > 0);
  return Buffer.concat([Buffer.from(prefix), Buffer.from(body)]);
}

/** Splits a binary frame into decoded messages (throws on a partial one, as the official client does). */
export function unframe(data: Buffer): unknown[][] {
  const out: unknown[][] = [];
  let at = 0;
  while (at < data.length) {
    let size = 0;
    let shift = 0;
    let byte: number;
    do {
      byte = data[at++]!;
      size |= (byte & 0x7f) << shift;
      shift += 7;
    } while (byte & 0x80);
    if (at + size > data.length) throw new Error('Incomplete message.');
    out.push(decode(data.subarray(at, at + size)) as unknown[]);
    at += size;
  }
  return out;
}

/** A raw MessagePack client on a WebSocket straight to the hub (skipNegotiation style). */
export class RawMsgPackClient {
  readonly received: unknown[][] = [];
  /** Every frame as it arrived, with its WebSocket frame type. */
  readonly frames: { binary: boolean; data: Buffer }[] = [];
  handshake: string | undefined;
  closeCode: number | undefined;
  private waiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.frames.push({ binary: isBinary, data });
      let rest = data;
      if (this.handshake === undefined) {
        const end = data.indexOf(0x1e);
        this.handshake = data.subarray(0, end).toString('utf8');
        rest = data.subarray(end + 1);
      }
      this.received.push(...unframe(rest));
      for (const w of this.waiters.splice(0)) w();
    });
    ws.on('close', (code) => {
      this.closeCode = code;
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async handshaken(hubUrl: string): Promise<RawMsgPackClient> {
    const ws = new WebSocket(hubUrl.replace(/^http/, 'ws'), { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const c = new RawMsgPackClient(ws);
    ws.send('{"protocol":"messagepack","version":1}\u001e');
    await c.waitFor(() => c.handshake !== undefined);
    return c;
  }

  send(value: unknown): void {
    this.ws.send(frame(value));
  }

  invoke(id: string, target: string, args: unknown[]): void {
    this.send([1, {}, id, target, args]);
  }

  async waitFor(check: () => boolean, ms = 5_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!check()) {
      if (this.closeCode !== undefined) throw new Error(`socket closed (${this.closeCode})`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`condition not met within ${ms} ms; got ${JSON.stringify(this.received).slice(0, 300)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async completion(id: string, ms?: number): Promise<unknown[]> {
    await this.waitFor(() => this.received.some((m) => m[0] === 3 && m[2] === id), ms);
    return this.received.find((m) => m[0] === 3 && m[2] === id)!;
  }

  close(): void {
    this.ws.terminate();
  }
}

/**
 * The WebSocket frames the hub sent down one tapped connection: everything after the `101`
 * response, split by RFC 6455 headers (server frames are unmasked).
 */
export function serverFrames(down: Buffer): { opcode: number; payload: Buffer }[] {
  const upgrade = down.indexOf('HTTP/1.1 101');
  if (upgrade === -1) throw new Error('no WebSocket upgrade on the tapped connection');
  let at = down.indexOf('\r\n\r\n', upgrade) + 4;
  const frames: { opcode: number; payload: Buffer }[] = [];
  while (at + 2 <= down.length) {
    const opcode = down[at]! & 0x0f;
    let length = down[at + 1]! & 0x7f;
    let head = 2;
    if (length === 126) [length, head] = [down.readUInt16BE(at + 2), 4];
    else if (length === 127) [length, head] = [Number(down.readBigUInt64BE(at + 2)), 10];
    if (at + head + length > down.length) break;
    frames.push({ opcode, payload: down.subarray(at + head, at + head + length) });
    at += head + length;
  }
  return frames;
}
