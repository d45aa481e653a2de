/**
 * Relay fallback, both cases: the native binding cannot load (a real import failure in a child
 * process), and a P2P link that cannot open within the ICE timeout. Also: relay turned off.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { useHub } from '../helpers/hub.js';
import { inbox, p2pTo, spawnChildAgent, useAgent } from '../helpers/agents.js';
import { waitUntil } from '../helpers/wait.js';
import { derivePeerId, type PathChange } from '../../src/index.js';

/**
 * An ICE bind address that is not on this machine (TEST-NET-1, RFC 5737): the agent can gather no
 * candidate and send nothing, so its peer's link can never open. No packet leaves loopback.
 */
const BROKEN_ICE = { iceBindAddress: '192.0.2.1' };

/**
 * Two agent keys, ordered by the peer ids the hub derives from them (no auth: user id null). The
 * lower peer id offers (src/engine/peer-session.ts isOfferer), so a test picks each agent's role.
 */
const [OFFERER_KEY, ANSWERER_KEY] = ['fallback-test-key-number-one', 'fallback-test-key-number-two'].sort((x, y) =>
  derivePeerId(null, x) < derivePeerId(null, y) ? -1 : 1,
) as [string, string];

/** A logger that keeps its JSON lines, so a test can see why the agent did something. */
function recordingLogger(): { logger: pino.Logger; lines: { msg?: string; [k: string]: unknown }[] } {
  const lines: { msg?: string }[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as { msg?: string }) });
  return { logger, lines };
}

describe('native binding that cannot load', () => {
  it('runs the agent in relay mode and still chats with a native agent', async () => {
    const hub = await useHub();
    const native = await useAgent(hub.url, { name: 'native' });
    const room = await native.join('mixed');
    const box = inbox(native);
    const child = spawnChildAgent({ RTC_AGENT_HUB_URL: hub.url, RTC_AGENT_NAME: 'relay-only', ROOM: 'mixed', ECHO: '1' }, { blockNative: true });
    const ready = await child.next((e) => e.event === 'ready');
    expect(ready.native).toBe(false);
    expect(ready.nativeReason).toContain('node-datachannel');
    // One clear warning with the reason, on stderr.
    expect(child.stderr()).toContain('native WebRTC unavailable; all peers will use the hub relay');

    await waitUntil(() => room.peer(ready.peerId), { what: 'the relay-only child in the room' });
    expect(room.peer(ready.peerId)).toMatchObject({ native: false, path: 'relay', p2p: 'none' });
    await room.send('ping over relay', { to: ready.peerId });
    const echo = await box.waitFor(1);
    expect(echo[0]).toMatchObject({ text: 'echo:ping over relay', path: 'relay', from: ready.peerId, name: 'relay-only' });
    const atChild = await child.next((e) => e.event === 'message');
    expect(atChild).toMatchObject({ text: 'ping over relay', path: 'relay', from: room.selfId });
    child.command({ cmd: 'close' });
    expect(await child.exit).toBe(0);
  });
});

describe('P2P link that cannot open', () => {
  it('falls back to relay after the ICE timeout and keeps retrying in the background', async () => {
    const hub = await useHub();
    // Make the healthy agent the offerer, so its link is the one that waits for the timeout (a
    // broken offerer fails at once, which is the other, easier case).
    const { logger, lines } = recordingLogger();
    const a = await useAgent(hub.url, { iceConnectionTimeoutMs: 800, agentKey: OFFERER_KEY, logger });
    const ra = await a.join('blocked');
    const b = await useAgent(hub.url, { iceConnectionTimeoutMs: 800, agentKey: ANSWERER_KEY, ...BROKEN_ICE });
    const rb = await b.join('blocked');
    expect([ra.selfId, rb.selfId]).toEqual([derivePeerId(null, OFFERER_KEY), derivePeerId(null, ANSWERER_KEY)]);
    expect(ra.selfId < rb.selfId).toBe(true);
    const atB = inbox(b);
    const changes: PathChange[] = [];
    a.on('path-changed', (c) => changes.push(c));
    await ra.send('one');
    // The offerer's link gives up because of the ICE timeout (its log says so, with the 800 ms),
    // then retries with backoff.
    await waitUntil(() => ra.peer(rb.selfId)?.p2p === 'waiting-retry', { what: "a's P2P link to b to wait for a retry" });
    expect(lines.filter((l) => l.msg === 'P2P link did not open in time; using relay')).toEqual([expect.objectContaining({ timeoutMs: 800 })]);
    expect(ra.peer(rb.selfId)!.p2pFailures).toBe(1);
    await ra.send('two');
    await rb.send('back');
    const got = await atB.waitFor(2);
    expect(got.map((m) => [m.text, m.path])).toEqual([
      ['one', 'relay'],
      ['two', 'relay'],
    ]);
    expect(ra.peer(rb.selfId)!.path).toBe('relay');
    expect(changes.every((c) => c.to !== 'p2p')).toBe(true);
  });

  it('with relay turned off, sends wait for P2P and fail clearly when it never comes', async () => {
    const hub = await useHub();
    const a = await useAgent(hub.url, { allowRelay: false, iceConnectionTimeoutMs: 500, sendTimeoutMs: 1_500 });
    const ra = await a.join('strict');
    const b2 = await useAgent(hub.url, { allowRelay: false, ...BROKEN_ICE });
    await b2.join('strict');
    await waitUntil(() => ra.peers().length === 1, { what: 'b in the room' });
    expect(ra.peers()[0]!.path).toBe('none');
    await expect(ra.send('never relayed')).rejects.toThrow(/RTC_ERR_SEND_TIMEOUT|no P2P link/);
  });

  it('with relay turned off, messages wait for the P2P link and then go over it', async () => {
    const hub = await useHub();
    const a = await useAgent(hub.url, { allowRelay: false });
    const b = await useAgent(hub.url, { allowRelay: false });
    const ra = await a.join('strict-ok');
    await b.join('strict-ok');
    const atB = inbox(b);
    await ra.send('held until p2p');
    const got = await atB.waitFor(1);
    expect(got[0]).toMatchObject({ text: 'held until p2p', path: 'p2p' });
    await p2pTo(a, 1);
  });
});
