/** The STUN/TURN client: codec details checked byte by byte, and real UDP against loopback fakes. */
import { createSocket } from 'node:dgram';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import {
  StunAttr,
  StunError,
  StunType,
  decodeErrorCode,
  decodeStunMessage,
  decodeXorAddress,
  encodeErrorCode,
  encodeStunMessage,
  encodeXorAddress,
  longTermKey,
  newTransactionId,
  parseIceUrl,
  stunBinding,
  turnAllocate,
  verifyMessageIntegrity,
} from '../../src/util/stun-client.js';
import { fingerprintMatches, integrityMatches, startFakeStun, startFakeTurn } from '../helpers/fake-stun.js';

describe('STUN codec', () => {
  it('encodes the RFC 5389 header and pads attributes to 4 bytes', () => {
    const transactionId = Buffer.from('0102030405060708090a0b0c', 'hex');
    const buf = encodeStunMessage({ type: StunType.BindingRequest, transactionId, attributes: [{ type: StunAttr.Software, value: Buffer.from('abcde') }] });
    expect(buf.readUInt16BE(0)).toBe(0x0001);
    expect(buf.readUInt16BE(2)).toBe(12); // 4 header + 5 value + 3 padding
    expect(buf.readUInt32BE(4)).toBe(0x2112a442);
    expect(buf.subarray(8, 20)).toEqual(transactionId);
    expect(buf.length).toBe(32);
    const back = decodeStunMessage(buf)!;
    expect(back.type).toBe(StunType.BindingRequest);
    expect(back.attributes).toEqual([{ type: StunAttr.Software, value: Buffer.from('abcde') }]);
  });

  it('rejects what is not STUN', () => {
    expect(decodeStunMessage(Buffer.alloc(10))).toBeNull();
    const wrongCookie = encodeStunMessage({ type: 1, transactionId: newTransactionId(), attributes: [] });
    wrongCookie.writeUInt32BE(0, 4);
    expect(decodeStunMessage(wrongCookie)).toBeNull();
    const truncated = encodeStunMessage({ type: 1, transactionId: newTransactionId(), attributes: [{ type: 0x8022, value: Buffer.from('xxxx') }] });
    expect(decodeStunMessage(truncated.subarray(0, truncated.length - 2))).toBeNull();
  });

  it('XOR-MAPPED-ADDRESS round-trips and matches the RFC 5769 IPv4 test vector', () => {
    const tid = newTransactionId();
    expect(decodeXorAddress(encodeXorAddress({ address: '192.0.2.1', port: 32853 }), tid)).toEqual({ family: 'IPv4', address: '192.0.2.1', port: 32853 });
    // RFC 5769 §2.2: 192.0.2.1:32853 is encoded as port 0xa147, address 0xe112a643.
    expect(encodeXorAddress({ address: '192.0.2.1', port: 32853 }).toString('hex')).toBe('0001a147e112a643');
  });

  it('decodes an IPv6 XOR address (RFC 5769 §2.3 vector)', () => {
    const tid = Buffer.from('b7e7a701bc34d686fa87dfae', 'hex');
    const value = Buffer.from('0002a147' + '0113a9faa5d3f179bc25f4b5bed2b9d9', 'hex');
    expect(decodeXorAddress(value, tid)).toEqual({ family: 'IPv6', address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 });
  });

  it('ERROR-CODE splits class and number', () => {
    expect(decodeErrorCode(encodeErrorCode(438, 'Stale Nonce'))).toEqual({ code: 438, reason: 'Stale Nonce' });
    expect(encodeErrorCode(401, '').toString('hex')).toBe('00000401');
  });

  it('MESSAGE-INTEGRITY and FINGERPRINT agree with an independent implementation', () => {
    const key = longTermKey('user', 'realm', 'pass');
    expect(key.toString('hex')).toBe('8493fbc53ba582fb4c044c456bdc40eb'); // md5("user:realm:pass")
    const buf = encodeStunMessage(
      { type: StunType.AllocateRequest, transactionId: newTransactionId(), attributes: [{ type: StunAttr.Username, value: Buffer.from('user') }] },
      { integrityKey: key, fingerprint: true },
    );
    expect(integrityMatches(buf, key)).toBe(true);
    expect(fingerprintMatches(buf)).toBe(true);
    expect(verifyMessageIntegrity(buf, key)).toBe(true);
    expect(verifyMessageIntegrity(buf, longTermKey('user', 'realm', 'wrong'))).toBe(false);
    const tampered = Buffer.from(buf);
    tampered[25] = tampered[25]! ^ 1; // inside USERNAME
    expect(integrityMatches(tampered, key)).toBe(false);
  });

  it('parses stun:/turn: URLs', () => {
    expect(parseIceUrl('stun:stun.example.org')).toEqual({ scheme: 'stun', host: 'stun.example.org', port: 3478, transport: 'udp' });
    expect(parseIceUrl('turn:[::1]:3479?transport=tcp')).toEqual({ scheme: 'turn', host: '::1', port: 3479, transport: 'tcp' });
    expect(parseIceUrl('turns:t.example.org')).toMatchObject({ port: 5349, transport: 'tcp' });
    expect(() => parseIceUrl('http://x')).toThrow(StunError);
  });
});

describe('STUN Binding over UDP', () => {
  it('returns the mapped address the server saw', async () => {
    const server = await startFakeStun();
    const r = await stunBinding({ host: '127.0.0.1', port: server.port }, { timeoutMs: 2_000 });
    expect(r.mapped.address).toBe('127.0.0.1');
    expect(r.mapped.port).toBeGreaterThan(0);
    expect(r.software).toBe('fake-stun');
    expect(fingerprintMatches(server.raw[0]!)).toBe(true);
  });

  it('retransmits when a request is lost', async () => {
    const server = await startFakeStun({ drop: 2 });
    const r = await stunBinding({ host: '127.0.0.1', port: server.port }, { timeoutMs: 3_000 });
    expect(r.mapped.address).toBe('127.0.0.1');
    expect(server.requests.length).toBe(3);
    // Retransmissions reuse the transaction id.
    expect(new Set(server.requests.map((q) => q.transactionId.toString('hex'))).size).toBe(1);
  });

  it('times out against a server that never answers, after exactly timeoutMs, retransmitting at 0 and 250 ms', async () => {
    const silent = createSocket('udp4');
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', r));
    onTestFinished(() => new Promise<void>((r) => silent.close(() => r())));
    const requests: Buffer[] = [];
    const nextRequest = (): Promise<void> => new Promise((r) => silent.once('message', (m: Buffer) => (requests.push(m), r())));
    // Fake clock and timers (the UDP socket stays real): the 600 ms budget is checked exactly.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    onTestFinished(() => {
      vi.useRealTimers();
    });
    let outcome: unknown = 'pending';
    const first = nextRequest();
    const done = stunBinding({ host: '127.0.0.1', port: silent.address().port }, { timeoutMs: 600 }).then(
      () => (outcome = 'answered'),
      (e: unknown) => (outcome = e),
    );
    await first;
    const second = nextRequest();
    await vi.advanceTimersByTimeAsync(250);
    await second;
    await vi.advanceTimersByTimeAsync(349);
    expect(outcome).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    await done;
    expect(outcome).toBeInstanceOf(StunError);
    expect((outcome as StunError).kind).toBe('timeout');
    expect(requests).toHaveLength(2);
  });
});

describe('TURN Allocate over UDP', () => {
  it('allocates with long-term credentials and frees the allocation', async () => {
    const turn = await startFakeTurn('alice', 's3cret');
    const r = await turnAllocate({ host: '127.0.0.1', port: turn.port }, { username: 'alice', password: 's3cret' }, { timeoutMs: 3_000 });
    expect(r).toMatchObject({ outcome: 'allocated', realm: 'fake.example', relayed: { address: '127.0.0.1', port: 49999 }, lifetimeS: 600, freed: true });
    expect(turn.badIntegrity).toBe(0);
    expect(turn.badFingerprint).toBe(0);
    expect(turn.freed).toBe(1);
    // 1: unauthenticated, 2: authenticated Allocate, 3: Refresh lifetime 0.
    expect(turn.requests.map((q) => q.type)).toEqual([StunType.AllocateRequest, StunType.AllocateRequest, StunType.RefreshRequest]);
  });

  it('reports wrong credentials as refused 401', async () => {
    const turn = await startFakeTurn('alice', 's3cret');
    const r = await turnAllocate({ host: '127.0.0.1', port: turn.port }, { username: 'alice', password: 'wrong' }, { timeoutMs: 3_000 });
    expect(r).toMatchObject({ outcome: 'refused', code: 401 });
    expect(turn.badIntegrity).toBe(1);
    expect(turn.freed).toBe(0);
  });

  it('says credentials are needed when none are given', async () => {
    const turn = await startFakeTurn('alice', 's3cret');
    const r = await turnAllocate({ host: '127.0.0.1', port: turn.port }, {}, { timeoutMs: 3_000 });
    expect(r).toMatchObject({ outcome: 'auth-required', realm: 'fake.example' });
    expect(turn.requests.length).toBe(1);
  });

  it('retries once with the new nonce after 438 Stale Nonce', async () => {
    const turn = await startFakeTurn('alice', 's3cret', { staleOnce: true });
    const r = await turnAllocate({ host: '127.0.0.1', port: turn.port }, { username: 'alice', password: 's3cret' }, { timeoutMs: 3_000 });
    expect(r.outcome).toBe('allocated');
    expect(turn.requests.length).toBe(4);
  });
});
