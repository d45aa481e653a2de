/**
 * One client interface over both relays, so every scenario drives the hub and the bare-ws
 * baseline through identical code; only connect/send/receive differ, and those are exactly the
 * per-message costs each stack really has (SignalR framing and invocation vs. a bare JSON envelope).
 */
import { HubConnectionBuilder, HttpTransportType, LogLevel, type HubConnection } from '@microsoft/signalr';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { deferred, withTimeout } from '../lib/async.js';

export interface RelayClient {
  readonly peerId: string;
  /** Fire-and-forget relay to one peer, or to everyone else in the room when `to` is null. */
  send(to: string | null, payload: string): void;
  /** Set by the scenario; called for every relayed message this client receives. */
  onRelayed: (from: string, payload: string) => void;
  /** First transport/server error this client saw, for the report (null if none). */
  readonly error: string | null;
  close(): Promise<void>;
}

export type RelayClientFactory = (room: string, name: string) => Promise<RelayClient>;

const CONNECT_TIMEOUT_MS = 10_000;
const CLOSE_TIMEOUT_MS = 5_000;

/**
 * Our hub through the official SignalR client, the way agents use it. `invoke` switches Relay from
 * send (fire-and-forget) to invoke (the hub sends a completion per message), to show that cost.
 */
export function signalrClientFactory(hubUrl: string, mode: 'send' | 'invoke' = 'send'): RelayClientFactory {
  return async (room, name) => {
    const conn: HubConnection = new HubConnectionBuilder()
      .withUrl(hubUrl, { transport: HttpTransportType.WebSockets, skipNegotiation: false })
      .configureLogging(LogLevel.None)
      .build();
    let error: string | null = null;
    const client: RelayClient = {
      peerId: '',
      onRelayed: () => undefined,
      send(to, payload) {
        // Neither promise is awaited (that would serialize the stream); the scenario's window bounds them.
        const done = mode === 'send' ? conn.send('Relay', room, to, payload) : conn.invoke('Relay', room, to, payload);
        done.catch((err: unknown) => {
          error ??= `send: ${String(err)}`;
        });
      },
      get error() {
        return error;
      },
      async close() {
        await withTimeout(conn.stop(), CLOSE_TIMEOUT_MS, 'SignalR stop').catch(() => undefined);
      },
    };
    conn.on('Relayed', (_room: string, from: string, payload: string) => client.onRelayed(from, payload));
    conn.onclose((err) => {
      if (err) error ??= `closed: ${err.message}`;
    });
    await withTimeout(conn.start(), CONNECT_TIMEOUT_MS, 'SignalR start');
    const joined = await withTimeout(
      conn.invoke<{ self: { peerId: string } }>('Join', room, {
        agentKey: randomBytes(18).toString('base64url'),
        name,
        capabilities: { native: false },
      }),
      CONNECT_TIMEOUT_MS,
      'Join',
    );
    (client as { peerId: string }).peerId = joined.self.peerId;
    return client;
  };
}

interface WsInbound {
  type?: string;
  room?: string;
  from?: string;
  self?: string;
  payload?: string;
}

/**
 * The baseline server (baselines/ws-relay-server.ts) through plain `ws`. `batch` must match the
 * server's --batch: records sent in one turn share a frame ("\n"-separated), as the SignalR client does.
 */
export function wsClientFactory(relayUrl: string, batch = false): RelayClientFactory {
  return async (room) => {
    const ws = new WebSocket(relayUrl, { perMessageDeflate: false });
    let error: string | null = null;
    let outbox: string[] = [];
    const flush = (): void => {
      const frame = outbox.length === 1 ? (outbox[0] as string) : outbox.join('\n');
      outbox = [];
      ws.send(frame);
    };
    const joined = deferred<string>();
    // Mark handled now: an error before we await `joined` must not become an unhandled rejection.
    joined.promise.catch(() => undefined);
    const client: RelayClient = {
      peerId: '',
      onRelayed: () => undefined,
      send(to, payload) {
        const record = JSON.stringify({ room, to, payload });
        if (!batch) {
          ws.send(record);
          return;
        }
        if (outbox.push(record) === 1) queueMicrotask(flush);
      },
      get error() {
        return error;
      },
      async close() {
        if (ws.readyState === WebSocket.CLOSED) return;
        const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
        ws.close();
        await withTimeout(closed, CLOSE_TIMEOUT_MS, 'ws close').catch(() => ws.terminate());
      },
    };
    const onRecord = (text: string): void => {
      const msg = JSON.parse(text) as WsInbound;
      if (msg.type === undefined) client.onRelayed(msg.from as string, msg.payload as string);
      else if (msg.type === 'joined') joined.resolve(msg.self as string);
    };
    ws.on('message', (data) => {
      const text = data.toString();
      if (!batch) onRecord(text);
      else for (const record of text.split('\n')) if (record.length > 0) onRecord(record);
    });
    ws.on('error', (err) => {
      error ??= `ws: ${err.message}`;
      joined.reject(err);
    });
    ws.on('close', (code, reason) => {
      if (code !== 1000 && code !== 1005) error ??= `closed: ${code} ${reason.toString()}`;
      joined.reject(new Error(`closed before join (${code})`));
    });
    const opened = new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    await withTimeout(opened, CONNECT_TIMEOUT_MS, 'ws open');
    ws.send(JSON.stringify({ type: 'join', room }));
    (client as { peerId: string }).peerId = await withTimeout(joined.promise, CONNECT_TIMEOUT_MS, 'ws join');
    return client;
  };
}
