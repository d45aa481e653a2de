/**
 * The HTTP requests of a connection that does not use WebSockets, once the hub found it by `?id=`
 * and checked its token: GET opens a Server-Sent Events stream or a long poll, POST carries what
 * the client sends (text for JSON, bytes for MessagePack), DELETE ends the connection. Status
 * codes and texts follow ASP.NET Core's HttpConnectionDispatcher.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode } from '../../errors.js';
import type { HubClientConnection } from '../connection.js';
import { readBody, sendText } from '../http-util.js';
import type { HubMetrics } from '../metrics.js';
import type { ResolvedHubOptions, TransportName } from '../options.js';
import { LongPollingSink } from './long-polling.js';
import { ServerSentEventsSink } from './server-sent-events.js';

/** The long-polling transport a connection uses or last used, if that is its transport. */
export function pollSinkOf(conn: HubClientConnection): LongPollingSink | undefined {
  return conn.lastSink instanceof LongPollingSink ? conn.lastSink : undefined;
}

export async function serveTransportRequest(
  conn: HubClientConnection,
  req: IncomingMessage,
  res: ServerResponse,
  hub: { options: ResolvedHubOptions; metrics: HubMetrics },
): Promise<void> {
  const { options } = hub;
  const now = Date.now();
  if (req.method === 'GET') {
    const wantsSse = (req.headers.accept ?? '').includes('text/event-stream');
    const name: TransportName = wantsSse ? 'ServerSentEvents' : 'LongPolling';
    if (!options.transports.includes(name)) {
      sendText(res, 404, `${name} is disabled`);
      return;
    }
    if (conn.state === 'closed') {
      // A long-polling client still gets what was queued (e.g. our Close message), then 204.
      const sink = pollSinkOf(conn);
      if (sink) sink.handlePoll(req, res);
      else sendText(res, 404, 'No Connection with that ID');
      return;
    }
    if (conn.transportName === null) {
      if (name === 'ServerSentEvents') {
        conn.attach(new ServerSentEventsSink(res, conn), now);
      } else {
        const sink = new LongPollingSink(conn, options.longPollTimeoutMs, options.disconnectTimeoutMs, now);
        conn.attach(sink, now);
        sink.firstPoll(res);
      }
      return;
    }
    if (conn.transportName !== name) {
      sendText(res, 400, 'Cannot change transports mid-connection');
      return;
    }
    if (name === 'ServerSentEvents') {
      sendText(res, 409, 'An SSE stream is already open for this connection');
      return;
    }
    pollSinkOf(conn)?.handlePoll(req, res);
    return;
  }
  if (req.method === 'POST') {
    if (conn.transportName === 'WebSockets') {
      sendText(res, 405, 'POST requests are not allowed for WebSocket connections', { Allow: 'GET' });
      return;
    }
    if (conn.transportName === null) {
      sendText(res, 400, 'Connect before sending');
      return;
    }
    const body = await readBody(req, options.limits.maxFrameBytes);
    if (body === null) {
      hub.metrics.errors.inc({ code: ErrorCode.MESSAGE_TOO_LARGE });
      sendText(res, 413, `${ErrorCode.MESSAGE_TOO_LARGE}: request body exceeds ${options.limits.maxFrameBytes} bytes`);
      return;
    }
    if (conn.state === 'closed') {
      sendText(res, 404, 'No Connection with that ID');
      return;
    }
    // Reply after processing, so a client that outpaces the hub is slowed by its own sends.
    await conn.receive(body, Date.now());
    sendText(res, 200, '');
    return;
  }
  if (req.method === 'DELETE') {
    conn.close();
    sendText(res, 202, '');
    return;
  }
  sendText(res, 405, 'method not allowed', { Allow: 'GET, POST, DELETE' });
}
