/** Test helpers around a real hub on port 0 and the official @microsoft/signalr client. */
import { onTestFinished } from 'vitest';
import * as signalR from '@microsoft/signalr';
import { startHub, type Hub, type HubOptions } from '../../src/index.js';
import { waitUntil } from './wait.js';

export { signalR };

export const TRANSPORTS = {
  WebSockets: signalR.HttpTransportType.WebSockets,
  ServerSentEvents: signalR.HttpTransportType.ServerSentEvents,
  LongPolling: signalR.HttpTransportType.LongPolling,
} as const;
export type TransportKey = keyof typeof TRANSPORTS;

/** Starts a hub on 127.0.0.1:0 that is closed when the current test ends. */
export async function useHub(options: HubOptions = {}): Promise<Hub> {
  const hub = await startHub({ host: '127.0.0.1', port: 0, ...options });
  onTestFinished(() => hub.close());
  return hub;
}

export interface ClientOptions {
  transport?: TransportKey;
  token?: string | (() => string);
  stateful?: boolean;
  skipNegotiation?: boolean;
  reconnect?: boolean | number[];
  serverTimeoutMs?: number;
  keepAliveMs?: number;
  url?: string;
}

/** Builds (not starts) an official client; stopped when the current test ends. */
export function buildClient(hubUrl: string, options: ClientOptions = {}): signalR.HubConnection {
  const http: signalR.IHttpConnectionOptions = { transport: TRANSPORTS[options.transport ?? 'WebSockets'] };
  if (options.skipNegotiation) http.skipNegotiation = true;
  const token = options.token;
  if (token !== undefined) http.accessTokenFactory = typeof token === 'function' ? token : () => token;
  let builder = new signalR.HubConnectionBuilder().withUrl(options.url ?? hubUrl, http).configureLogging(signalR.LogLevel.None);
  if (options.stateful) builder = builder.withStatefulReconnect();
  if (options.reconnect) builder = Array.isArray(options.reconnect) ? builder.withAutomaticReconnect(options.reconnect) : builder.withAutomaticReconnect([0, 100, 500, 1000]);
  if (options.serverTimeoutMs !== undefined) builder = builder.withServerTimeout(options.serverTimeoutMs);
  if (options.keepAliveMs !== undefined) builder = builder.withKeepAliveInterval(options.keepAliveMs);
  const conn = builder.build();
  onTestFinished(() => conn.stop());
  return conn;
}

export async function connectClient(hubUrl: string, options: ClientOptions = {}): Promise<signalR.HubConnection> {
  const conn = buildClient(hubUrl, options);
  await conn.start();
  return conn;
}

/** Resolves with the arguments of the next call of `method` on the client, or rejects after `ms`. */
export function nextCall(conn: signalR.HubConnection, method: string, ms = 5_000, filter: (...args: any[]) => boolean = () => true): Promise<any[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      conn.off(method, handler);
      reject(new Error(`no ${method} within ${ms} ms`));
    }, ms);
    const handler = (...args: any[]): void => {
      if (!filter(...args)) return;
      clearTimeout(timer);
      conn.off(method, handler);
      resolve(args);
    };
    conn.on(method, handler);
  });
}

/** Collects every call of `method` on a client. */
export function record(conn: signalR.HubConnection, method: string): any[][] {
  const calls: any[][] = [];
  conn.on(method, (...args: any[]) => calls.push(args));
  return calls;
}

/** Resolves when the client's onclose fires, with its error. */
export function closed(conn: signalR.HubConnection, ms = 5_000): Promise<Error | undefined> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`connection did not close within ${ms} ms`)), ms);
    conn.onclose((err) => {
      clearTimeout(timer);
      resolve(err);
    });
  });
}

/** {@link waitUntil} with positional arguments, for the hub tests written before it. */
export async function until(condition: () => boolean, ms = 5_000, what = 'condition'): Promise<void> {
  await waitUntil(condition, { timeoutMs: ms, what });
}

export const AGENT_KEY_A = 'agent-key-aaaaaaaaaaaaaaaa';
export const AGENT_KEY_B = 'agent-key-bbbbbbbbbbbbbbbb';
