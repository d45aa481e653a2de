/**
 * Agents whose tokens expire: the hub closes the connection when the token runs out, and the agent
 * reconnects with a fresh one, from a token file it reads again, from its environment read again,
 * or from a callback. It stays in its rooms under the same peer id, and reliable messages in both
 * directions arrive exactly once, in order, across every expiry close.
 */
import { createHmac } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, jwtVerify } from 'jose';
import { describe, expect, it, onTestFinished } from 'vitest';
import { settingsFromFlags } from '../../src/cli/agent-flags.js';
import { ErrorCode, RtcAgentError, createAgent, type Agent, type Hub, type ReceivedMessage } from '../../src/index.js';
import { inbox, testAgentOptions, useAgent } from '../helpers/agents.js';
import { useHub } from '../helpers/hub.js';

const SECRET = 'token-refresh-secret-long-enough';
/** Relay only, so every message crosses the hub connection that keeps being closed; quick retries. */
const RELAY = { tryNative: false, reconnectIntervalMs: 100, heartbeatIntervalMs: 2_000 } as const;

/** A token for `sub` that expires `seconds` from now (JWT times count whole seconds). */
function mint(sub: string, seconds: number): Promise<string> {
  return new SignJWT({ sub })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + seconds)
    .sign(new TextEncoder().encode(SECRET));
}

/**
 * The same token, signed synchronously with node:crypto (HS256 is one HMAC): the renewer below
 * must write the file inside the event handler, before the reconnect reads it.
 */
function mintSync(sub: string, seconds: number): string {
  const now = Math.floor(Date.now() / 1000);
  const part = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const body = `${part({ alg: 'HS256' })}.${part({ sub, iat: now, exp: now + seconds })}`;
  return `${body}.${createHmac('sha256', SECRET).update(body).digest('base64url')}`;
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rtc-token-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Replaces the file in one step, as a token renewer should: a reader never sees half a token. */
function writeAtomically(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}

/** Resolves after the agent has gone 'reconnecting' → 'connected' `times` times. */
function reconnects(agent: Agent, times: number, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = 0;
    let reconnecting = false;
    const timer = setTimeout(() => reject(new Error(`only ${seen}/${times} reconnects within ${ms} ms`)), ms);
    const onHub = (state: string): void => {
      if (state === 'reconnecting') reconnecting = true;
      if (state === 'connected' && reconnecting) {
        reconnecting = false;
        if (++seen >= times) {
          clearTimeout(timer);
          agent.off('hub', onHub);
          resolve();
        }
      }
    };
    agent.on('hub', onHub);
  });
}

function expectSequence(messages: ReceivedMessage[], from: string, count: number): void {
  const numbers = messages.filter((m) => m.from === from).map((m) => (m.data as { n: number }).n);
  expect(numbers).toEqual(Array.from({ length: count }, (_, i) => i));
}

async function unauthorizedCloses(hub: Hub): Promise<number> {
  const { values } = await hub.metrics.errors.get();
  return values.find((v) => v.labels.code === ErrorCode.UNAUTHORIZED)?.value ?? 0;
}

/** A peer with a long-lived token, in `room`. */
async function steadyPeer(hub: Hub, room: string): Promise<{ agent: Agent; room: Awaited<ReturnType<Agent['join']>> }> {
  const agent = await useAgent(hub.url, { ...RELAY, name: 'steady', accessToken: await mint('steady', 300) });
  return { agent, room: await agent.join(room) };
}

describe('agents refresh their token', () => {
  it('from a token file rewritten by a renewer: same room, same peer id, every message exactly once', async () => {
    const hub = await useHub({ auth: { jwtSecret: SECRET } });
    expect((await jwtVerify(mintSync('check', 60), new TextEncoder().encode(SECRET))).payload.sub).toBe('check');
    const file = join(tempDir(), 'hub.token');
    // The first token lives long enough to connect and join on a loaded machine; every renewed one, 2 s.
    writeAtomically(file, `${await mint('rotating', 4)}\n`);
    const a = await useAgent(hub.url, { ...RELAY, name: 'rotating', accessTokenFile: file });
    let renewed = 0;
    a.on('hub', (state) => {
      // The renewer writes the next token as soon as the hub dropped the old one; synchronously, so
      // it is in place before the reconnect reads the file.
      if (state === 'reconnecting') {
        writeAtomically(file, `${mintSync('rotating', 2)}\n`);
        renewed++;
      }
    });
    const ra = await a.join('rotation');
    const b = await steadyPeer(hub, 'rotation');
    await expect.poll(() => ra.peers().length).toBe(1);
    const peerIdBefore = ra.selfId;
    const leftAtB: string[] = [];
    b.agent.on('peer-left', (p) => leftAtB.push(`${p.peerId} ${p.reason}`));
    const atA = inbox(a);
    const atB = inbox(b.agent);

    // Both directions keep sending while A's connection is closed and reopened twice.
    const cycles = reconnects(a, 2, 30_000);
    let done = false;
    void cycles.then(() => (done = true), () => (done = true));
    let sentByA = 0;
    let sentByB = 0;
    while (!done && sentByA < 2_000) {
      await ra.send({ n: sentByA++ });
      await b.room.send({ n: sentByB++ });
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await cycles;
    // What a close cut off comes again with the room's relay resend timer, one per close at worst.
    expectSequence(await atB.waitFor(sentByA, 30_000), ra.selfId, sentByA);
    expectSequence(await atA.waitFor(sentByB, 30_000), b.room.selfId, sentByB);
    await ra.flush(5_000);
    await b.room.flush(5_000);
    expect(atB.messages).toHaveLength(sentByA);
    expect(atA.messages).toHaveLength(sentByB);

    expect(renewed).toBeGreaterThanOrEqual(2);
    expect(ra.selfId).toBe(peerIdBefore);
    expect(a.room('rotation')).toBe(ra);
    expect(b.room.peers().map((p) => p.peerId)).toEqual([peerIdBefore]);
    // B never saw A leave: the hub kept A listed until it rejoined.
    expect(leftAtB).toEqual([]);
    // The hub closed A for its token each time (and refused nothing else).
    expect(await unauthorizedCloses(hub)).toBe(renewed);
  }, 90_000);

  it('from the environment it was given, read again on each connect', async () => {
    const hub = await useHub({ auth: { jwtSecret: SECRET } });
    const env: NodeJS.ProcessEnv = { RTC_AGENT_ACCESS_TOKEN: await mint('from-env', 3) };
    const fresh = await mint('from-env', 300);
    const a = await useAgent(hub.url, { ...RELAY, env });
    a.on('hub', (state) => {
      if (state === 'reconnecting') env.RTC_AGENT_ACCESS_TOKEN = fresh;
    });
    const ra = await a.join('env');
    const b = await steadyPeer(hub, 'env');
    await reconnects(a, 1, 20_000);
    const atB = inbox(b.agent);
    await ra.send({ n: 0 });
    expectSequence(await atB.waitFor(1), ra.selfId, 1);
    expect(ra.peers()[0]?.peerId).toBe(b.room.selfId);
  }, 30_000);

  it('from a callback, which may fail for a while', async () => {
    const hub = await useHub({ auth: { jwtSecret: SECRET } });
    let current = await mint('from-callback', 3);
    const fresh = await mint('from-callback', 300);
    let calls = 0;
    let failures = 0;
    let expired = false;
    const a = await useAgent(hub.url, {
      ...RELAY,
      accessTokenFactory: () => {
        calls++;
        // The token service is down for the first reconnect attempt; the next one gets a token.
        if (expired && failures === 0) {
          failures++;
          throw new Error('token service unavailable');
        }
        return current;
      },
    });
    a.on('hub', (state) => {
      if (state === 'reconnecting') {
        expired = true;
        current = fresh;
      }
    });
    const ra = await a.join('callback');
    await reconnects(a, 1, 20_000);
    expect(failures).toBe(1);
    expect(calls).toBeGreaterThanOrEqual(3);
    expect(a.room('callback')).toBe(ra);
    const b = await steadyPeer(hub, 'callback');
    await expect.poll(() => ra.peers().map((p) => p.peerId)).toEqual([b.room.selfId]);
  }, 30_000);
});

describe('token settings', () => {
  it('refuse a missing or bad token file, and two token sources at once, naming the setting', async () => {
    const hub = await useHub({ auth: { jwtSecret: SECRET } });
    const dir = tempDir();
    const missing = join(dir, 'missing.token');
    const configError = async (options: Parameters<typeof createAgent>[0]): Promise<RtcAgentError> => {
      const err = await createAgent(testAgentOptions(hub.url, { ...RELAY, ...options })).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RtcAgentError);
      expect((err as RtcAgentError).code).toBe(ErrorCode.CONFIG);
      return err as RtcAgentError;
    };
    expect((await configError({ accessTokenFile: missing })).message).toBe(`setting 'accessTokenFile': cannot read ${missing}: ENOENT`);
    const empty = join(dir, 'empty.token');
    writeFileSync(empty, '\n');
    expect((await configError({ accessTokenFile: empty })).message).toBe(`setting 'accessTokenFile': ${empty} is empty`);
    const prefixed = join(dir, 'prefixed.token');
    writeFileSync(prefixed, 'Bearer abc.def.ghi\n');
    const bad = await configError({ accessTokenFile: prefixed });
    expect(bad.message).toBe(`setting 'accessTokenFile': the token in ${prefixed} must be the token alone, without 'Bearer '`);
    expect(bad.message).not.toContain('abc.def');
    expect((await configError({ accessTokenFile: empty, accessToken: 'a.b.c' })).message).toBe(
      "settings 'accessToken' and 'accessTokenFile' are both set; give one of them",
    );
  });

  it('--access-token-file sets accessTokenFile', () => {
    expect(settingsFromFlags({ accessTokenFile: '/run/secrets/hub.token' })).toEqual({ accessTokenFile: '/run/secrets/hub.token' });
  });
});
