/**
 * Which signaling protocol the agent speaks to its hub: the `signaling` setting, or when it is not
 * set, the scheme of `hubUrl` (a WebSocket URL is a JSON-RPC server: SignalR always starts over
 * HTTP). Pure; the resolver reports {@link signalingMismatch} as a setting error.
 */
import type { AgentSettings, SignalingProtocol } from './settings-schema.js';

/** True for ws:// and wss:// URLs. */
export function isWebSocketUrl(url: string): boolean {
  return /^wss?:\/\//i.test(url);
}

/** The protocol the agent uses with these settings. */
export function signalingOf(settings: Pick<AgentSettings, 'hubUrl' | 'signaling'>): SignalingProtocol {
  if (settings.signaling !== undefined) return settings.signaling;
  return settings.hubUrl.length > 0 && settings.hubUrl.every(isWebSocketUrl) ? 'jsonrpc' : 'signalr';
}

/** Why `signaling` and `hubUrl` do not go together (read after "setting 'signaling' from X "), or undefined. */
export function signalingMismatch(settings: Pick<AgentSettings, 'hubUrl' | 'signaling'>): string | undefined {
  const url = settings.hubUrl[0];
  if (url === undefined || settings.signaling === undefined) return undefined;
  if (settings.signaling === 'signalr' && isWebSocketUrl(url)) {
    const http = url.replace(/^ws/i, 'http');
    return `is 'signalr' but hubUrl ${url} is a WebSocket URL; SignalR negotiates over HTTP (use ${http}), or set signaling 'jsonrpc' for a JSON-RPC server`;
  }
  if (settings.signaling === 'jsonrpc' && !isWebSocketUrl(url)) {
    return `is 'jsonrpc' but hubUrl ${url} is not a ws:// or wss:// URL; give the JSON-RPC server's WebSocket URL (rtc-agent hub: ws://HOST:PORT/rpc)`;
  }
  return undefined;
}
