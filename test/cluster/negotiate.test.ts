/**
 * No sticky sessions for WebSockets: a client negotiates on one hub and opens its WebSocket on
 * another (a round-robin TCP proxy in front of two hubs, the official client behind it). The
 * connection token is taken exactly once, by the hub the WebSocket reaches, for the same user
 * only. Server-Sent Events and long polling send several requests per connection: the first one
 * takes the connection wherever it lands, and the load balancer must send the others to the same
 * hub (docs/cluster.md: route by the `id` query parameter, or sticky sessions).
 */
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { expect, it, onTestFinished } from 'vitest';
import type { Hub } from '../../src/index.js';
import { AGENT_KEY_A, AGENT_KEY_B, connectClient, nextCall } from '../helpers/hub.js';
import { RoundRobinProxy } from '../helpers/round-robin-proxy.js';
import { describeWithRedis, useCluster } from './support.js';

const SECRET = 'cluster-negotiate-secret-long-enough';

function sign(sub: string): Promise<string> {
  return new SignJWT({ sub }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('10m').sign(new TextEncoder().encode(SECRET));
}

async function negotiateOn(hub: Hub, token?: string): Promise<{ connectionId: string; connectionToken: string }> {
  const res = await fetch(`${hub.url}/negotiate?negotiateVersion=1`, { method: 'POST', headers: token ? { Authorization: `Bearer ${token}` } : {} });
  expect(res.status).toBe(200);
  return (await res.json()) as { connectionId: string; connectionToken: string };
}

/** The HTTP status of a WebSocket upgrade (101 when it opened; the socket is then closed). */
function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), { headers, perMessageDeflate: false });
    onTestFinished(() => ws.terminate());
    ws.once('open', () => {
      resolve(101);
      ws.close();
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
    });
    ws.once('error', reject);
  });
}

async function accepted(hub: Hub, negotiated: 'here' | 'elsewhere'): Promise<number> {
  const { values } = await (hub.metrics.registry.getSingleMetric('rtc_hub_cluster_connections_accepted_total') as { get(): Promise<{ values: { labels: Record<string, string>; value: number }[] }> }).get();
  return values.find((v) => v.labels.negotiated === negotiated)?.value ?? 0;
}

describeWithRedis('negotiate on one hub, WebSocket on another', (redis) => {
  it('works for the official client behind a round-robin proxy with no stickiness', async () => {
    const hubs = await useCluster(redis().url, 2);
    const proxy = await RoundRobinProxy.start(hubs.map((h) => h.port));
    onTestFinished(() => proxy.close());
    const proxied = `${proxy.url}/hub`;
    const direct = await connectClient(hubs[0]!.url);
    await direct.invoke('Join', 'lb', { agentKey: AGENT_KEY_A });

    // Through the proxy: negotiate is the first TCP connection (hub 1), the WebSocket the second (hub 2).
    const seen = nextCall(direct, 'PeerJoined');
    const viaProxy = await connectClient(proxied);
    expect(proxy.routed.slice(0, 2)).toEqual([0, 1]);
    expect(await accepted(hubs[1]!, 'elsewhere')).toBe(1);
    const joined = await viaProxy.invoke('Join', 'lb', { agentKey: AGENT_KEY_B });
    await seen;
    expect(viaProxy.connectionId).toBeTruthy();
    const back = nextCall(viaProxy, 'Relayed');
    await direct.invoke('Relay', 'lb', joined.self.peerId, 'dmlhIHByb3h5');
    expect((await back)[2]).toBe('dmlhIHByb3h5');

    // More clients, whichever way the proxy splits their requests.
    const more = await Promise.all([0, 1, 2, 3].map(() => connectClient(proxied)));
    const ids = await Promise.all(more.map(async (c, i) => (await c.invoke('Join', 'lb', { agentKey: `agent-key-more-${i}-aaaaaaaaaa` })).self.peerId as string));
    const members = await direct.invoke('Members', 'lb');
    expect(new Set(members.participants.map((p: { peerId: string }) => p.peerId))).toEqual(new Set([joined.self.peerId, ...ids]));
    expect(new Set(proxy.routed)).toEqual(new Set([0, 1]));
  });

  it('hands each connection token to exactly one hub, and only for the same user', async () => {
    const [h1, h2] = await useCluster(redis().url, 2, { auth: { jwtSecret: SECRET } });
    const alice = await sign('alice');
    const bob = await sign('bob');
    const auth = (t: string): Record<string, string> => ({ Authorization: `Bearer ${t}` });

    const first = await negotiateOn(h1!, alice);
    expect(await upgradeStatus(`${h2!.url}?id=${first.connectionToken}`)).toBe(401);
    expect(await upgradeStatus(`${h2!.url}?id=${first.connectionToken}`, auth(bob))).toBe(403);

    const second = await negotiateOn(h1!, alice);
    expect(await upgradeStatus(`${h2!.url}?id=${second.connectionToken}`, auth(alice))).toBe(101);
    // Taken by hub 2: hub 1, which negotiated it, no longer accepts it.
    expect(await upgradeStatus(`${h1!.url}?id=${second.connectionToken}`, auth(alice))).toBe(404);

    const third = await negotiateOn(h1!, alice);
    expect(await upgradeStatus(`${h1!.url}?id=${third.connectionToken}`, auth(alice))).toBe(101);
    expect(await upgradeStatus(`${h2!.url}?id=${third.connectionToken}`, auth(alice))).toBe(404);
    expect(await accepted(h1!, 'here')).toBe(1);
    expect(await accepted(h2!, 'elsewhere')).toBe(1);
  });

  it('moves long polling and Server-Sent Events to the hub of their first request; later ones must go there too', async () => {
    const [h1, h2] = await useCluster(redis().url, 2);
    // Long polling: negotiated on hub 1, connected (first poll) on hub 2.
    const lp = await negotiateOn(h1!);
    const first = await fetch(`${h2!.url}?id=${lp.connectionToken}&_=1`);
    expect(first.status).toBe(200);
    const handshake = await fetch(`${h2!.url}?id=${lp.connectionToken}`, { method: 'POST', body: '{"protocol":"json","version":1}\u001e' });
    expect(handshake.status).toBe(200);
    const answer = await fetch(`${h2!.url}?id=${lp.connectionToken}&_=2`);
    expect(await answer.text()).toBe('{}\u001e');
    // A request of the same connection that reaches hub 1 finds nothing there: route by ?id=.
    expect((await fetch(`${h1!.url}?id=${lp.connectionToken}&_=3`)).status).toBe(404);
    expect((await fetch(`${h1!.url}?id=${lp.connectionToken}`, { method: 'DELETE' })).status).toBe(404);
    expect((await fetch(`${h2!.url}?id=${lp.connectionToken}`, { method: 'DELETE' })).status).toBe(202);

    // Server-Sent Events: the stream opens on the hub that did not negotiate it.
    const sse = await negotiateOn(h1!);
    const controller = new AbortController();
    onTestFinished(() => controller.abort());
    const stream = await fetch(`${h2!.url}?id=${sse.connectionToken}`, { headers: { Accept: 'text/event-stream' }, signal: controller.signal });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toContain('text/event-stream');
    expect((await fetch(`${h1!.url}?id=${sse.connectionToken}`, { headers: { Accept: 'text/event-stream' } })).status).toBe(404);
    expect(await accepted(h2!, 'elsewhere')).toBe(2);
  });
});
