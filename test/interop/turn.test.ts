/**
 * Through a real TURN server (Debian's coturn on loopback): two agents restricted to relay-only
 * ICE open their DataChannels via TURN allocations; `doctor` reports the server reachable with the
 * right credentials and failing with wrong ones.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { startCoturn, hasCoturn } from '../helpers/coturn.js';
import { relayedBytes } from '../../interop/support/coturn.js';
import { useHub } from '../helpers/hub.js';
import { inbox, p2pTo, useAgent } from '../helpers/agents.js';

if (!hasCoturn) console.warn('TURN interop tests skipped: turnserver (Debian package coturn) is not installed; .ci/run installs it');

const BIN = fileURLToPath(new URL('../../bin/rtc-agent.js', import.meta.url));

function doctor(args: string[]): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RTC_AGENT_')));
    const child = spawn(process.execPath, [BIN, 'doctor', ...args], { env });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout }));
  });
}

describe.skipIf(!hasCoturn)('TURN (coturn)', () => {
  it('two relay-only agents open their DataChannel through TURN and exchange messages', async () => {
    const turn = await startCoturn();
    const hub = await useHub();
    const viaTurn = { turnUrl: turn.url, turnUsername: turn.username, turnPassword: turn.password, iceTransportPolicy: 'relay' as const };
    // coturn relays on 127.0.0.1; the agents' own sockets sit on other loopback addresses. TURN
    // permissions are per IP, so this keeps the agents from reaching each other except through coturn.
    const a = await useAgent(hub.url, { name: 'a', ...viaTurn, iceBindAddress: '127.0.0.2' });
    const b = await useAgent(hub.url, { name: 'b', ...viaTurn, iceBindAddress: '127.0.0.3' });
    const ra = await a.join('turn');
    const rb = await b.join('turn');
    await Promise.all([p2pTo(a, 1, 20_000), p2pTo(b, 1, 20_000)]);
    const atB = inbox(b);
    const atA = inbox(a);
    await ra.send('through turn');
    await rb.send({ back: true });
    expect((await atB.waitFor(1))[0]).toMatchObject({ text: 'through turn', path: 'p2p' });
    expect((await atA.waitFor(1))[0]).toMatchObject({ data: { back: true }, path: 'p2p' });
    // Both ends use their TURN allocations: relay candidates on both sides of the selected pair.
    expect(ra.peer(rb.selfId)!.candidates).toEqual({ local: 'relay', remote: 'relay' });
    expect(rb.peer(ra.selfId)!.candidates).toEqual({ local: 'relay', remote: 'relay' });
    await ra.send(new Uint8Array(2_000_000));
    await atB.waitFor(2);
    await a.close();
    await b.close();
    // coturn logs each allocation's traffic when the agents release it: the data crossed it.
    await expect.poll(() => relayedBytes(turn.log()), { timeout: 10_000, interval: 100 }).toBeGreaterThan(1_000_000);
    expect(turn.log()).toMatch(/user <rtc>: incoming packet ALLOCATE processed, success/);
  });

  it('doctor reports the TURN server reachable with the right credentials and failing with wrong ones', async () => {
    const turn = await startCoturn();
    const hub = await useHub();
    const good = await doctor(['--hub', hub.url, '--turn-url', turn.url, '--turn-username', turn.username, '--turn-password', turn.password, '--json']);
    expect(good.code).toBe(0);
    const goodReport = JSON.parse(good.stdout);
    const goodTurn = goodReport.checks.find((c: { check: string }) => c.check.startsWith('turn'));
    expect(goodTurn).toMatchObject({ status: 'ok' });
    expect(goodTurn.detail).toMatch(/allocated relay 127\.0\.0\.1:\d+/);

    const bad = await doctor(['--hub', hub.url, '--turn-url', turn.url, '--turn-username', turn.username, '--turn-password', 'wrong', '--json']);
    expect(bad.code).toBe(1);
    const badTurn = JSON.parse(bad.stdout).checks.find((c: { check: string }) => c.check.startsWith('turn'));
    expect(badTurn.status).toBe('fail');
    expect(badTurn.detail).toMatch(/credentials|401|Unauthorized/i);
  });
});
