/** CORS for browsers, /healthz and /metrics, and graceful close with a Close message. */
import { describe, expect, it } from 'vitest';
import { AGENT_KEY_A, AGENT_KEY_B, closed, connectClient, nextCall, useHub } from '../helpers/hub.js';

describe('CORS', () => {
  it('echoes an allowed origin with credentials and refuses others', async () => {
    const hub = await useHub({ corsOrigins: ['http://app.example:3000'] });
    const preflight = await fetch(`${hub.url}/negotiate?negotiateVersion=1`, {
      method: 'OPTIONS',
      headers: { Origin: 'http://app.example:3000', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'x-requested-with,x-signalr-user-agent,authorization' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('http://app.example:3000');
    expect(preflight.headers.get('access-control-allow-credentials')).toBe('true');
    expect(preflight.headers.get('access-control-allow-headers')).toContain('x-signalr-user-agent');
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');

    const negotiate = await fetch(`${hub.url}/negotiate?negotiateVersion=1`, { method: 'POST', headers: { Origin: 'http://app.example:3000' } });
    expect(negotiate.status).toBe(200);
    expect(negotiate.headers.get('access-control-allow-origin')).toBe('http://app.example:3000');

    const foreign = await fetch(`${hub.url}/negotiate?negotiateVersion=1`, { method: 'OPTIONS', headers: { Origin: 'http://evil.example' } });
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    const foreignPost = await fetch(`${hub.url}/negotiate?negotiateVersion=1`, { method: 'POST', headers: { Origin: 'http://evil.example' } });
    expect(foreignPost.status).toBe(403);

    // A page served by the hub itself (same origin) needs no allow-list entry.
    const same = await fetch(`${hub.url}/negotiate?negotiateVersion=1`, { method: 'POST', headers: { Origin: `http://127.0.0.1:${hub.port}` } });
    expect(same.status).toBe(200);

    // Cross-site WebSockets are refused before the upgrade.
    const { default: WebSocket } = await import('ws');
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(hub.url.replace('http', 'ws'), { headers: { Origin: 'http://evil.example' } });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => undefined);
    });
    expect(status).toBe(403);
  });

  it("allows any origin with '*' but still echoes it (credentials forbid a literal *)", async () => {
    const hub = await useHub({ corsOrigins: ['*'] });
    const res = await fetch(`${hub.url}/negotiate?negotiateVersion=1`, { method: 'POST', headers: { Origin: 'http://anything.example' } });
    expect(res.headers.get('access-control-allow-origin')).toBe('http://anything.example');
  });
});

describe('operations endpoints', () => {
  it('reports health and Prometheus metrics that follow the traffic', async () => {
    const hub = await useHub();
    const base = hub.url.replace(/\/hub$/, '');
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', rooms: 0, members: 0 });

    const a = await connectClient(hub.url);
    const b = await connectClient(hub.url, { transport: 'LongPolling' });
    await a.invoke('Join', 'm', { agentKey: AGENT_KEY_A });
    const { self } = await b.invoke('Join', 'm', { agentKey: AGENT_KEY_B });
    const got = nextCall(b, 'Relayed');
    await a.invoke('Relay', 'm', self.peerId, 'aGVsbG8=');
    await got;
    await expect(a.invoke('Relay', 'nope', null, 'eA==')).rejects.toThrow();

    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('rtc_hub_connections{transport="WebSockets"} 1');
    expect(metrics).toContain('rtc_hub_connections{transport="LongPolling"} 1');
    expect(metrics).toMatch(/^rtc_hub_rooms 1$/m);
    expect(metrics).toMatch(/^rtc_hub_room_members 2$/m);
    expect(metrics).toContain('rtc_hub_messages_relayed_total{kind="relay"} 1');
    expect(metrics).toContain('rtc_hub_bytes_relayed_total{kind="relay"} 8');
    expect(metrics).toContain('rtc_hub_errors_total{code="RTC_ERR_NOT_IN_ROOM"} 1');
    expect(await (await fetch(`${base}/healthz`)).json()).toMatchObject({ rooms: 1, members: 2 });
  });
});

describe('graceful close', () => {
  it('sends every client a Close message that allows reconnecting, then stops listening', async () => {
    const hub = await useHub();
    const ws = await connectClient(hub.url);
    const lp = await connectClient(hub.url, { transport: 'LongPolling' });
    const sse = await connectClient(hub.url, { transport: 'ServerSentEvents' });
    const ends = [closed(ws), closed(lp), closed(sse)];
    await hub.close();
    await hub.close(); // idempotent
    const errors = await Promise.all(ends);
    // The official client reports the server's Close error for WebSockets and SSE.
    expect(String(errors[0])).toContain('RTC_ERR_SHUTTING_DOWN');
    expect(String(errors[2])).toContain('RTC_ERR_SHUTTING_DOWN');
    await expect(fetch(`${hub.url}/negotiate`, { method: 'POST' })).rejects.toThrow();
  });
});
