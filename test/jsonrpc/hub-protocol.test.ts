/**
 * The hub's JSON-RPC 2.0 endpoint (/rpc) as the spec and docs/jsonrpc.md say, driven by raw `ws`
 * clients: announce, hub-stamped senders, peer_joined/peer_left, error objects for every kind of
 * malformed input (-32700, -32600, -32601, -32602) with the connection kept and other clients
 * unaffected, batches, notifications that are never answered, auth, limits and shutdown.
 */
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { useHub } from '../helpers/hub.js';
import { RawRpc, rpcUrl } from '../helpers/raw-jsonrpc.js';
import { waitUntil } from '../helpers/wait.js';

const SECRET = 'test-secret-that-is-long-enough';

function hsToken(claims: Record<string, unknown>, expiresAt?: number): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  if (expiresAt !== undefined) jwt.setExpirationTime(expiresAt);
  return jwt.sign(new TextEncoder().encode(SECRET));
}

/** Two raw clients announced in `room`; b joined second. */
async function pair(url: string, room = 'lobby'): Promise<{ a: RawRpc; b: RawRpc; aId: string; bId: string }> {
  const a = await RawRpc.open(url);
  const b = await RawRpc.open(url);
  const aId = (await a.call('announce', { room, name: 'alice' })).peerId;
  const joined = await b.call('announce', { room, name: 'bob' });
  return { a, b, aId, bId: joined.peerId };
}

/** Proves nothing else was answered first: the next message after `before` is the ping's response. */
async function nextIsPing(c: RawRpc, before: number): Promise<void> {
  const response = await c.request('rtcagent.ping');
  expect(c.received.slice(before)).toEqual([response]);
}

describe('JSON-RPC signaling on /rpc', () => {
  it('announce joins a room and returns { peerId, participants }; peers are announced and stamped by the hub', async () => {
    const hub = await useHub();
    const a = await RawRpc.open(rpcUrl(hub));
    const first = await a.call('announce', { room: 'lobby', name: 'alice' });
    expect(first).toMatchObject({ peerId: expect.any(String), participants: [], room: 'lobby', contractVersion: 1 });
    expect(first.extensions).toEqual(expect.arrayContaining(['relay', 'signal', 'members', 'ping']));
    // A client of another stack is a WebRTC peer: it is announced as one that can do P2P.
    expect(first.self.capabilities.native).toBe(true);

    const b = await RawRpc.open(rpcUrl(hub));
    const second = await b.call('announce', { room: 'lobby', name: 'bob', capabilities: { native: true, flavour: 'x' } });
    expect(second.participants).toEqual([expect.objectContaining({ peerId: first.peerId, name: 'alice' })]);
    const joined = await a.notification('peer_joined');
    expect(joined).toMatchObject({ room: 'lobby', peerId: second.peerId, name: 'bob', capabilities: { native: true, flavour: 'x' } });

    // offer reaches `to` as a notification carrying `from`, stamped by the hub whatever the sender claims.
    expect(await a.call('offer', { room: 'lobby', to: second.peerId, from: 'someone-else', sdp: 'v=0 offer', type: 'offer' })).toBeNull();
    const offer = await b.notification('offer');
    expect(offer).toMatchObject({ room: 'lobby', from: first.peerId, sdp: 'v=0 offer', type: 'offer' });
    // The hub filled the session id the raw client left out; the answer without one gets the same.
    expect(offer.sessionId).toEqual(expect.any(String));
    await b.call('answer', { room: 'lobby', to: first.peerId, sdp: 'v=0 answer', type: 'answer' });
    expect(await a.notification('answer')).toMatchObject({ from: second.peerId, sdp: 'v=0 answer', sessionId: offer.sessionId });
    // RTCIceCandidateInit, flat or nested, both arrive in the flat form.
    await a.call('ice_candidate', { room: 'lobby', to: second.peerId, candidate: { candidate: 'candidate:1 1 UDP 1 127.0.0.1 5000 typ host', sdpMid: '0' } });
    expect(await b.notification('ice_candidate')).toMatchObject({ from: first.peerId, candidate: 'candidate:1 1 UDP 1 127.0.0.1 5000 typ host', sdpMid: '0', sessionId: offer.sessionId });

    // disconnect leaves: the other side hears peer_left.
    expect(await b.call('disconnect', { room: 'lobby' })).toBeNull();
    expect(await a.notification('peer_left')).toEqual({ room: 'lobby', peerId: second.peerId, reason: 'left' });
    // A closed socket leaves every room too.
    const c = await RawRpc.open(rpcUrl(hub));
    const third = await c.call('announce', { room: 'lobby', name: 'carol' });
    c.ws.close();
    expect(await a.notification('peer_left', (p) => p.peerId === third.peerId)).toMatchObject({ reason: 'disconnected' });
  });

  it('answers malformed input with JSON-RPC error objects, keeps the connection, and other clients are unaffected', async () => {
    const hub = await useHub();
    const { a, b, aId, bId } = await pair(rpcUrl(hub));
    const bad = await RawRpc.open(rpcUrl(hub));
    await bad.call('announce', { room: 'lobby', name: 'mallory' });

    const cases: [unknown, number, RegExp][] = [
      ['{"jsonrpc":"2.0","method":"announce",', -32700, /Parse error/],
      ['not json at all', -32700, /Parse error/],
      [{ jsonrpc: '1.0', method: 'rtcagent.ping', id: 1 }, -32600, /"jsonrpc" must be exactly "2.0"/],
      [{ method: 'rtcagent.ping', id: 2 }, -32600, /"jsonrpc"/],
      [{ jsonrpc: '2.0', method: 42, id: 3 }, -32600, /"method" must be a string/],
      [{ jsonrpc: '2.0', method: 'rtcagent.ping', params: 'x', id: 4 }, -32600, /"params" must be an object or an array/],
      [{ jsonrpc: '2.0', method: 'rtcagent.ping', id: { nested: true } }, -32600, /"id" must be/],
      [{ jsonrpc: '2.0', id: 6 }, -32600, /needs a "method"/],
      ['"just a string"', -32600, /must be an object/],
      [{ jsonrpc: '2.0', method: 'launch_missiles', id: 7 }, -32601, /Method not found/],
      [{ jsonrpc: '2.0', method: 'announce', params: ['lobby'], id: 8 }, -32602, /params must be an object/],
      [{ jsonrpc: '2.0', method: 'announce', params: { name: 'x' }, id: 9 }, -32602, /room must be a string/],
      [{ jsonrpc: '2.0', method: 'announce', params: { room: 'no spaces allowed' }, id: 10 }, -32602, /invalid room name/],
      [{ jsonrpc: '2.0', method: 'offer', params: { room: 'lobby', to: aId }, id: 11 }, -32602, /"sdp" must be a non-empty string/],
      [{ jsonrpc: '2.0', method: 'offer', params: { room: 'lobby', to: aId, sdp: 'v=0', type: 'answer' }, id: 12 }, -32602, /"type" must be "offer"/],
      [{ jsonrpc: '2.0', method: 'ice_candidate', params: { room: 'lobby', to: aId, candidate: 7 }, id: 13 }, -32602, /"candidate" must be a string/],
      [{ jsonrpc: '2.0', method: 'rtcagent.relay', params: { room: 'lobby', payload: 'eA==' }, id: 14 }, -32602, /"to" is required/],
      [{ jsonrpc: '2.0', method: 'offer', params: { room: 'elsewhere', to: aId, sdp: 'v=0' }, id: 15 }, -32002, /not a member of room 'elsewhere'/],
      [{ jsonrpc: '2.0', method: 'offer', params: { room: 'lobby', to: 'nobody', sdp: 'v=0' }, id: 16 }, -32003, /peer 'nobody' is not a member/],
    ];
    for (const [message, code, text] of cases) {
      const before = bad.received.length;
      bad.send(message);
      const response = await bad.nth(before, 10_000, `the answer to ${JSON.stringify(message)}`);
      const id = typeof message === 'object' && message !== null && 'id' in message && typeof (message as { id: unknown }).id !== 'object' ? (message as { id: unknown }).id : null;
      expect(response, JSON.stringify(message)).toMatchObject({ jsonrpc: '2.0', id, error: { code, message: expect.stringMatching(text) } });
      expect(response.error.data.code, JSON.stringify(message)).toMatch(/^RTC_ERR_/);
      expect(response).not.toHaveProperty('result');
    }
    // Still connected, still a member: it can signal, and the others talk as before.
    expect(bad.closeCode).toBeUndefined();
    await bad.call('offer', { room: 'lobby', to: aId, sdp: 'v=0 still here' });
    expect(await a.notification('offer', (p) => p.sdp === 'v=0 still here')).toBeTruthy();
    await a.call('offer', { room: 'lobby', to: bId, sdp: 'v=0 a to b' });
    expect(await b.notification('offer', (p) => p.sdp === 'v=0 a to b')).toMatchObject({ from: aId });
    expect(a.closeCode).toBeUndefined();
    expect(b.closeCode).toBeUndefined();
  });

  it('handles batches as the spec says', async () => {
    const hub = await useHub();
    const { a, aId } = await pair(rpcUrl(hub));
    const c = await RawRpc.open(rpcUrl(hub));

    // Requests are answered in one array (here in order); notifications in it are not answered.
    const before = c.received.length;
    c.send([
      { jsonrpc: '2.0', method: 'announce', params: { room: 'lobby', name: 'carol' }, id: 'join' },
      { jsonrpc: '2.0', method: 'offer', params: { room: 'lobby', to: aId, sdp: 'v=0 from a batch' } },
      { jsonrpc: '2.0', method: 'rtcagent.ping', id: 2 },
      { jsonrpc: '2.0', method: 'nope', id: 3 },
      1,
      { jsonrpc: '2.0', method: 'nope-either' },
    ]);
    const batch = await c.nth(before, 10_000, 'the batch response');
    expect(Array.isArray(batch)).toBe(true);
    expect(batch).toEqual([
      expect.objectContaining({ id: 'join', result: expect.objectContaining({ room: 'lobby', participants: expect.any(Array) }) }),
      { jsonrpc: '2.0', id: 2, result: {} },
      expect.objectContaining({ id: 3, error: expect.objectContaining({ code: -32601 }) }),
      expect.objectContaining({ id: null, error: expect.objectContaining({ code: -32600 }) }),
    ]);
    // The offer after the announce in the same batch went out: entries run in order.
    expect(await a.notification('offer', (p) => p.sdp === 'v=0 from a batch')).toMatchObject({ from: batch[0].result.peerId });

    // A batch of notifications only gets nothing back.
    let mark = c.received.length;
    c.send([{ jsonrpc: '2.0', method: 'rtcagent.ping' }, { jsonrpc: '2.0', method: 'no-such-method' }]);
    await nextIsPing(c, mark);

    // An empty batch is one Invalid Request; a batch of invalid values is one error each, id null.
    mark = c.received.length;
    c.send('[]');
    expect(await c.nth(mark)).toMatchObject({ id: null, error: { code: -32600, message: expect.stringMatching(/empty batch/) } });
    mark = c.received.length;
    c.send('[1,2,3]');
    const invalid = await c.nth(mark);
    expect(invalid).toHaveLength(3);
    for (const r of invalid) expect(r).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32600 } });
    // A batch that is not JSON is a single parse error.
    mark = c.received.length;
    c.send('[{"jsonrpc":"2.0","method":"rtcagent.ping","id":1},');
    expect(await c.nth(mark)).toMatchObject({ id: null, error: { code: -32700 } });
    // A batch past the hub's entry cap is refused whole, with one error.
    mark = c.received.length;
    c.send(Array.from({ length: 101 }, (_, i) => ({ jsonrpc: '2.0', method: 'rtcagent.ping', id: i })));
    expect(await c.nth(mark)).toMatchObject({ id: null, error: { code: -32600, message: expect.stringMatching(/batch of 101/) } });
  });

  it('never answers a notification, not even with an error', async () => {
    const hub = await useHub();
    const c = await RawRpc.open(rpcUrl(hub));
    const mark = c.received.length;
    c.notify('no-such-method', { x: 1 });
    c.notify('announce', { room: 'bad room name' });
    c.notify('offer', { room: 'lobby', to: 'x', sdp: 'v=0' });
    await nextIsPing(c, mark);
  });

  it('takes the JWT as access_token or Authorization header, names users from it and applies its rooms claim', async () => {
    const hub = await useHub({ auth: { jwtSecret: SECRET } });
    await expect(RawRpc.open(rpcUrl(hub))).rejects.toThrow('HTTP 401');
    await expect(RawRpc.open(`${rpcUrl(hub)}?access_token=not.a.jwt`)).rejects.toThrow('HTTP 401');
    const token = await hsToken({ sub: 'u-alice', name: 'Alice', rooms: ['lobby'] });
    const byQuery = await RawRpc.open(`${rpcUrl(hub)}?access_token=${token}`);
    const joined = await byQuery.call('announce', { room: 'lobby', name: 'ignored' });
    expect(joined.self).toMatchObject({ name: 'Alice', userId: 'u-alice' });
    const byHeader = await RawRpc.open(rpcUrl(hub), { Authorization: `Bearer ${token}` });
    const refused = await byHeader.request('announce', { room: 'vault' });
    expect(refused.error).toMatchObject({ code: -32001, data: { code: 'RTC_ERR_FORBIDDEN' }, message: "not allowed to join room 'vault'" });
  });

  it('closes a connection when its token expires (4001, RTC_ERR_UNAUTHORIZED: token expired)', async () => {
    const hub = await useHub({ auth: { jwtSecret: SECRET }, tokenExpiryGraceMs: 1_000 });
    const token = await hsToken({ sub: 'u1' }, Math.floor(Date.now() / 1000) + 2);
    const c = await RawRpc.open(`${rpcUrl(hub)}?access_token=${token}`);
    await c.call('announce', { room: 'lobby' });
    const closed = await c.whenClosed(10_000);
    expect(closed).toEqual({ code: 4001, reason: 'RTC_ERR_UNAUTHORIZED: token expired' });
  });

  it('applies the hub limits: message size, rate, strikes (close 1008 RTC_ERR_ABUSE), rooms per connection', async () => {
    const hub = await useHub({ limits: { maxMessageBytes: 1024, messagesPerSecond: 5, messageBurst: 5, maxStrikes: 8, maxRoomsPerConnection: 1 } });
    const { a, b, aId } = await pair(rpcUrl(hub));
    const big = await b.request('offer', { room: 'lobby', to: aId, sdp: 'x'.repeat(2048) });
    expect(big.error).toMatchObject({ code: -32007, data: { code: 'RTC_ERR_MESSAGE_TOO_LARGE' } });
    const second = await b.request('announce', { room: 'other' });
    expect(second.error).toMatchObject({ code: -32005, data: { code: 'RTC_ERR_TOO_MANY_ROOMS' } });

    const flood = await RawRpc.open(rpcUrl(hub));
    for (let i = 0; i < 30; i++) flood.send({ jsonrpc: '2.0', method: 'rtcagent.ping', id: i });
    const limited = await flood.waitFor((m) => m?.error?.code === -32006, 10_000, 'a rate-limit error');
    expect(limited.error.data.code).toBe('RTC_ERR_RATE_LIMITED');
    const closed = await flood.whenClosed();
    expect(closed.code).toBe(1008);
    expect(closed.reason).toMatch(/^RTC_ERR_ABUSE: closed after more than 8 rejected messages/);
    // The rest of the hub goes on (a's own budget refills: wait for it rather than sleep).
    await waitUntil(async () => !(await a.request('rtcagent.ping')).error, { what: "a's rate budget to refill", intervalMs: 250 });
    expect(a.closeCode).toBeUndefined();
  });

  it('says what /rpc is to plain HTTP, counts connections in /healthz, and closes clients with 1001 on shutdown', async () => {
    const hub = await useHub();
    const res = await fetch(`http://127.0.0.1:${hub.port}/rpc`);
    expect(res.status).toBe(426);
    expect(res.headers.get('upgrade')).toBe('websocket');
    const c = await RawRpc.open(rpcUrl(hub));
    await waitUntil(async () => (await (await fetch(`http://127.0.0.1:${hub.port}/healthz`)).json()).connections.JsonRpc === 1, { what: 'healthz to count the JSON-RPC connection' });
    await hub.close();
    expect(await c.whenClosed()).toEqual({ code: 1001, reason: 'RTC_ERR_SHUTTING_DOWN: the hub is shutting down' });
  });
});
