/**
 * End-to-end encryption as users rely on it: the hub (tapped on the wire) sees only ciphertext of
 * messages and files; wrong room secrets, plaintext peers, forged and replayed frames and changed
 * identity keys are each rejected or warned about, and nothing unopened reaches the application.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { Agent, FileReceived, RtcAgentError } from '../../src/index.js';
import { useHub } from '../helpers/hub.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { inbox, nextEvent, p2pTo, useAgent } from '../helpers/agents.js';
import { waitUntil } from '../helpers/wait.js';

function dir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** E2EE agent options with its own identity file (and known-peers file beside it). */
function e2ee(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { enableE2ee: true, identityFile: join(dir('rtc-id-'), 'identity.json'), ...extra };
}

function errors(agent: Agent): RtcAgentError[] {
  const list: RtcAgentError[] = [];
  agent.on('error', (e) => list.push(e));
  return list;
}

/** Every base64 run in the captured traffic, decoded: what a tapping hub could read. */
function decodedPayloads(traffic: Buffer): Buffer[] {
  return [...traffic.toString('latin1').matchAll(/[A-Za-z0-9+/]{24,}={0,2}/g)].map((m) => Buffer.from(m[0], 'base64'));
}

describe('end-to-end encryption', () => {
  it('the hub carries only ciphertext of messages and files; both ends read them, marked encrypted', async () => {
    const hub = await useHub();
    const captured: Buffer[] = [];
    const proxy = await TcpProxy.start(hub.port, { tap: (_dir, chunk) => (captured.push(Buffer.from(chunk)), chunk) });
    onTestFinished(() => proxy.close());
    const viaTap = hub.url.replace(`:${hub.port}`, `:${proxy.port}`);
    // Relay only: every byte between the two goes through the tapped hub connection.
    const downloads = dir('rtc-dl-');
    const a = await useAgent(viaTap, e2ee({ tryNative: false, roomSecret: 'correct horse battery staple' }));
    const b = await useAgent(viaTap, e2ee({ tryNative: false, roomSecret: 'correct horse battery staple', downloadDir: downloads }));
    const ra = await a.join('secret');
    const rb = await b.join('secret');
    await waitUntil(() => ra.peer(rb.selfId)?.e2ee === true, { what: 'ra.peer(rb.selfId)?.e2ee === true' });
    expect(ra.peer(rb.selfId)!.fingerprint).toBe(b.fingerprint);
    const atB = inbox(b);
    const atA = inbox(a);

    const marker = `TOP-SECRET-${randomBytes(8).toString('hex')}`;
    await ra.send(`${marker} in a message`);
    await rb.send({ reply: `${marker} in JSON` });
    const file = join(dir('rtc-src-'), 'plans.txt');
    writeFileSync(file, `${marker}\n`.repeat(5000));
    const received = nextEvent<FileReceived>(b, 'file-received', () => true, 30_000);
    await ra.sendFile(file);
    expect((await atB.waitFor(1))[0]).toMatchObject({ text: `${marker} in a message`, encrypted: true, path: 'relay' });
    expect((await atA.waitFor(1))[0]).toMatchObject({ data: { reply: `${marker} in JSON` }, encrypted: true });
    const got = await received;
    expect(readFileSync(got.path, 'utf8')).toBe(`${marker}\n`.repeat(5000));

    const traffic = Buffer.concat(captured);
    expect(traffic.length).toBeGreaterThan(100_000); // the file really crossed the tap
    expect(traffic.includes(marker)).toBe(false);
    for (const payload of decodedPayloads(traffic)) expect(payload.includes(marker)).toBe(false);
  });

  it('rejects messages sealed with another room secret, delivering nothing', async () => {
    const hub = await useHub();
    const a = await useAgent(hub.url, e2ee({ roomSecret: 'one secret' }));
    const b = await useAgent(hub.url, e2ee({ roomSecret: 'another secret' }));
    const ra = await a.join('mismatch');
    await b.join('mismatch');
    const atB = inbox(b);
    const errs = errors(b);
    await waitUntil(() => ra.peers()[0]?.e2ee === true, { what: 'ra.peers()[0]?.e2ee === true' });
    await ra.send('can you read this?');
    await waitUntil(() => errs.map((e) => e.code).includes('RTC_ERR_E2EE_ROOM_SECRET_MISMATCH'), { what: "errs.map((e) => e.code).includes('RTC_ERR_E2EE_ROOM_SECRET_MISMATCH')" });
    expect(atB.messages).toEqual([]);
  });

  it('never sends plaintext to a peer without E2EE, and drops plaintext from it', async () => {
    const hub = await useHub();
    const a = await useAgent(hub.url, e2ee());
    const plain = await useAgent(hub.url);
    const ra = await a.join('mixed');
    const rp = await plain.join('mixed');
    await waitUntil(() => ra.peers().length === 1, { what: 'ra.peers().length === 1' });
    const atA = inbox(a);
    const errsA = errors(a);
    const errsPlain = errors(plain);
    await expect(ra.send('secret', { to: rp.selfId })).rejects.toMatchObject({ code: 'RTC_ERR_E2EE_PLAINTEXT' });
    await ra.send('broadcast secret'); // goes to nobody, says why
    expect(errsA.map((e) => e.message)).toEqual([expect.stringMatching(/does not support end-to-end encryption; nothing is sent to it/)]);
    // The plaintext side knows from A's announced keys, and refuses too, saying what to do.
    await expect(rp.send('hello in clear', { to: ra.selfId })).rejects.toThrow(/requires end-to-end encryption; turn it on \(--e2ee\)/);
    await rp.send('broadcast in clear');
    expect(errsPlain.map((e) => e.message)).toEqual([expect.stringMatching(/requires end-to-end encryption \(turn on --e2ee\); nothing is sent to it/)]);
    await ra.flush(1_000);
    expect(atA.messages).toEqual([]);
  });

  it('warns loudly when a known peer comes back with a different identity key', async () => {
    const hub = await useHub();
    const a = await useAgent(hub.url, e2ee());
    const ra = await a.join('tofu');
    const errs = errors(a);
    const first = await useAgent(hub.url, e2ee({ name: 'bob' }));
    await first.join('tofu');
    await waitUntil(() => ra.peers()[0]?.fingerprint === first.fingerprint, { what: 'ra.peers()[0]?.fingerprint === first.fingerprint' });
    await first.close();
    await waitUntil(() => ra.peers().length === 0, { what: 'ra.peers().length === 0' });
    // Same name, new identity key: e.g. an impostor, or bob reinstalled.
    const second = await useAgent(hub.url, e2ee({ name: 'bob' }));
    await second.join('tofu');
    await waitUntil(() => errs.map((e) => e.code).includes('RTC_ERR_IDENTITY_CHANGED'), { what: "errs.map((e) => e.code).includes('RTC_ERR_IDENTITY_CHANGED')" });
    const warning = errs.find((e) => e.code === 'RTC_ERR_IDENTITY_CHANGED')!;
    expect(warning.message).toContain(first.fingerprint!);
    expect(warning.message).toContain(second.fingerprint!);
    // A new peer, and that peer coming back with the key remembered for it, raise nothing. Its
    // fingerprint showing up in the peer list means the identity check for it has run.
    const carolOptions = e2ee({ name: 'carol' });
    for (let life = 0; life < 2; life++) {
      const carol = await useAgent(hub.url, carolOptions);
      await carol.join('tofu');
      await waitUntil(() => ra.peers().some((p) => p.name === 'carol' && p.fingerprint === carol.fingerprint), { what: "carol's fingerprint at a" });
      if (life === 0) {
        await carol.close();
        await waitUntil(() => !ra.peers().some((p) => p.name === 'carol'), { what: 'carol to leave' });
      }
    }
    expect(errs.filter((e) => e.code === 'RTC_ERR_IDENTITY_CHANGED')).toHaveLength(1);
  });

  it('rejects a forged frame and a replayed one from a lying hub; nothing unopened is delivered', async () => {
    const hub = await useHub();
    let mode: 'pass' | 'forge' | 'replay' = 'pass';
    let tampered = 0;
    // Rewrites hub → client traffic: flips a base64 character inside a Relayed payload (forge), or
    // sends the WebSocket frame carrying one twice (replay).
    const proxy = await TcpProxy.start(hub.port, {
      tap: (direction, chunk) => {
        if (direction !== 'down' || mode === 'pass') return chunk;
        const text = chunk.toString('latin1');
        const at = text.indexOf('"Relayed"');
        if (at === -1 || chunk[0] !== 0x81) return chunk;
        if (mode === 'forge') {
          // The payload is the last argument: flip a character just before its closing quote (the GCM tag).
          const i = text.indexOf('"]', at) - 6;
          const flipped = Buffer.from(chunk);
          flipped[i] = flipped[i] === 0x41 ? 0x42 : 0x41; // 'A' <-> 'B': same length, other bytes
          tampered++;
          mode = 'pass';
          return flipped;
        }
        tampered++;
        mode = 'pass';
        return Buffer.concat([chunk, chunk]);
      },
    });
    onTestFinished(() => proxy.close());
    const viaTap = hub.url.replace(`:${hub.port}`, `:${proxy.port}`);
    const a = await useAgent(hub.url, e2ee({ tryNative: false }));
    // The tap edits JSON text frames: b speaks the JSON hub protocol (the hub converts a's bytes).
    const b = await useAgent(viaTap, e2ee({ tryNative: false, hubProtocol: 'json' }));
    const ra = await a.join('lies');
    await b.join('lies');
    await waitUntil(() => ra.peers()[0]?.e2ee === true, { what: 'ra.peers()[0]?.e2ee === true' });
    const atB = inbox(b);
    const errs = errors(b);

    mode = 'forge';
    await ra.send('forge me', { reliable: false });
    await waitUntil(() => tampered === 1, { what: 'tampered === 1' });
    await waitUntil(() => errs.map((e) => e.code).includes('RTC_ERR_E2EE_FORGED'), { what: "errs.map((e) => e.code).includes('RTC_ERR_E2EE_FORGED')" });
    expect(atB.messages).toEqual([]);

    mode = 'replay';
    await ra.send('replay me', { reliable: false });
    await atB.waitFor(1);
    await waitUntil(() => errs.map((e) => e.code).includes('RTC_ERR_E2EE_REPLAY'), { what: "errs.map((e) => e.code).includes('RTC_ERR_E2EE_REPLAY')" });
    expect(atB.messages.map((m) => m.text)).toEqual(['replay me']);

    // Reliable messages: a replayed copy is a duplicate, dropped by sequence number.
    mode = 'replay';
    await ra.send('once only');
    await atB.waitFor(2);
    await ra.send('marker');
    await atB.waitFor(3);
    expect(atB.messages.map((m) => m.text)).toEqual(['replay me', 'once only', 'marker']);
  });
});
