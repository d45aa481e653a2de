/**
 * Agents relay over SignalR's MessagePack hub protocol (their default, `hubProtocol`): relayed
 * bytes cross the hub as bytes in binary WebSocket frames, never as base64; a JSON agent in the
 * same room still gets everything (the hub converts per recipient); a dropped WebSocket resumes
 * the same MessagePack connection (stateful reconnect); `hubProtocol: 'json'` still works. Real
 * hub, real agents (relay only: `tryNative: false`, so every byte goes through the hub), a TCP tap
 * on the wire.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { Hub } from '../../src/hub/index.js';
import { inbox, useAgent } from '../helpers/agents.js';
import { useHub } from '../helpers/hub.js';
import { serverFrames } from '../helpers/msgpack.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { waitUntil } from '../helpers/wait.js';

type Registry = { getSingleMetric(name: string): unknown };

async function metric(hub: Hub, name: string, labels: Record<string, string>): Promise<number> {
  const m = (hub.metrics.registry as Registry).getSingleMetric(name) as { get(): Promise<{ values: { labels: Record<string, string>; value: number }[] }> };
  const values = (await m.get()).values;
  return values.find((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))?.value ?? 0;
}

const protocols = async (hub: Hub): Promise<{ json: number; messagepack: number }> => ({
  json: await metric(hub, 'rtc_hub_connections_by_protocol', { protocol: 'json' }),
  messagepack: await metric(hub, 'rtc_hub_connections_by_protocol', { protocol: 'messagepack' }),
});

describe('agents over MessagePack', () => {
  it('relay bytes as bytes: binary WebSocket frames, the payload raw on the wire, no base64', async () => {
    const hub = await useHub();
    const down: Buffer[] = [];
    const tap = await TcpProxy.start(hub.port, { tap: (dir, chunk) => (dir === 'down' && down.push(Buffer.from(chunk)), chunk) });
    onTestFinished(() => tap.close());
    const a = await useAgent(hub.url, { tryNative: false });
    // Only b goes through the tap, so what it taps is b's negotiate and then b's one WebSocket.
    const b = await useAgent(hub.url.replace(`:${hub.port}`, `:${tap.port}`), { tryNative: false });
    const ra = await a.join('bin');
    const rb = await b.join('bin');
    await waitUntil(() => ra.peer(rb.selfId) !== undefined, { what: 'a to see b' });
    expect(await protocols(hub)).toEqual({ json: 0, messagepack: 2 });
    const atB = inbox(b);
    // Incompressible bytes, large enough to fill several relay frames.
    const payload = randomBytes(48 * 1024);
    await ra.send(payload, { to: rb.selfId });
    const [got] = await atB.waitFor(1);
    expect(got).toMatchObject({ kind: 'binary', path: 'relay' });
    expect(Buffer.from(got!.data as Uint8Array).equals(payload)).toBe(true);

    const wire = Buffer.concat(down);
    const frames = serverFrames(wire);
    const data = frames.filter((f) => f.opcode === 0x1 || f.opcode === 0x2);
    expect(data.length).toBeGreaterThan(1);
    expect(data.every((f) => f.opcode === 0x2)).toBe(true);
    // A slice of the payload appears on the wire as it is, and nowhere as base64.
    const probe = payload.subarray(1_000, 1_048);
    expect(wire.includes(probe)).toBe(true);
    expect(wire.includes(Buffer.from(probe.toString('base64').slice(4, 40)))).toBe(false);
  });

  it('a JSON agent and MessagePack agents share a room: everyone gets every message', async () => {
    const hub = await useHub();
    const mp1 = await useAgent(hub.url, { tryNative: false });
    const mp2 = await useAgent(hub.url, { tryNative: false, hubProtocol: 'messagepack' });
    const js = await useAgent(hub.url, { tryNative: false, hubProtocol: 'json' });
    const rooms = [await mp1.join('mixed'), await mp2.join('mixed'), await js.join('mixed')];
    await waitUntil(() => rooms.every((r) => r.peers().length === 2), { what: 'all three to see each other' });
    expect(await protocols(hub)).toEqual({ json: 1, messagepack: 2 });
    const boxes = [inbox(mp1), inbox(mp2), inbox(js)];
    const bytes = randomBytes(20_000);
    await rooms[0]!.send(bytes);
    await rooms[2]!.send(`text from the JSON agent`);
    await rooms[1]!.send({ from: 'mp2', n: 2 });
    const [at1, at2, atJs] = await Promise.all(boxes.map((b) => b.waitFor(2)));
    expect(Buffer.from(atJs!.find((m) => m.kind === 'binary')!.data as Uint8Array).equals(bytes)).toBe(true);
    expect(atJs!.find((m) => m.kind === 'json')!.data).toEqual({ from: 'mp2', n: 2 });
    expect(at1!.map((m) => m.data)).toEqual(expect.arrayContaining(['text from the JSON agent', { from: 'mp2', n: 2 }]));
    expect(at2!.find((m) => m.kind === 'text')!.text).toBe('text from the JSON agent');
    expect(Buffer.from(at2!.find((m) => m.kind === 'binary')!.data as Uint8Array).equals(bytes)).toBe(true);
    for (const box of [at1!, at2!, atJs!]) expect(box.every((m) => m.path === 'relay')).toBe(true);
  });

  it('resumes a dropped WebSocket on the same MessagePack connection (stateful reconnect): every message once, in order', async () => {
    const hub = await useHub();
    const proxy = await TcpProxy.start(hub.port);
    onTestFinished(() => proxy.close());
    const a = await useAgent(hub.url.replace(`:${hub.port}`, `:${proxy.port}`), { tryNative: false });
    const b = await useAgent(hub.url, { tryNative: false });
    const ra = await a.join('resume');
    const rb = await b.join('resume');
    await waitUntil(() => ra.peer(rb.selfId) !== undefined, { what: 'a to see b' });
    const opened = await metric(hub, 'rtc_hub_connections_opened_total', { transport: 'WebSockets' });
    const accepted = proxy.accepted;
    const atB = inbox(b);
    const total = 200;
    for (let i = 0; i < total; i++) {
      await ra.send(`m${i}`, { to: rb.selfId });
      if (i === total / 2) {
        await atB.waitFor(20);
        proxy.dropAll();
      }
    }
    const got = await atB.waitFor(total, 20_000);
    expect(got.map((m) => m.text)).toEqual(Array.from({ length: total }, (_, i) => `m${i}`));
    // The cut was real (a new TCP connection), yet no new SignalR connection: the same one resumed.
    await waitUntil(() => proxy.accepted > accepted, { what: 'the resumed WebSocket' });
    expect(await metric(hub, 'rtc_hub_connections_opened_total', { transport: 'WebSockets' })).toBe(opened);
    expect(await protocols(hub)).toEqual({ json: 0, messagepack: 2 });
  });

  it("hubProtocol: 'json' speaks the JSON protocol, payloads as base64 text", async () => {
    const hub = await useHub();
    const down: Buffer[] = [];
    const tap = await TcpProxy.start(hub.port, { tap: (dir, chunk) => (dir === 'down' && down.push(Buffer.from(chunk)), chunk) });
    onTestFinished(() => tap.close());
    const a = await useAgent(hub.url, { tryNative: false, hubProtocol: 'json' });
    const b = await useAgent(hub.url.replace(`:${hub.port}`, `:${tap.port}`), { tryNative: false, hubProtocol: 'json' });
    const ra = await a.join('text');
    const rb = await b.join('text');
    await waitUntil(() => ra.peer(rb.selfId) !== undefined, { what: 'a to see b' });
    expect(await protocols(hub)).toEqual({ json: 2, messagepack: 0 });
    const atB = inbox(b);
    await ra.send(Buffer.from('bytes over JSON'), { to: rb.selfId });
    const [got] = await atB.waitFor(1);
    expect(Buffer.from(got!.data as Uint8Array).toString()).toBe('bytes over JSON');
    const data = serverFrames(Buffer.concat(down)).filter((f) => f.opcode === 0x1 || f.opcode === 0x2);
    expect(data.every((f) => f.opcode === 0x1)).toBe(true);
    expect(data.some((f) => f.payload.toString().includes('"Relayed"'))).toBe(true);
  });

  it('refuses a hubProtocol it does not know, naming the setting', async () => {
    const hub = await useHub();
    await expect(useAgent(hub.url, { hubProtocol: 'xml' as 'json' })).rejects.toThrow(/hubProtocol/);
  });
});
