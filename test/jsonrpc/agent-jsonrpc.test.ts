/**
 * The agent over JSON-RPC 2.0 signaling: through a server we did not build (test/helpers/
 * independent-jsonrpc-server.ts, no relay extension) it opens P2P links, says relay is unavailable
 * and fails sends that find no P2P link with RTC_ERR_SEND_TIMEOUT; through rtc-agent hub's /rpc it
 * relays too (our extension); JSON-RPC and SignalR agents in one room see each other, signal
 * (P2P) and relay.
 */
import { SignJWT } from 'jose';
import { pino } from 'pino';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createAgent, startHub } from '../../src/index.js';
import { inbox, p2pTo, testAgentOptions, useAgent } from '../helpers/agents.js';
import { useHub } from '../helpers/hub.js';
import { startIndependentServer } from '../helpers/independent-jsonrpc-server.js';
import { rpcUrl } from '../helpers/raw-jsonrpc.js';
import { waitUntil } from '../helpers/wait.js';

/** An ICE bind address not on this machine (TEST-NET-1, RFC 5737): this agent's P2P links never open. */
const BROKEN_ICE = { iceBindAddress: '192.0.2.1' };

function recordingLogger(): { logger: pino.Logger; lines: { msg?: string; level?: number; [k: string]: unknown }[] } {
  const lines: { msg?: string }[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as { msg?: string }) });
  return { logger, lines };
}

describe('agent on a JSON-RPC signaling server we did not build', () => {
  it('opens P2P through it, and says relay is unavailable', async () => {
    const server = await startIndependentServer();
    const { logger, lines } = recordingLogger();
    const a = await useAgent(server.url, { name: 'alice', logger });
    const b = await useAgent(server.url, { name: 'bob' });
    expect(a.relayAvailable).toBe(false);
    expect(a.settings.allowRelay).toBe(false);
    expect(lines).toContainEqual(expect.objectContaining({ level: 40, msg: expect.stringMatching(/^relay is unavailable: .*offers no relay .*RTC_ERR_SEND_TIMEOUT/) }));
    const ra = await a.join('lobby');
    const rb = await b.join('lobby');
    await waitUntil(() => ra.peer(rb.selfId) && rb.peer(ra.selfId), { what: 'both agents to see each other' });
    expect(ra.peer(rb.selfId)).toMatchObject({ name: 'bob' });

    const atB = inbox(b);
    const atA = inbox(a);
    await ra.send('hello over p2p');
    expect((await atB.waitFor(1))[0]).toMatchObject({ text: 'hello over p2p', path: 'p2p', from: ra.selfId, name: 'alice' });
    await rb.send('and back', { to: ra.selfId });
    expect((await atA.waitFor(1))[0]).toMatchObject({ text: 'and back', path: 'p2p', from: rb.selfId });
    await p2pTo(a, 1);
    // Only the methods carried it: the server answered our extension probe -32601, and no relay was tried.
    expect(new Set(server.calls)).toEqual(new Set(['rtcagent.hello', 'announce', 'offer', 'answer', 'ice_candidate']));
  });

  it('without a P2P link, sends wait and fail with RTC_ERR_SEND_TIMEOUT, as with allowRelay: false', async () => {
    const server = await startIndependentServer();
    const a = await useAgent(server.url, { iceConnectionTimeoutMs: 500, sendTimeoutMs: 1_500 });
    const b = await useAgent(server.url, BROKEN_ICE);
    const ra = await a.join('strict');
    const rb = await b.join('strict');
    await waitUntil(() => ra.peer(rb.selfId), { what: 'b in the room' });
    expect(ra.peer(rb.selfId)!.path).toBe('none');
    await expect(ra.send('never relayed', { to: rb.selfId })).rejects.toMatchObject({ code: 'RTC_ERR_SEND_TIMEOUT' });
    expect(server.calls).not.toContain('rtcagent.relay');
  });

  it('a peer leaving is announced (peer_left) and the room goes on', async () => {
    const server = await startIndependentServer();
    const a = await useAgent(server.url);
    const b = await useAgent(server.url);
    const ra = await a.join('lobby');
    const rb = await b.join('lobby');
    await waitUntil(() => ra.peer(rb.selfId), { what: 'b in the room' });
    await rb.leave();
    await waitUntil(() => ra.peer(rb.selfId) === undefined, { what: 'a to see b leave' });
  });
});

describe("agent on rtc-agent hub's /rpc", () => {
  it('relays through the hub (our extension) when P2P is off', async () => {
    const hub = await useHub();
    const a = await useAgent(rpcUrl(hub), { tryNative: false, name: 'a' });
    const b = await useAgent(rpcUrl(hub), { tryNative: false, name: 'b' });
    expect(a.relayAvailable).toBe(true);
    expect(a.settings.allowRelay).toBe(true);
    const ra = await a.join('relayed');
    const rb = await b.join('relayed');
    await waitUntil(() => ra.peer(rb.selfId), { what: 'b in the room' });
    const atB = inbox(b);
    await ra.send('via the hub');
    expect((await atB.waitFor(1))[0]).toMatchObject({ text: 'via the hub', path: 'relay', from: ra.selfId, name: 'a' });
  });

  it('sends its JWT (Authorization header): the hub names it from the token; a bad token is RTC_ERR_UNAUTHORIZED', async () => {
    const secret = 'jsonrpc-agent-test-secret-long-enough';
    const hub = await useHub({ auth: { jwtSecret: secret } });
    const token = await new SignJWT({ sub: 'u-rpc', name: 'Token Name' }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('5m').sign(new TextEncoder().encode(secret));
    const a = await useAgent(rpcUrl(hub), { accessToken: token });
    const ra = await a.join('authed');
    const signalr = await useAgent(hub.url, { accessToken: token, name: 'other' });
    const rs = await signalr.join('authed');
    await waitUntil(() => rs.peer(ra.selfId), { what: 'the JSON-RPC agent in the room' });
    expect(rs.peer(ra.selfId)).toMatchObject({ name: 'Token Name' });
    await expect(createAgent(testAgentOptions(rpcUrl(hub), { accessToken: 'not.a.jwt' }))).rejects.toMatchObject({ code: 'RTC_ERR_UNAUTHORIZED' });
  });

  it('fails over to the next JSON-RPC hub of its list and rejoins its rooms with the same peer id', async () => {
    const h1 = await startHub({ host: '127.0.0.1', port: 0 });
    onTestFinished(() => h1.close());
    const h2 = await useHub();
    const mover = await useAgent([rpcUrl(h1), rpcUrl(h2)].join(','), { tryNative: false, reconnectIntervalMs: 100, name: 'mover' });
    const rm = await mover.join('moving');
    const stayer = await useAgent(rpcUrl(h2), { tryNative: false, name: 'stayer' });
    const rs = await stayer.join('moving');
    expect(mover.hubUrl).toBe(rpcUrl(h1));
    const before = rm.selfId;
    await h1.close();
    await waitUntil(() => rs.peer(before), { what: 'the mover to rejoin on the second hub', timeoutMs: 20_000 });
    expect(mover.hubUrl).toBe(rpcUrl(h2));
    const atS = inbox(stayer);
    await rm.send('after the move');
    expect((await atS.waitFor(1))[0]).toMatchObject({ text: 'after the move', from: before, path: 'relay' });
  });

  it('JSON-RPC and SignalR agents in one room see each other, open P2P and relay', async () => {
    const hub = await useHub();
    const rpc = await useAgent(rpcUrl(hub), { name: 'rpc' });
    const signalr = await useAgent(hub.url, { name: 'signalr' });
    const rr = await rpc.join('mixed');
    const rs = await signalr.join('mixed');
    await waitUntil(() => rr.peer(rs.selfId) && rs.peer(rr.selfId), { what: 'both agents to see each other' });
    expect(rr.peer(rs.selfId)).toMatchObject({ name: 'signalr' });
    expect(rs.peer(rr.selfId)).toMatchObject({ name: 'rpc' });
    // The offer, answer and candidates crossed protocols through the hub: the link opens.
    await p2pTo(rpc, 1);
    await p2pTo(signalr, 1);
    const atS = inbox(signalr);
    const atR = inbox(rpc);
    await rr.send('rpc to signalr');
    expect((await atS.waitFor(1))[0]).toMatchObject({ text: 'rpc to signalr', path: 'p2p', from: rr.selfId });
    await rs.send('signalr to rpc');
    expect((await atR.waitFor(1))[0]).toMatchObject({ text: 'signalr to rpc', path: 'p2p', from: rs.selfId });

    // Relay across the two protocols: an agent that cannot do P2P joins on each side.
    const rpcRelay = await useAgent(rpcUrl(hub), { name: 'rpc-relay', tryNative: false });
    const signalrRelay = await useAgent(hub.url, { name: 'signalr-relay', tryNative: false });
    const rrr = await rpcRelay.join('mixed');
    const rsr = await signalrRelay.join('mixed');
    await waitUntil(() => rrr.peer(rsr.selfId) && rsr.peer(rrr.selfId), { what: 'the relay-only agents to see each other' });
    const atSr = inbox(signalrRelay);
    const atRr = inbox(rpcRelay);
    await rrr.send('relayed rpc to signalr', { to: rsr.selfId });
    expect((await atSr.waitFor(1))[0]).toMatchObject({ text: 'relayed rpc to signalr', path: 'relay', from: rrr.selfId });
    await rsr.send('relayed signalr to rpc', { to: rrr.selfId });
    expect((await atRr.waitFor(1))[0]).toMatchObject({ text: 'relayed signalr to rpc', path: 'relay', from: rsr.selfId });
  });
});
