import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * CORS for browser clients. The official client sends credentials (withCredentials), so the
 * allowed origin is echoed exactly, never `*` (aspnet/SignalR#2110). Requests without an Origin
 * (Node clients, curl) and same-origin pages (served by the hub itself) are always allowed.
 */
export class CorsPolicy {
  private readonly any: boolean;
  private readonly origins: Set<string>;

  constructor(allowList: readonly string[]) {
    this.any = allowList.includes('*');
    this.origins = new Set(allowList.map((o) => o.toLowerCase()));
  }

  isAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    if (origin === undefined) return true;
    if (this.any || this.origins.has(origin.toLowerCase())) return true;
    const host = req.headers.host;
    return host !== undefined && (origin === `http://${host}` || origin === `https://${host}`);
  }

  /** Adds the response headers for an allowed cross-origin request. */
  apply(req: IncomingMessage, res: ServerResponse): void {
    const origin = req.headers.origin;
    if (origin === undefined) return;
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Access-Control-Allow-Credentials', 'true');
    res.setHeader('Vary', 'Origin');
  }

  /** Answers a preflight (OPTIONS) request. */
  preflight(req: IncomingMessage, res: ServerResponse): void {
    if (!this.isAllowed(req)) {
      res.writeHead(403, { 'Content-Type': 'text/plain' });
      res.end('origin not allowed');
      return;
    }
    this.apply(req, res);
    res.setHeader('Access-Control-Allow-Methods', 'GET, POST, DELETE, OPTIONS');
    const requested = req.headers['access-control-request-headers'];
    res.setHeader('Access-Control-Allow-Headers', typeof requested === 'string' ? requested : 'authorization, content-type, x-requested-with, x-signalr-user-agent');
    res.setHeader('Access-Control-Max-Age', '600');
    res.writeHead(204);
    res.end();
  }
}
