/**
 * SignalR's negotiate exchange (TransportProtocols.md, "POST [endpoint-base]/negotiate"): what the
 * client asks for in the query, and the response that names the connection and the transports.
 */
import type { TransportName } from './options.js';

export interface NegotiateRequest {
  /** 1 when the client asked for version 1 or later (it then gets a connectionToken), else 0. */
  version: 0 | 1;
  /** The client asked for stateful reconnect (`withStatefulReconnect()`). */
  stateful: boolean;
}

export function parseNegotiate(url: URL): NegotiateRequest {
  const requested = Number.parseInt(url.searchParams.get('negotiateVersion') ?? '0', 10);
  return { version: Number.isFinite(requested) && requested >= 1 ? 1 : 0, stateful: url.searchParams.get('useStatefulReconnect') === 'true' };
}

/**
 * The response body. Every transport but Server-Sent Events carries both transfer formats, so a
 * MessagePack client (Binary) skips SSE by itself, as with ASP.NET Core.
 */
export function negotiateBody(request: NegotiateRequest, conn: { connectionId: string; token: string }, transports: readonly TransportName[]): Record<string, unknown> {
  const body: Record<string, unknown> = {
    negotiateVersion: request.version,
    connectionId: conn.connectionId,
    availableTransports: transports.map((transport) => ({ transport, transferFormats: transport === 'ServerSentEvents' ? ['Text'] : ['Text', 'Binary'] })),
  };
  // Version 0 has no connectionToken: the client then puts the connectionId in `?id=`.
  if (request.version >= 1) body.connectionToken = conn.token;
  // Only when asked: the client rejects a server that offers it unasked.
  if (request.stateful) body.useStatefulReconnect = true;
  return body;
}
