/**
 * Tokens expire on live connections too: when a connection's token passes its `exp` (or `iat`
 * plus the hub's maximum token age) the hub closes it with `RTC_ERR_UNAUTHORIZED: token expired`
 * and allowReconnect, over every transport, as ASP.NET Core's CloseOnAuthenticationExpiration
 * does. A client with a fresh token comes back; one without is refused with 401.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import { describe, expect, it, onTestFinished } from 'vitest';
import { resolveHubOptions } from '../../src/hub/options.js';
import type { Hub } from '../../src/index.js';
import { TRANSPORTS, connectClient, nextCall, record, signalR, until, useHub, type TransportKey } from '../helpers/hub.js';
import { negotiate } from '../helpers/hub-health.js';

const SECRET = 'token-expiry-secret-long-enough';
const BIN = fileURLToPath(new URL('../../bin/rtc-agent.js', import.meta.url));
const RS = '\u001e';

/** An HS256 token for `sub`; `exp`/`iat` in seconds since the epoch, each only when given. */
function token(sub: string, claims: { exp?: number; iat?: number } = {}): Promise<string> {
  const jwt = new SignJWT({ sub }).setProtectedHeader({ alg: 'HS256' });
  if (claims.iat !== undefined) jwt.setIssuedAt(claims.iat);
  if (claims.exp !== undefined) jwt.setExpirationTime(claims.exp);
  return jwt.sign(new TextEncoder().encode(SECRET));
}

const nowS = (): number => Math.floor(Date.now() / 1000);

interface Observed {
  conn: signalR.HubConnection;
  /** The error onreconnecting got (the hub's Close). */
  reconnecting: Promise<Error | undefined>;
  /** Why each reconnect attempt failed, as the retry policy was told. */
  retryReasons: Error[];
  closed: Promise<Error | undefined>;
  reconnected: Promise<void>;
}

/** The official client with one reconnect attempt, at once; its accessTokenFactory calls `tokenNow`. */
function observedClient(hub: Hub, transport: TransportKey, tokenNow: () => string): Observed {
  const retryReasons: Error[] = [];
  const conn = new signalR.HubConnectionBuilder()
    .withUrl(hub.url, { transport: TRANSPORTS[transport], accessTokenFactory: tokenNow })
    .withAutomaticReconnect({
      nextRetryDelayInMilliseconds(ctx) {
        if (ctx.previousRetryCount > 0) retryReasons.push(ctx.retryReason);
        return ctx.previousRetryCount === 0 ? 0 : null;
      },
    })
    .configureLogging(signalR.LogLevel.None)
    .build();
  onTestFinished(() => conn.stop());
  return {
    conn,
    retryReasons,
    reconnecting: new Promise((resolve) => conn.onreconnecting(resolve)),
    closed: new Promise((resolve) => conn.onclose(resolve)),
    reconnected: new Promise((resolve) => conn.onreconnected(() => resolve())),
  };
}

async function unauthorizedCount(hub: Hub): Promise<number> {
  const { values } = await hub.metrics.errors.get();
  return values.find((v) => v.labels.code === 'RTC_ERR_UNAUTHORIZED')?.value ?? 0;
}

describe('tokens that expire on a live connection', () => {
  for (const transport of Object.keys(TRANSPORTS) as TransportKey[]) {
    it(`${transport}: closed with "token expired" and allowReconnect; the reconnect without a new token gets 401`, async () => {
      const hub = await useHub({ auth: { jwtSecret: SECRET } });
      const shortLived = await token('alice', { exp: nowS() + 2 });
      const c = observedClient(hub, transport, () => shortLived);
      await c.conn.start();
      await expect(c.conn.invoke('Join', 'r', {})).resolves.toMatchObject({ self: { userId: 'alice' } });

      // onreconnecting (not onclose) proves allowReconnect: a plain Close would have stopped the client.
      const why = await c.reconnecting;
      expect(String(why)).toContain('RTC_ERR_UNAUTHORIZED: token expired');
      expect(await c.closed).toBeUndefined();
      expect(c.retryReasons).toHaveLength(1);
      expect(String(c.retryReasons[0])).toMatch(/401|Unauthorized/);
      // Counted twice: the close, and the refused negotiate.
      expect(await unauthorizedCount(hub)).toBeGreaterThanOrEqual(2);
    }, 20_000);
  }

  it('a client with a fresh token reconnects and keeps its identity', async () => {
    const hub = await useHub({ auth: { jwtSecret: SECRET } });
    let current = await token('bob', { exp: nowS() + 2 });
    const fresh = await token('bob', { exp: nowS() + 300 });
    const c = observedClient(hub, 'WebSockets', () => current);
    // What a token renewer does: a new token is there before the client asks again.
    c.conn.onreconnecting(() => (current = fresh));
    await c.conn.start();
    const before = await c.conn.invoke('Join', 'r', { agentKey: 'bob-agent-key-aaaaaaaa' });
    expect(String(await c.reconnecting)).toContain('token expired');
    await c.reconnected;
    const after = await c.conn.invoke('Join', 'r', { agentKey: 'bob-agent-key-aaaaaaaa' });
    expect(after.self.peerId).toBe(before.self.peerId);
    expect(c.retryReasons).toEqual([]);
  }, 20_000);

  it('the other members see no PeerLeft when the client rejoins with a fresh token', async () => {
    // Rejoining within the grace is the premise: a minute, so a loaded machine cannot miss it.
    const hub = await useHub({ auth: { jwtSecret: SECRET }, tokenExpiryGraceMs: 60_000 });
    let current = await token('frank', { exp: nowS() + 2 });
    const fresh = await token('frank', { exp: nowS() + 300 });
    const a = observedClient(hub, 'WebSockets', () => current);
    a.conn.onreconnecting(() => (current = fresh));
    await a.conn.start();
    const other = await connectClient(hub.url, { token: await token('grace', { exp: nowS() + 300 }) });
    const { self } = await a.conn.invoke('Join', 'r', { agentKey: 'frank-agent-key-aaaaaaa' });
    await other.invoke('Join', 'r', { agentKey: 'grace-agent-key-aaaaaaa' });
    const left = record(other, 'PeerLeft');
    const joined = record(other, 'PeerJoined');
    await a.reconnected;
    await a.conn.invoke('Join', 'r', { agentKey: 'frank-agent-key-aaaaaaa' });
    await until(() => joined.length === 1, 5_000, 'the rejoin announcement');
    expect(joined[0]?.[1].peerId).toBe(self.peerId);
    expect((await other.invoke('Members', 'r')).participants.map((p: { peerId: string }) => p.peerId)).toEqual([self.peerId]);
    expect(left).toEqual([]);
  }, 20_000);

  it('a member that does not come back is reported left after the grace period', async () => {
    const hub = await useHub({ auth: { jwtSecret: SECRET }, tokenExpiryGraceMs: 300 });
    const shortLived = await token('henry', { exp: nowS() + 2 });
    const a = observedClient(hub, 'WebSockets', () => shortLived);
    await a.conn.start();
    const other = await connectClient(hub.url, { token: await token('ivy', { exp: nowS() + 300 }) });
    const { self } = await a.conn.invoke('Join', 'r', {});
    await other.invoke('Join', 'r', {});
    const left = nextCall(other, 'PeerLeft', 15_000);
    expect(String(await a.reconnecting)).toContain('token expired');
    expect(await left).toEqual(['r', self.peerId, 'disconnected']);
    expect(await a.closed).toBeUndefined();
    expect(String(a.retryReasons[0])).toMatch(/401|Unauthorized/);
  }, 20_000);

  it('a token without exp is bounded by iat + the maximum token age', async () => {
    const hub = await useHub({ auth: { jwtSecret: SECRET, maxAgeMs: 2_000 } });
    const noExp = await token('carol', { iat: nowS() });
    const c = observedClient(hub, 'WebSockets', () => noExp);
    await c.conn.start();
    expect(String(await c.reconnecting)).toContain('RTC_ERR_UNAUTHORIZED: token expired');
    expect(await c.closed).toBeUndefined();
    expect(String(c.retryReasons[0])).toMatch(/401|Unauthorized/);
  }, 20_000);

  it('a long-polling request with the same user\'s expired token closes the connection, and the poll takes the Close', async () => {
    const hub = await useHub({ auth: { jwtSecret: SECRET } });
    const valid = await token('dave', { exp: nowS() + 300 });
    const expired = await token('dave', { exp: nowS() - 10 });
    const otherExpired = await token('eve', { exp: nowS() - 10 });
    const neg = await fetch(`${hub.url}/negotiate?negotiateVersion=1`, { method: 'POST', headers: { Authorization: `Bearer ${valid}` } });
    const { connectionToken } = (await neg.json()) as { connectionToken: string };
    const url = `${hub.url}?id=${connectionToken}`;
    const auth = (t: string): Record<string, string> => ({ Authorization: `Bearer ${t}` });
    expect((await fetch(url, { headers: auth(valid) })).status).toBe(200); // the first poll returns at once
    expect((await fetch(url, { method: 'POST', headers: auth(valid), body: `{"protocol":"json","version":1}${RS}` })).status).toBe(200);
    expect(await (await fetch(url, { headers: auth(valid) })).text()).toBe(`{}${RS}`);

    // Another user's expired token is refused and changes nothing.
    expect((await fetch(url, { headers: auth(otherExpired) })).status).toBe(401);
    // This user's: the connection is over, and the poll carries the Close.
    const poll = await fetch(url, { headers: auth(expired) });
    expect(poll.status).toBe(200);
    const close = JSON.parse((await poll.text()).split(RS)[0] as string);
    expect(close).toEqual({ type: 7, error: 'RTC_ERR_UNAUTHORIZED: token expired', allowReconnect: true });
    expect((await fetch(url, { method: 'POST', headers: auth(valid), body: `{"type":6}${RS}` })).status).toBe(404);
  });
});

describe('--jwt-max-age / auth.maxAgeMs', () => {
  it('requires iat and refuses tokens older than the maximum age at negotiate', async () => {
    const hub = await useHub({ auth: { jwtSecret: SECRET, maxAgeMs: 60_000 } });
    const post = (t: string): Promise<Response> => fetch(`${hub.url}/negotiate?negotiateVersion=1`, { method: 'POST', headers: { Authorization: `Bearer ${t}` } });
    const noIat = await post(await token('u', { exp: nowS() + 300 }));
    expect(noIat.status).toBe(401);
    expect(await noIat.text()).toBe("RTC_ERR_UNAUTHORIZED: token has no 'iat' claim (the hub has a maximum token age, --jwt-max-age)");
    const old = await post(await token('u', { iat: nowS() - 120, exp: nowS() + 300 }));
    expect(old.status).toBe(401);
    expect(await old.text()).toBe('RTC_ERR_UNAUTHORIZED: token expired');
    expect((await post(await token('u', { iat: nowS() }))).status).toBe(200);
    // Without a maximum age, a token without exp or iat never expires.
    const open = await useHub({ auth: { jwtSecret: SECRET } });
    await negotiate(open, `&access_token=${await token('u')}`);
  });

  it('names a bad maximum age in the hub options', () => {
    expect(() => resolveHubOptions({ auth: { jwtSecret: SECRET, maxAgeMs: 500 } })).toThrow("hub setting 'auth.maxAgeMs' must be an integer of at least 1000 ms");
    expect(() => resolveHubOptions({ auth: { maxAgeMs: 60_000 } })).toThrow("hub setting 'auth.maxAgeMs' needs auth.jwtSecret or auth.jwtPublicKey");
  });

  it('a bad --jwt-max-age is a usage error (exit 2) naming the flag', async () => {
    const run = (args: string[]): Promise<{ code: number | null; stderr: string }> =>
      new Promise((resolve) => {
        const child = spawn(process.execPath, [BIN, 'hub', '--port', '0', ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, RTC_AGENT_JWT_SECRET: SECRET } });
        onTestFinished(() => {
          if (child.exitCode === null) child.kill('SIGKILL');
        });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.once('exit', (code) => resolve({ code, stderr }));
      });
    for (const value of ['15', 'soon', '-5m', '500ms']) {
      const { code, stderr } = await run(['--jwt-max-age', value]);
      expect(code, value).toBe(2);
      expect(stderr).toContain(`option '--jwt-max-age <duration>' argument '${value}' is invalid`);
    }
    const noAuth = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const env = { ...process.env };
      delete env.RTC_AGENT_JWT_SECRET;
      const child = spawn(process.execPath, [BIN, 'hub', '--port', '0', '--jwt-max-age', '15m'], { stdio: ['ignore', 'ignore', 'pipe'], env });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('exit', (code) => resolve({ code, stderr }));
    });
    expect(noAuth.code).toBe(2);
    expect(noAuth.stderr).toContain('--jwt-max-age needs --jwt-secret or --jwt-public-key');
  }, 30_000);
});
