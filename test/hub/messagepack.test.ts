/**
 * The SignalR MessagePack hub protocol, negotiated per connection as with ASP.NET Core: the
 * official client with @microsoft/signalr-protocol-msgpack uses every room-contract method over
 * WebSockets and Long Polling; Server-Sent Events (text only) refuse it with ASP.NET Core's words;
 * JSON and MessagePack members share rooms (the hub turns a relay payload into base64 for JSON
 * members and into bytes for MessagePack ones); stateful reconnect resumes a MessagePack
 * connection; bad MessagePack input is refused without harming anyone else.
 */
import { request } from 'node:http';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { AGENT_KEY_A, AGENT_KEY_B, connectClient, nextCall, record, useHub, type TransportKey } from '../helpers/hub.js';
import { RawMsgPackClient, buildProtocolClient, connectProtocolClient } from '../helpers/msgpack.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { waitUntil } from '../helpers/wait.js';

const AGENT_KEY_C = 'agent-key-cccccccccccccccc';

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return /RTC_ERR_[A-Z_]+/.exec((err as Error).message)?.[0] ?? (err as Error).message;
  }
}

async function metric(url: string, name: string, label: string): Promise<number | undefined> {
  const text = await (await fetch(new URL('/metrics', url))).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${label}}`));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

/** All byte values, so nothing survives by accident of being text. */
const EVERY_BYTE = Uint8Array.from({ length: 256 }, (_, i) => i);

describe.each<TransportKey>(['WebSockets', 'LongPolling'])('the official MessagePack client over %s', (transport) => {
  it('uses every room-contract method, with relay payloads as bytes', async () => {
    const hub = await useHub();
    const a = await connectProtocolClient(hub.url, 'messagepack', { transport });
    const b = await connectProtocolClient(hub.url, 'messagepack', { transport });
    const joinedA = await a.invoke('Join', 'mp', { agentKey: AGENT_KEY_A, name: 'alice', capabilities: { native: false } });
    expect(joinedA).toMatchObject({ room: 'mp', self: { peerId: 'pQ7vkAVfuE-FbV3p', name: 'alice', userId: null }, participants: [], contractVersion: 1 });
    expect(joinedA.features).toContain('members');
    const announced = nextCall(a, 'PeerJoined');
    const joinedB = await b.invoke('Join', 'mp', { agentKey: AGENT_KEY_B, name: 'bob', meta: { role: 'x' } });
    const idA = joinedA.self.peerId as string;
    const idB = joinedB.self.peerId as string;
    expect(joinedB.participants).toEqual([joinedA.self]);
    expect(await announced).toEqual(['mp', joinedB.self]);

    expect(await a.invoke('Members', 'mp')).toEqual({ room: 'mp', participants: [joinedB.self] });

    const signal = nextCall(b, 'Signal');
    await a.invoke('Signal', 'mp', idB, { type: 'description', sdpType: 'offer', sdp: 'v=0\r\n', nested: { n: [1, 2.5, null, true] } });
    expect(await signal).toEqual(['mp', idA, { type: 'description', sdpType: 'offer', sdp: 'v=0\r\n', nested: { n: [1, 2.5, null, true] } }]);

    const directed = nextCall(b, 'Relayed');
    await a.invoke('Relay', 'mp', idB, EVERY_BYTE);
    const [room, from, payload] = await directed;
    expect([room, from]).toEqual(['mp', idA]);
    expect(payload).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(payload as Uint8Array).equals(Buffer.from(EVERY_BYTE))).toBe(true);

    const broadcast = nextCall(a, 'Relayed');
    await b.invoke('Relay', 'mp', null, new Uint8Array([7, 0, 7]));
    expect(await broadcast).toEqual(['mp', idB, new Uint8Array([7, 0, 7])]);

    // The contract's errors come back as completion errors, as over JSON.
    expect(await codeOf(a.invoke('Relay', 'mp', 'nobody-is-called-this', new Uint8Array([1])))).toBe(ErrorCode.PEER_NOT_IN_ROOM);
    expect(await codeOf(a.invoke('Relay', 'other-room', null, new Uint8Array([1])))).toBe(ErrorCode.NOT_IN_ROOM);
    expect(await codeOf(a.invoke('Relay', 'mp', idB, 42))).toBe(ErrorCode.BAD_REQUEST);
    expect(await codeOf(a.invoke('Signal', 'mp', idB, new Uint8Array([1])))).toBe(ErrorCode.BAD_REQUEST);
    expect(await codeOf(a.invoke('Join', new Uint8Array([1])))).toBe(ErrorCode.BAD_REQUEST);
    expect(await codeOf(a.invoke('NoSuchMethod'))).toBe(ErrorCode.UNKNOWN_METHOD);

    const left = nextCall(a, 'PeerLeft');
    await b.invoke('Leave', 'mp');
    expect(await left).toEqual(['mp', idB, 'left']);
    expect(await metric(hub.url, 'rtc_hub_connections_by_protocol', 'protocol="messagepack"')).toBe(2);
    expect(await metric(hub.url, 'rtc_hub_connections_by_protocol', 'protocol="json"')).toBe(0);
  });
});

/** Negotiates, opens an SSE stream and posts `handshake`; resolves with the first event's data. */
async function sseHandshake(hubUrl: string, handshake: string): Promise<string> {
  const negotiated = (await (await fetch(`${hubUrl}/negotiate?negotiateVersion=1`, { method: 'POST' })).json()) as { connectionToken: string };
  const url = `${hubUrl}?id=${negotiated.connectionToken}`;
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { Accept: 'text/event-stream' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
        const data = /data: (.*)\r\n\r\n/.exec(text);
        if (data) {
          resolve(data[1]!);
          req.destroy();
        }
      });
      res.on('error', reject);
      // The stream is open: send the handshake the way SSE clients send everything, as a POST.
      void fetch(url, { method: 'POST', body: handshake }).catch(reject);
    });
    req.on('error', (err) => (err.message.includes('socket hang up') ? undefined : reject(err)));
    req.end();
  });
}

describe('Server-Sent Events', () => {
  it('refuses the MessagePack protocol as ASP.NET Core does (the transport carries text only) and still takes JSON', async () => {
    const hub = await useHub();
    const refused = JSON.parse((await sseHandshake(hub.url, '{"protocol":"messagepack","version":1}\u001e')).replace(/\u001e$/, ''));
    expect(refused).toEqual({ error: "Cannot use the 'messagepack' protocol on the current transport. The transport does not support 'Binary' transfer format." });
    expect(await sseHandshake(hub.url, '{"protocol":"json","version":1}\u001e')).toBe('{}\u001e');
    // The official client knows it too, and does not try SSE for MessagePack at all.
    await expect(buildProtocolClient(hub.url, 'messagepack', { transport: 'ServerSentEvents' }).start()).rejects.toThrow(/ServerSentEvents.*Binary|Binary.*ServerSentEvents|Unable to connect/);
  });

  it('is not offered for Binary in negotiate', async () => {
    const hub = await useHub();
    const body = (await (await fetch(`${hub.url}/negotiate?negotiateVersion=1`, { method: 'POST' })).json()) as { availableTransports: { transport: string; transferFormats: string[] }[] };
    expect(body.availableTransports).toEqual([
      { transport: 'WebSockets', transferFormats: ['Text', 'Binary'] },
      { transport: 'ServerSentEvents', transferFormats: ['Text'] },
      { transport: 'LongPolling', transferFormats: ['Text', 'Binary'] },
    ]);
  });
});

describe('a room of JSON and MessagePack members', () => {
  it('gives each member relays in its own form (base64 text or bytes) and the same signals and participants', async () => {
    const hub = await useHub();
    const json = await connectClient(hub.url);
    const mpWs = await connectProtocolClient(hub.url, 'messagepack');
    const mpLp = await connectProtocolClient(hub.url, 'messagepack', { transport: 'LongPolling' });
    const j = await json.invoke('Join', 'mix', { agentKey: AGENT_KEY_A, name: 'json' });
    const announcedToJson = nextCall(json, 'PeerJoined');
    const w = await mpWs.invoke('Join', 'mix', { agentKey: AGENT_KEY_B, name: 'ws', capabilities: { native: true, e2eePublicKey: 'k' } });
    expect((await announcedToJson)[1]).toEqual(w.self);
    const announcedToWs = nextCall(mpWs, 'PeerJoined');
    const l = await mpLp.invoke('Join', 'mix', { agentKey: AGENT_KEY_C, name: 'lp' });
    expect((await announcedToWs)[1]).toEqual(l.self);
    expect(l.participants).toEqual(expect.arrayContaining([j.self, w.self]));

    const atJson = record(json, 'Relayed');
    const atWs = record(mpWs, 'Relayed');
    const atLp = record(mpLp, 'Relayed');
    // A JSON sender's base64 reaches MessagePack members as the bytes it encodes.
    await json.invoke('Relay', 'mix', null, Buffer.from(EVERY_BYTE).toString('base64'));
    // A MessagePack sender's bytes reach JSON members as base64.
    await mpWs.invoke('Relay', 'mix', null, new Uint8Array([0xde, 0xad, 0xbe, 0xef]));
    await mpLp.invoke('Relay', 'mix', j.self.peerId, new Uint8Array([1, 2, 3]));
    await waitUntil(() => atJson.length === 2 && atWs.length === 1 && atLp.length === 2, { what: 'every relay at every member' });
    expect(atJson).toEqual([
      ['mix', w.self.peerId, '3q2+7w=='],
      ['mix', l.self.peerId, 'AQID'],
    ]);
    expect(atWs).toEqual([['mix', j.self.peerId, EVERY_BYTE]]);
    expect(atLp).toEqual([
      ['mix', j.self.peerId, EVERY_BYTE],
      ['mix', w.self.peerId, new Uint8Array([0xde, 0xad, 0xbe, 0xef])],
    ]);

    const signal = { type: 'candidate', candidate: 'candidate:1 1 UDP 1 127.0.0.1 5000 typ host', mid: '0', n: 1.5 };
    const toJson = nextCall(json, 'Signal');
    await mpWs.invoke('Signal', 'mix', j.self.peerId, signal);
    expect(await toJson).toEqual(['mix', w.self.peerId, signal]);
    const toMp = nextCall(mpLp, 'Signal');
    await json.invoke('Signal', 'mix', l.self.peerId, signal);
    expect(await toMp).toEqual(['mix', j.self.peerId, signal]);
  });

  it('refuses a JSON payload that is not base64 once a MessagePack member would need it as bytes', async () => {
    const hub = await useHub();
    const json = await connectClient(hub.url);
    const other = await connectClient(hub.url);
    await json.invoke('Join', 'r', { agentKey: AGENT_KEY_A });
    await other.invoke('Join', 'r', { agentKey: AGENT_KEY_B });
    // Between JSON members the payload stays opaque text, as it always was.
    await expect(json.invoke('Relay', 'r', null, 'not base64!')).resolves.toBeUndefined();
    const mp = await connectProtocolClient(hub.url, 'messagepack');
    await mp.invoke('Join', 'r', { agentKey: AGENT_KEY_C });
    const atOther = record(other, 'Relayed');
    const err = await codeOf(json.invoke('Relay', 'r', null, 'not base64!'));
    expect(err).toBe(ErrorCode.BAD_REQUEST);
    await expect(json.invoke('Relay', 'r', null, 'not base64!')).rejects.toThrow(/must be base64/);
    // Refused as a whole: the JSON member did not get it either, and the room goes on.
    const ok = nextCall(mp, 'Relayed');
    await json.invoke('Relay', 'r', null, 'AAAA');
    expect((await ok)[2]).toEqual(new Uint8Array([0, 0, 0]));
    expect(atOther.map((c) => c[2])).toEqual(['AAAA']);
  });
});

describe('on the wire', () => {
  it('writes binary WebSocket frames with the payload as raw bytes, never as base64', async () => {
    const hub = await useHub();
    const raw = await RawMsgPackClient.handshaken(hub.url);
    onTestFinished(() => raw.close());
    expect(JSON.parse(raw.handshake!)).toEqual({});
    const sender = await connectProtocolClient(hub.url, 'messagepack');
    raw.invoke('1', 'Join', ['wire', { agentKey: AGENT_KEY_A }]);
    const joined = (await raw.completion('1'))[4] as { self: { peerId: string } };
    await sender.invoke('Join', 'wire', { agentKey: AGENT_KEY_B });
    const marker = Buffer.from('an unmistakable run of bytes: \x00\x01\x02\xff');
    await sender.invoke('Relay', 'wire', joined.self.peerId, marker);
    await raw.waitFor(() => raw.received.some((m) => m[0] === 1 && m[3] === 'Relayed'));
    const relayed = raw.received.find((m) => m[0] === 1 && m[3] === 'Relayed')!;
    expect(relayed.slice(0, 4)).toEqual([1, {}, null, 'Relayed']);
    const frame = raw.frames.find((f) => f.data.includes(marker))!;
    expect(frame.binary).toBe(true);
    expect(raw.frames.every((f) => f.binary)).toBe(true);
    expect(raw.frames.some((f) => f.data.includes(Buffer.from(marker.toString('base64'))))).toBe(false);
  });

  it('closes a connection that sends malformed MessagePack, after answering what came before it', async () => {
    const hub = await useHub();
    const observer = await connectClient(hub.url);
    await observer.invoke('Join', 'bad', { agentKey: AGENT_KEY_B });
    const raw = await RawMsgPackClient.handshaken(hub.url);
    onTestFinished(() => raw.close());
    raw.invoke('1', 'Join', ['bad', { agentKey: AGENT_KEY_A }]);
    // A map where the message array belongs, then bytes after it that must not be read.
    raw.ws.send(Buffer.concat([Buffer.from([0x01, 0x80]), Buffer.from([0x02, 0x91, 0x06])]));
    await raw.waitFor(() => raw.received.some((m) => m[0] === 7));
    expect((await raw.completion('1'))[3]).toBe(3);
    const close = raw.received.find((m) => m[0] === 7)!;
    expect(close[1]).toMatch(/RTC_ERR_PROTOCOL.*MessagePack array/);
    expect((await nextCall(observer, 'PeerLeft'))[2]).toBe('disconnected');
    // Everyone else is unaffected.
    await expect(observer.invoke('Members', 'bad')).resolves.toEqual({ room: 'bad', participants: [] });
  });

  it('answers an oversize MessagePack invocation with RTC_ERR_MESSAGE_TOO_LARGE and keeps the connection', async () => {
    const hub = await useHub({ limits: { maxMessageBytes: 4096 } });
    const a = await connectProtocolClient(hub.url, 'messagepack');
    await a.invoke('Join', 'big', { agentKey: AGENT_KEY_A });
    await expect(a.invoke('Relay', 'big', null, new Uint8Array(5_000))).rejects.toThrow(/RTC_ERR_MESSAGE_TOO_LARGE.*4096/);
    await expect(a.invoke('Relay', 'big', null, new Uint8Array(1_000))).resolves.toBeUndefined();
  });
});

describe('stateful reconnect over MessagePack', () => {
  it('resumes a dropped WebSocket with the same connection id, every relay exactly once both ways', async () => {
    const hub = await useHub({ keepAliveIntervalMs: 200, clientTimeoutMs: 2_000 });
    const proxy = await TcpProxy.start(hub.port);
    onTestFinished(() => proxy.close());
    const viaProxy = hub.url.replace(`:${hub.port}`, `:${proxy.port}`);
    const a = await connectProtocolClient(hub.url, 'messagepack', { stateful: true, url: viaProxy });
    const b = await connectProtocolClient(hub.url, 'messagepack', { stateful: true });
    const idBefore = a.connectionId;
    let reconnecting = 0;
    a.onreconnecting(() => reconnecting++);
    const { self: aSelf } = await a.invoke('Join', 'r', { agentKey: AGENT_KEY_A });
    const { self: bSelf } = await b.invoke('Join', 'r', { agentKey: AGENT_KEY_B });
    const total = 600;
    const atA: number[] = [];
    const atB: number[] = [];
    const count = (into: number[]) => (_room: string, _from: string, payload: Uint8Array) => into.push(Buffer.from(payload).readUInt32BE(0));
    a.on('Relayed', count(atA));
    b.on('Relayed', count(atB));
    const payload = (i: number): Uint8Array => {
      const out = Buffer.alloc(512, i & 0xff);
      out.writeUInt32BE(i, 0);
      return out;
    };
    for (let i = 0; i < total; i++) {
      void a.send('Relay', 'r', bSelf.peerId, payload(i)).catch(() => undefined);
      void b.send('Relay', 'r', aSelf.peerId, payload(i)).catch(() => undefined);
      if (i === total / 2) {
        await waitUntil(() => atB.length > 50 && atA.length > 50, { timeoutMs: 5_000, what: 'traffic before the drop' });
        proxy.dropAll();
      }
      if (i % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    await waitUntil(() => atB.length >= total && atA.length >= total, { timeoutMs: 10_000, what: `all ${total} relays both ways` });
    expect(atB).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(atA).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(a.connectionId).toBe(idBefore);
    expect(reconnecting).toBe(0);
    // The proxy was really cut: one more TCP connection carries the resumed WebSocket.
    expect(proxy.accepted).toBe(3);
    const end = nextCall(b, 'Relayed');
    await a.invoke('Relay', 'r', bSelf.peerId, payload(total));
    await end;
    expect(atB.length).toBe(total + 1);
  });
});
