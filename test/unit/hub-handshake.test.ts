/**
 * The hub's handshake reader and outbound coalescing (src/hub/handshake.ts, src/hub/outbox.ts):
 * pure logic on bytes. The same behaviour end to end, on real sockets, is in
 * test/hub/robustness.test.ts and test/hub/messagepack.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { HandshakeReader, handshakeError, handshakeResponse } from '../../src/hub/handshake.js';
import { Outbox } from '../../src/hub/outbox.js';

const RS = '\u001e';
const bytes = (s: string): Uint8Array => Buffer.from(s, 'utf8');

describe('HandshakeReader', () => {
  it('takes a handshake split over several inputs and hands back what followed it', () => {
    const reader = new HandshakeReader(1_000);
    expect(reader.read(bytes('{"protocol":"messa'), 'WebSockets')).toEqual({ kind: 'incomplete' });
    const outcome = reader.read(Buffer.concat([bytes(`gepack","version":1}${RS}`), Buffer.from([0x02, 0x91, 0x06])]), 'WebSockets');
    expect(outcome.kind).toBe('accepted');
    if (outcome.kind !== 'accepted') return;
    expect(outcome.codec.protocol).toBe('messagepack');
    expect(outcome.version).toBe(1);
    expect([...outcome.rest]).toEqual([0x02, 0x91, 0x06]);
    expect(handshakeResponse(outcome.codec)).toBeInstanceOf(Uint8Array);
  });

  it('answers JSON in text and MessagePack in bytes', () => {
    const json = new HandshakeReader(1_000).read(bytes(`{"protocol":"json","version":2}${RS}`), 'LongPolling');
    expect(json.kind === 'accepted' && handshakeResponse(json.codec)).toBe(`{}${RS}`);
  });

  it.each([
    ['an unknown protocol', `{"protocol":"blazorpack","version":1}${RS}`, 'WebSockets', "The protocol 'blazorpack' is not supported."],
    ['version 3', `{"protocol":"json","version":3}${RS}`, 'WebSockets', "The server does not support version 3 of the 'json' protocol."],
    ['MessagePack over SSE', `{"protocol":"messagepack","version":1}${RS}`, 'ServerSentEvents', "Cannot use the 'messagepack' protocol on the current transport. The transport does not support 'Binary' transfer format."],
  ] as const)('refuses %s with the words ASP.NET Core uses', (_what, input, transport, reason) => {
    expect(new HandshakeReader(1_000).read(bytes(input), transport)).toEqual({ kind: 'rejected', reason });
  });

  it('refuses malformed JSON naming the problem, and input past the limit without a separator', () => {
    expect(new HandshakeReader(1_000).read(bytes(`{"protocol":${RS}`), 'WebSockets').kind).toBe('rejected');
    const reader = new HandshakeReader(16);
    expect(reader.read(bytes('{"protocol":"json",'), 'WebSockets')).toEqual({ kind: 'rejected', reason: 'handshake request is too large or has no record separator' });
    expect(JSON.parse(handshakeError('no').slice(0, -1))).toEqual({ error: 'no' });
  });

  it('reset() drops a partial handshake', () => {
    const reader = new HandshakeReader(1_000);
    reader.read(bytes('{"proto'), 'WebSockets');
    reader.reset();
    expect(reader.read(bytes(`{"protocol":"json","version":1}${RS}`), 'WebSockets').kind).toBe('accepted');
  });
});

describe('Outbox', () => {
  it('coalesces what is pushed in one turn into one frame, flushed once', async () => {
    const frames: unknown[] = [];
    const box: Outbox = new Outbox(() => frames.push(box.take()));
    box.push(`a${RS}`);
    box.push(`bc${RS}`);
    expect(box.bytes).toBe(5);
    await Promise.resolve();
    expect(frames).toEqual([`a${RS}bc${RS}`]);
    expect(box.bytes).toBe(0);
    box.push(Uint8Array.from([1, 2]));
    box.push(Uint8Array.from([3]));
    await Promise.resolve();
    expect([...(frames[1] as Uint8Array)]).toEqual([1, 2, 3]);
    expect(box.take()).toBeNull();
  });

  it('clear() drops what was pushed', async () => {
    const frames: unknown[] = [];
    const box: Outbox = new Outbox(() => frames.push(box.take()));
    box.push('x');
    box.clear();
    await Promise.resolve();
    expect(frames).toEqual([null]);
    expect(box.bytes).toBe(0);
  });
});
