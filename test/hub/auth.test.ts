/** JWT auth: 401 on negotiate/connect for missing, bad or expired tokens; the rooms claim; identity. */
import { generateKeyPairSync } from 'node:crypto';
import { SignJWT, importPKCS8 } from 'jose';
import { describe, expect, it } from 'vitest';
import { AGENT_KEY_A, AGENT_KEY_B, TRANSPORTS, connectClient, nextCall, useHub, type TransportKey } from '../helpers/hub.js';
import { derivePeerId } from '../../src/index.js';

const SECRET = 'test-secret-that-is-long-enough';

async function hsToken(claims: Record<string, unknown>, opts: { expiresIn?: string | number; secret?: string } = {}): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  if (opts.expiresIn !== undefined) jwt.setExpirationTime(opts.expiresIn);
  return jwt.sign(new TextEncoder().encode(opts.secret ?? SECRET));
}

describe('JWT auth (HS256)', () => {
  it('refuses negotiate and WebSocket connect without a valid token with 401', async () => {
    const hub = await useHub({ auth: { jwtSecret: SECRET } });
    const none = await fetch(`${hub.url}/negotiate?negotiateVersion=1`, { method: 'POST' });
    expect(none.status).toBe(401);
    expect(await none.text()).toContain('RTC_ERR_UNAUTHORIZED');

    const badSig = await hsToken({ sub: 'u1' }, { secret: 'another-secret-long-enough!' });
    const bad = await fetch(`${hub.url}/negotiate?negotiateVersion=1`, { method: 'POST', headers: { Authorization: `Bearer ${badSig}` } });
    expect(bad.status).toBe(401);
    expect(await bad.text()).toContain('signature');

    const expired = await hsToken({ sub: 'u1' }, { expiresIn: Math.floor(Date.now() / 1000) - 60 });
    const exp = await fetch(`${hub.url}/negotiate?negotiateVersion=1`, { method: 'POST', headers: { Authorization: `Bearer ${expired}` } });
    expect(exp.status).toBe(401);
    expect(await exp.text()).toContain('expired');

    const garbage = await fetch(`${hub.url}/negotiate?negotiateVersion=1&access_token=not.a.jwt`, { method: 'POST' });
    expect(garbage.status).toBe(401);

    // The official client surfaces the 401 as a failed start, over every transport.
    for (const transport of Object.keys(TRANSPORTS) as TransportKey[]) {
      await expect(connectClient(hub.url, { transport })).rejects.toThrow(/401|Unauthorized/i);
      await expect(connectClient(hub.url, { transport, token: expired })).rejects.toThrow(/401|Unauthorized/i);
    }
    await expect(connectClient(hub.url, { transport: 'WebSockets', skipNegotiation: true })).rejects.toThrow();
  });

  it('lets a valid token in over each transport, with sub and name as identity', async () => {
    const hub = await useHub({ auth: { jwtSecret: SECRET } });
    for (const transport of Object.keys(TRANSPORTS) as TransportKey[]) {
      const token = await hsToken({ sub: 'user-1', name: 'Alice Example' }, { expiresIn: '5m' });
      const c = await connectClient(hub.url, { transport, token });
      const join = await c.invoke('Join', `room-${transport}`, { agentKey: AGENT_KEY_A, name: 'ignored' });
      expect(join.self).toMatchObject({ userId: 'user-1', name: 'Alice Example', peerId: derivePeerId('user-1', AGENT_KEY_A) });
      await c.stop();
    }
    // skipNegotiation takes the token on the upgrade request.
    const token = await hsToken({ sub: 'user-2' }, { expiresIn: '5m' });
    const ws = await connectClient(hub.url, { transport: 'WebSockets', skipNegotiation: true, token });
    expect((await ws.invoke('Join', 'x', {})).self.name).toBe('user-2');
  });

  it('limits rooms with the rooms claim and answers others with a forbidden error', async () => {
    const hub = await useHub({ auth: { jwtSecret: SECRET } });
    const token = await hsToken({ sub: 'u', rooms: ['lobby', 'ops'] }, { expiresIn: '5m' });
    const c = await connectClient(hub.url, { token });
    await expect(c.invoke('Join', 'lobby', {})).resolves.toMatchObject({ room: 'lobby' });
    await expect(c.invoke('Join', 'secret', {})).rejects.toThrow("RTC_ERR_FORBIDDEN: not allowed to join room 'secret'");
    const star = await connectClient(hub.url, { token: await hsToken({ sub: 'v', rooms: '*' }, { expiresIn: '5m' }) });
    await expect(star.invoke('Join', 'secret', {})).resolves.toMatchObject({ room: 'secret' });
  });

  it('keeps another user from taking a peer id, even with the same agentKey', async () => {
    const hub = await useHub({ auth: { jwtSecret: SECRET } });
    const alice = await connectClient(hub.url, { token: await hsToken({ sub: 'alice' }, { expiresIn: '5m' }) });
    const mallory = await connectClient(hub.url, { token: await hsToken({ sub: 'mallory' }, { expiresIn: '5m' }) });
    const a = await alice.invoke('Join', 'r', { agentKey: AGENT_KEY_A });
    const m = await mallory.invoke('Join', 'r', { agentKey: AGENT_KEY_A });
    expect(m.self.peerId).not.toBe(a.self.peerId);
    expect(m.participants.map((p: { peerId: string }) => p.peerId)).toEqual([a.self.peerId]);
  });

  it('refuses a connection request carrying another user\'s token (403)', async () => {
    const hub = await useHub({ auth: { jwtSecret: SECRET } });
    const t1 = await hsToken({ sub: 'one' }, { expiresIn: '5m' });
    const t2 = await hsToken({ sub: 'two' }, { expiresIn: '5m' });
    const neg = (await (await fetch(`${hub.url}/negotiate?negotiateVersion=1`, { method: 'POST', headers: { Authorization: `Bearer ${t1}` } })).json()) as any;
    const poll = await fetch(`${hub.url}?id=${neg.connectionToken}`, { headers: { Authorization: `Bearer ${t2}` } });
    expect(poll.status).toBe(403);
    const noToken = await fetch(`${hub.url}?id=${neg.connectionToken}`);
    expect(noToken.status).toBe(401);
  });
});

describe('JWT auth with public keys', () => {
  for (const [alg, type] of [
    ['RS256', 'rsa'],
    ['ES256', 'ec'],
  ] as const) {
    it(`verifies ${alg} tokens against a PEM public key`, async () => {
      const pair =
        type === 'rsa'
          ? generateKeyPairSync('rsa', { modulusLength: 2048 })
          : generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const publicPem = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
      const privateKey = await importPKCS8(pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), alg);
      const hub = await useHub({ auth: { jwtPublicKey: publicPem } });
      const token = await new SignJWT({ sub: 'k', rooms: ['r'] }).setProtectedHeader({ alg }).setExpirationTime('5m').sign(privateKey);
      const c = await connectClient(hub.url, { token });
      expect((await c.invoke('Join', 'r', {})).self.userId).toBe('k');
      // An HS256 token signed with the PEM text as secret (algorithm confusion) is refused.
      const confused = await new SignJWT({ sub: 'evil' }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(publicPem));
      const res = await fetch(`${hub.url}/negotiate?negotiateVersion=1`, { method: 'POST', headers: { Authorization: `Bearer ${confused}` } });
      expect(res.status).toBe(401);
    });
  }
});

describe('identity without auth', () => {
  it('moves a peer to its new connection when the same agent reconnects, telling the old one', async () => {
    const hub = await useHub();
    const old = await connectClient(hub.url);
    const other = await connectClient(hub.url);
    const first = await old.invoke('Join', 'r', { agentKey: AGENT_KEY_A });
    await other.invoke('Join', 'r', { agentKey: AGENT_KEY_B });
    const fresh = await connectClient(hub.url);
    const replaced = nextCall(old, 'PeerLeft');
    const again = await fresh.invoke('Join', 'r', { agentKey: AGENT_KEY_A });
    expect(again.self.peerId).toBe(first.self.peerId);
    expect(await replaced).toEqual(['r', first.self.peerId, 'replaced']);
    // The old connection no longer speaks for the peer; its disconnect does not remove it.
    await expect(old.invoke('Relay', 'r', null, 'eA==')).rejects.toThrow('RTC_ERR_NOT_IN_ROOM');
    const got = nextCall(other, 'Relayed');
    await fresh.invoke('Relay', 'r', null, 'eQ==');
    expect(await got).toEqual(['r', first.self.peerId, 'eQ==']);
  });
});
