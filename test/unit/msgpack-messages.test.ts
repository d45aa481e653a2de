/**
 * The hub's MessagePack hub protocol against the official client's own implementation
 * (@microsoft/signalr-protocol-msgpack): what the client writes we parse, what we write the client
 * parses, for every message type; VarInt framing at its boundaries; strict refusals naming the fault.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MessagePackHubProtocol } from '@microsoft/signalr-protocol-msgpack';
import { NullLogger, MessageType as ClientType, type HubMessage as ClientMessage } from '@microsoft/signalr';
import { encode } from '@msgpack/msgpack';
import { frameBinaryMessage, splitBinaryMessages, varIntLength, writeVarInt } from '../../src/protocol/signalr/binary-format.js';
import { MessageType, type HubMessage } from '../../src/protocol/signalr/hub-messages.js';
import { messagePackHead, parseMessagePackMessage, writeMessagePackMessage } from '../../src/protocol/signalr/msgpack-messages.js';

const official = new MessagePackHubProtocol();

/** The bodies of a framed buffer, through our splitter. */
function bodies(bytes: Uint8Array): Uint8Array[] {
  const split = splitBinaryMessages(bytes);
  expect(split.rest.length).toBe(0);
  return split.messages;
}

function ours(clientWritten: ArrayBuffer): HubMessage {
  const [body] = bodies(new Uint8Array(clientWritten));
  return parseMessagePackMessage(body!) as HubMessage;
}

function theirs(msg: HubMessage): ClientMessage {
  const bytes = writeMessagePackMessage(msg);
  const parsed = official.parseMessages(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer, NullLogger.instance);
  expect(parsed).toHaveLength(1);
  return parsed[0]!;
}

describe('VarInt framing', () => {
  it('writes the lengths the official client writes, at every prefix-size boundary', () => {
    for (const size of [0, 1, 127, 128, 300, 16_383, 16_384, 2_097_151, 2_097_152]) {
      const body = new Uint8Array(size).fill(7);
      const mine = frameBinaryMessage(body);
      const client = new Uint8Array(official.writeMessage({ type: ClientType.Ping }) as ArrayBuffer);
      expect(client).toEqual(new Uint8Array([0x02, 0x91, 0x06]));
      expect(mine.length).toBe(varIntLength(size) + size);
      const split = splitBinaryMessages(mine);
      expect(split.messages).toHaveLength(1);
      expect(split.messages[0]!.length).toBe(size);
    }
    const out = new Uint8Array(5);
    expect(writeVarInt(out, 0, 2 ** 31 - 1)).toBe(5);
    expect([...out]).toEqual([0xff, 0xff, 0xff, 0xff, 0x07]);
  });

  it('splits any run of messages cut anywhere, keeping the partial tail', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 400 }), { maxLength: 8 }), fc.nat(), (messages, cutAt) => {
        const whole = Buffer.concat(messages.map((m) => frameBinaryMessage(m)));
        const cut = whole.length === 0 ? 0 : cutAt % (whole.length + 1);
        const first = splitBinaryMessages(whole.subarray(0, cut));
        const second = splitBinaryMessages(Buffer.concat([first.rest, whole.subarray(cut)]));
        expect(second.rest.length).toBe(0);
        expect([...first.messages, ...second.messages].map((m) => Buffer.from(m))).toEqual(messages.map((m) => Buffer.from(m)));
      }),
    );
  });

  it('refuses a prefix longer than five bytes and sizes over 2 GB', () => {
    expect(() => splitBinaryMessages(new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]))).toThrow(/longer than 5 bytes/);
    expect(() => splitBinaryMessages(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]))).toThrow(/2 GB/);
    // An unfinished prefix is only unfinished.
    expect(splitBinaryMessages(new Uint8Array([0x80, 0x80])).rest.length).toBe(2);
  });
});

describe('what the official client writes, the hub parses', () => {
  it('Invocation with and without an id, bytes arguments and headers', () => {
    const bytes = new Uint8Array([0, 1, 255]);
    expect(ours(official.writeMessage({ type: ClientType.Invocation, invocationId: '7', target: 'Relay', arguments: ['r', null, bytes], streamIds: [] }))).toEqual({
      type: MessageType.Invocation,
      invocationId: '7',
      target: 'Relay',
      arguments: ['r', null, bytes],
      streamIds: [],
    });
    expect(ours(official.writeMessage({ type: ClientType.Invocation, target: 'Relay', arguments: [{ a: 1 }], headers: { h: 'v' } }))).toEqual({
      type: MessageType.Invocation,
      target: 'Relay',
      arguments: [{ a: 1 }],
      headers: { h: 'v' },
    });
  });

  it('StreamInvocation, StreamItem, Completion (each kind), CancelInvocation, Ping, Close, Ack, Sequence', () => {
    expect(ours(official.writeMessage({ type: ClientType.StreamInvocation, invocationId: '1', target: 'S', arguments: [], streamIds: ['2'] }))).toEqual({
      type: MessageType.StreamInvocation,
      invocationId: '1',
      target: 'S',
      arguments: [],
      streamIds: ['2'],
    });
    expect(ours(official.writeMessage({ type: ClientType.StreamItem, invocationId: '2', item: 5 }))).toEqual({ type: MessageType.StreamItem, invocationId: '2', item: 5 });
    expect(ours(official.writeMessage({ type: ClientType.Completion, invocationId: 's1', result: { ok: true } }))).toEqual({ type: MessageType.Completion, invocationId: 's1', result: { ok: true } });
    expect(ours(official.writeMessage({ type: ClientType.Completion, invocationId: 's1', error: 'no' }))).toEqual({ type: MessageType.Completion, invocationId: 's1', error: 'no' });
    expect(ours(official.writeMessage({ type: ClientType.Completion, invocationId: 's1' }))).toEqual({ type: MessageType.Completion, invocationId: 's1' });
    expect(ours(official.writeMessage({ type: ClientType.CancelInvocation, invocationId: '3' }))).toEqual({ type: MessageType.CancelInvocation, invocationId: '3' });
    expect(ours(official.writeMessage({ type: ClientType.Ping }))).toEqual({ type: MessageType.Ping });
    expect(ours(official.writeMessage({ type: ClientType.Close }))).toEqual({ type: MessageType.Close });
    expect(ours(official.writeMessage({ type: ClientType.Ack, sequenceId: 12 }))).toEqual({ type: MessageType.Ack, sequenceId: 12 });
    expect(ours(official.writeMessage({ type: ClientType.Sequence, sequenceId: 3 }))).toEqual({ type: MessageType.Sequence, sequenceId: 3 });
  });
});

describe('what the hub writes, the official client parses', () => {
  it('every message type the hub sends', () => {
    expect(theirs({ type: MessageType.Invocation, target: 'Relayed', arguments: ['r', 'p', new Uint8Array([9, 8])] })).toMatchObject({
      type: ClientType.Invocation,
      target: 'Relayed',
      arguments: ['r', 'p', new Uint8Array([9, 8])],
    });
    expect(theirs({ type: MessageType.Completion, invocationId: '0', result: { room: 'r', self: { userId: null } } })).toMatchObject({ invocationId: '0', result: { room: 'r', self: { userId: null } } });
    expect(theirs({ type: MessageType.Completion, invocationId: '1', error: 'RTC_ERR_X: y' })).toMatchObject({ invocationId: '1', error: 'RTC_ERR_X: y' });
    const done = theirs({ type: MessageType.Completion, invocationId: '2' }) as { result?: unknown; error?: unknown };
    expect([done.result, done.error]).toEqual([undefined, undefined]);
    expect(theirs({ type: MessageType.Ping })).toEqual({ type: ClientType.Ping });
    expect(theirs({ type: MessageType.Close, error: 'RTC_ERR_SHUTTING_DOWN: bye', allowReconnect: true })).toEqual({ type: ClientType.Close, error: 'RTC_ERR_SHUTTING_DOWN: bye', allowReconnect: true });
    expect(theirs({ type: MessageType.Ack, sequenceId: 4 })).toEqual({ type: ClientType.Ack, sequenceId: 4 });
    expect(theirs({ type: MessageType.Sequence, sequenceId: 5 })).toEqual({ type: ClientType.Sequence, sequenceId: 5 });
    // Ping is always these bytes (HubProtocol.md).
    expect([...writeMessagePackMessage({ type: MessageType.Ping })]).toEqual([0x02, 0x91, 0x06]);
  });

  it('leaves undefined fields out of maps, as JSON.stringify does', () => {
    const msg = theirs({ type: MessageType.Completion, invocationId: '0', result: { a: 1, b: undefined } }) as { result: Record<string, unknown> };
    expect(Object.keys(msg.result)).toEqual(['a']);
  });
});

describe('refusals', () => {
  const body = (value: unknown): Uint8Array => encode(value);
  it.each<[string, unknown, RegExp]>([
    ['not an array', { type: 1 }, /non-empty MessagePack array, got object/],
    ['an empty array', [], /non-empty MessagePack array/],
    ['no integer type', ['1'], /integer type/],
    ['a short Invocation', [1, {}, '1', 'T'], /at least 5 items/],
    ['headers that are not a map of strings', [1, { a: 1 }, null, 'T', []], /'headers'/],
    ['a numeric invocation id', [1, {}, 5, 'T', []], /'invocationId' must be a string or nil/],
    ['a non-string target', [1, {}, null, 7, []], /string 'target', got number/],
    ['arguments that are not an array', [1, {}, null, 'T', 'x'], /array 'arguments'/],
    ['an unknown completion kind', [3, {}, '1', 9], /unknown result kind/],
    ['a negative sequence id', [8, -1], /non-negative integer 'sequenceId'/],
  ])('%s', (_what, value, message) => {
    expect(() => parseMessagePackMessage(body(value))).toThrow(message);
  });

  it('names bytes that are no MessagePack at all', () => {
    expect(() => parseMessagePackMessage(new Uint8Array([0xc1]))).toThrow(/not valid MessagePack/);
  });

  it('ignores message types it does not know, and extra trailing items', () => {
    expect(parseMessagePackMessage(body([42, 'future']))).toEqual({ type: 42, unknown: true });
    expect(parseMessagePackMessage(body([6, 'extra']))).toEqual({ type: MessageType.Ping });
  });

  it('finds the type and invocation id of a message it will not handle', () => {
    expect(messagePackHead(body([1, {}, '9', 'Relay', [new Uint8Array(10)]]))).toEqual({ type: 1, invocationId: '9' });
    expect(messagePackHead(body([1, {}, null, 'Relay', []]))).toEqual({ type: 1, invocationId: undefined });
    expect(messagePackHead(new Uint8Array([0xc1]))).toEqual({ type: -1, invocationId: undefined });
  });
});
