/**
 * The ASP.NET Core hub (interop/aspnet-hub) over SignalR's MessagePack hub protocol, which it adds
 * with AddMessagePackProtocol: the official client with MessagePackHubProtocol uses the room
 * contract there (relay payloads as bytes), JSON clients share its rooms, and rtc-agent agents —
 * MessagePack by default — relay and set up P2P through it, with binary frames and no base64 on
 * the wire; a hub without it (`--JsonOnly true`) gets agents over JSON. Built once and cached (interop/support/aspnet-hub.ts); skipped, with the reason
 * printed, when `dotnet` is not on PATH.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { AGENT_KEY_A, AGENT_KEY_B, connectClient, nextCall } from '../helpers/hub.js';
import { connectProtocolClient, serverFrames } from '../helpers/msgpack.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { inbox, p2pTo, useAgent } from '../helpers/agents.js';
import { waitUntil } from '../helpers/wait.js';
import { ASPNET_BUILD_TIMEOUT_MS, ASPNET_DIR, DOTNET_ENV, aspNetHubArgs, ensureAspNetHubBuilt, probeDotnet } from '../../interop/support/aspnet-hub.js';

const START_TIMEOUT_MS = 30_000;
const dotnet = probeDotnet();
const skipReason = 'missing' in dotnet ? dotnet.missing : undefined;
if (skipReason !== undefined) console.warn(`aspnet-hub MessagePack interop tests skipped: ${skipReason}; install the .NET 10 SDK to run them`);

/** Starts the built hub on 127.0.0.1 port 0 (its first stdout line is the URL); stop() ends it. */
async function startAspNetHub(extra: string[] = []): Promise<{ url: string; stop(): Promise<void> }> {
  const child = spawn('dotnet', aspNetHubArgs(extra), { cwd: ASPNET_DIR, env: DOTNET_ENV, stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.stdin.end();
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no URL within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`exited with ${code}`)));
      createInterface({ input: child.stdout }).once('line', (line) => {
        clearTimeout(timer);
        resolve(line);
      });
    });
    if (!/^http:\/\/127\.0\.0\.1:\d+\/hub$/.test(url)) throw new Error(`unexpected first line ${JSON.stringify(url)}`);
    return { url, stop };
  } catch (e) {
    await stop();
    throw new Error(`ASP.NET hub did not start: ${(e as Error).message}; stderr: ${err}`);
  }
}

describe.skipIf(skipReason !== undefined)('ASP.NET Core hub over MessagePack', () => {
  let hub: { url: string; stop(): Promise<void> } | undefined;
  const url = (): string => hub!.url;

  beforeAll(async () => {
    await ensureAspNetHubBuilt();
    hub = await startAspNetHub();
  }, ASPNET_BUILD_TIMEOUT_MS + START_TIMEOUT_MS);

  afterAll(() => hub?.stop(), 15_000);

  it('implements the room contract for the official MessagePack client; a JSON client in the room gets base64', async () => {
    const mp = await connectProtocolClient(url(), 'messagepack');
    const json = await connectClient(url());
    const joined = await mp.invoke('Join', 'aspnet-mp', { agentKey: AGENT_KEY_A, name: 'mp', capabilities: { native: true }, meta: { k: 'v' } });
    // The JSON protocol's camelCase names, also over MessagePack.
    expect(joined).toMatchObject({ room: 'aspnet-mp', self: { name: 'mp', capabilities: { native: true }, meta: { k: 'v' } }, participants: [], contractVersion: 1, features: ['members'] });
    const mpId: string = joined.self.peerId;
    const peerJoined = nextCall(mp, 'PeerJoined');
    const jsonId: string = (await json.invoke('Join', 'aspnet-mp', { agentKey: AGENT_KEY_B, name: 'json' })).self.peerId;
    expect((await peerJoined)[1]).toMatchObject({ peerId: jsonId, name: 'json', capabilities: { native: false } });
    expect(await mp.invoke('Members', 'aspnet-mp')).toMatchObject({ room: 'aspnet-mp', participants: [{ peerId: jsonId }] });

    // Bytes from MessagePack reach the JSON client as base64, and base64 from JSON arrive as bytes.
    const bytes = new Uint8Array([0, 1, 2, 253, 254, 255]);
    const atJson = nextCall(json, 'Relayed');
    await mp.invoke('Relay', 'aspnet-mp', jsonId, bytes);
    expect(await atJson).toEqual(['aspnet-mp', mpId, Buffer.from(bytes).toString('base64')]);
    const atMp = nextCall(mp, 'Relayed');
    await json.invoke('Relay', 'aspnet-mp', null, Buffer.from('from json').toString('base64'));
    const [, from, payload] = await atMp;
    expect(from).toBe(jsonId);
    expect(payload).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(payload as Uint8Array).toString()).toBe('from json');

    // Signals are objects in both protocols, nested values kept.
    const signal = { type: 'offer', sdp: 'v=0', nested: { list: [1, 'two', null], ok: true } };
    const sigAtJson = nextCall(json, 'Signal');
    await mp.invoke('Signal', 'aspnet-mp', jsonId, signal);
    expect(await sigAtJson).toEqual(['aspnet-mp', mpId, signal]);
    const sigAtMp = nextCall(mp, 'Signal');
    await json.invoke('Signal', 'aspnet-mp', mpId, signal);
    expect(await sigAtMp).toEqual(['aspnet-mp', jsonId, signal]);

    // Wrong types are refused with the contract's errors, over MessagePack too.
    await expect(mp.invoke('Signal', 'aspnet-mp', jsonId, 'not an object')).rejects.toThrow(/RTC_ERR_BAD_REQUEST: Signal's signal must be an object, got string/);
    await expect(mp.invoke('Relay', 'aspnet-mp', jsonId, 42)).rejects.toThrow(/RTC_ERR_BAD_REQUEST: Relay's payload must be .* got number/);
    await expect(mp.invoke('Join', 'aspnet-mp', { agentKey: 7 })).rejects.toThrow(/RTC_ERR_BAD_REQUEST: hello.agentKey/);
  });

  it('carries agents relaying over MessagePack, binary frames and no base64 on the wire, with a JSON agent in the room', async () => {
    const down: Buffer[] = [];
    const port = Number(new URL(url()).port);
    const tap = await TcpProxy.start(port, { tap: (dir, chunk) => (dir === 'down' && down.push(Buffer.from(chunk)), chunk) });
    onTestFinished(() => tap.close());
    const a = await useAgent(url(), { tryNative: false, name: 'mp-a' });
    const b = await useAgent(url().replace(`:${port}`, `:${tap.port}`), { tryNative: false, name: 'mp-b' });
    const c = await useAgent(url(), { tryNative: false, name: 'json-c', hubProtocol: 'json' });
    const rooms = [await a.join('aspnet-agents'), await b.join('aspnet-agents'), await c.join('aspnet-agents')];
    await waitUntil(() => rooms.every((r) => r.peers().length === 2), { what: 'all three agents to see each other' });
    const [atB, atC, atA] = [inbox(b), inbox(c), inbox(a)];
    const payload = randomBytes(40 * 1024);
    await rooms[0]!.send(payload);
    await rooms[2]!.send('from the JSON agent');
    const [gotB, gotC, gotA] = await Promise.all([atB.waitFor(2), atC.waitFor(1), atA.waitFor(1)]);
    expect(Buffer.from(gotB.find((m) => m.kind === 'binary')!.data as Uint8Array).equals(payload)).toBe(true);
    expect(gotB.find((m) => m.kind === 'text')).toMatchObject({ text: 'from the JSON agent', path: 'relay' });
    expect(Buffer.from(gotC[0]!.data as Uint8Array).equals(payload)).toBe(true);
    expect(gotA[0]).toMatchObject({ text: 'from the JSON agent', path: 'relay' });

    const wire = Buffer.concat(down);
    const data = serverFrames(wire).filter((f) => f.opcode === 0x1 || f.opcode === 0x2);
    expect(data.length).toBeGreaterThan(1);
    expect(data.every((f) => f.opcode === 0x2)).toBe(true);
    const probe = payload.subarray(2_000, 2_048);
    expect(wire.includes(probe)).toBe(true);
    expect(wire.includes(Buffer.from(probe.toString('base64').slice(4, 40)))).toBe(false);
  });

  it('sets up P2P between MessagePack agents through it (signals as MessagePack maps)', async () => {
    const a = await useAgent(url(), { name: 'p2p-a' });
    const b = await useAgent(url(), { name: 'p2p-b' });
    const ra = await a.join('aspnet-mp-p2p');
    const rb = await b.join('aspnet-mp-p2p');
    await Promise.all([p2pTo(a, 1), p2pTo(b, 1)]);
    const atB = inbox(b);
    await ra.send('over P2P', { to: rb.selfId });
    expect((await atB.waitFor(1))[0]).toMatchObject({ text: 'over P2P', path: 'p2p', from: ra.selfId });
  });

  it('agents (MessagePack by default) fall back to JSON on a hub without the MessagePack protocol, and relay', async () => {
    const jsonOnly = await startAspNetHub(['--JsonOnly', 'true']);
    onTestFinished(() => jsonOnly.stop());
    // The hub really lacks it: the official MessagePack client is refused in the handshake.
    await expect(connectProtocolClient(jsonOnly.url, 'messagepack')).rejects.toThrow(/protocol 'messagepack' is not supported/);
    const a = await useAgent(jsonOnly.url, { tryNative: false, name: 'fallback-a' });
    const b = await useAgent(jsonOnly.url, { tryNative: false, name: 'fallback-b' });
    const ra = await a.join('aspnet-json-only');
    const rb = await b.join('aspnet-json-only');
    await waitUntil(() => ra.peers().length === 1 && rb.peers().length === 1, { what: 'both agents to see each other' });
    const atB = inbox(b);
    const payload = randomBytes(20 * 1024);
    await ra.send(payload, { to: rb.selfId });
    const [got] = await atB.waitFor(1);
    expect(got).toMatchObject({ kind: 'binary', path: 'relay', from: ra.selfId });
    expect(Buffer.from(got!.data as Uint8Array).equals(payload)).toBe(true);
  });
});
