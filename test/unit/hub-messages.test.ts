/** The JSON hub protocol parser: every message type, precise errors for bad input, and a fuzz property. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ErrorCode, RtcAgentError } from '../../src/errors.js';
import {
  MessageType,
  isTrackable,
  isUnknownMessage,
  parseHandshakeRequest,
  parseHubMessage,
  serializeHubMessage,
  type HubMessage,
} from '../../src/protocol/signalr/hub-messages.js';
import { RECORD_SEPARATOR, splitRecords, writeRecord } from '../../src/protocol/signalr/text-format.js';

/** Runs `fn` and returns the RtcAgentError it throws; fails the test if it throws anything else or nothing. */
function rtcError(fn: () => unknown): RtcAgentError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(RtcAgentError);
    return err as RtcAgentError;
  }
  throw new Error('expected an RtcAgentError, but nothing was thrown');
}

function protocolError(record: string): RtcAgentError {
  const err = rtcError(() => parseHubMessage(record));
  expect(err.code).toBe(ErrorCode.PROTOCOL);
  return err;
}

const j = (value: unknown): string => JSON.stringify(value);

describe('parseHubMessage: valid messages of every type', () => {
  it('parses an Invocation with id, arguments, streamIds and headers', () => {
    const msg = parseHubMessage(j({ type: 1, invocationId: '0', target: 'Join', arguments: ['room', { a: 1 }], streamIds: ['2'], headers: { k: 'v' } }));
    expect(msg).toEqual({ type: 1, invocationId: '0', target: 'Join', arguments: ['room', { a: 1 }], streamIds: ['2'], headers: { k: 'v' } });
  });

  it('parses a fire-and-forget Invocation without invocationId (null counts as absent)', () => {
    const msg = parseHubMessage(j({ type: 1, target: 'Relay', arguments: [] }));
    expect(msg).toEqual({ type: 1, target: 'Relay', arguments: [] });
    expect('invocationId' in msg).toBe(false);
    const withNull = parseHubMessage(j({ type: 1, invocationId: null, target: 'Relay', arguments: [], streamIds: null, headers: null }));
    expect(withNull).toEqual({ type: 1, target: 'Relay', arguments: [] });
  });

  it('ignores unknown extra fields', () => {
    expect(parseHubMessage(j({ type: 6, extra: [1, 2, 3] }))).toEqual({ type: 6 });
    expect(parseHubMessage(j({ type: 1, target: 'X', arguments: [], future: true }))).toEqual({ type: 1, target: 'X', arguments: [] });
  });

  it('parses a StreamItem, keeping any item value (including absent)', () => {
    expect(parseHubMessage(j({ type: 2, invocationId: '3', item: { x: [1] } }))).toEqual({ type: 2, invocationId: '3', item: { x: [1] } });
    expect(parseHubMessage(j({ type: 2, invocationId: '3' }))).toEqual({ type: 2, invocationId: '3', item: undefined });
  });

  it('parses Completions: void, with result (even null), with error', () => {
    expect(parseHubMessage(j({ type: 3, invocationId: '1' }))).toEqual({ type: 3, invocationId: '1' });
    const withNull = parseHubMessage(j({ type: 3, invocationId: '1', result: null }));
    expect(withNull).toEqual({ type: 3, invocationId: '1', result: null });
    expect('result' in withNull).toBe(true);
    expect(parseHubMessage(j({ type: 3, invocationId: '1', result: 42 }))).toEqual({ type: 3, invocationId: '1', result: 42 });
    expect(parseHubMessage(j({ type: 3, invocationId: 's1', error: 'boom' }))).toEqual({ type: 3, invocationId: 's1', error: 'boom' });
  });

  it('parses a StreamInvocation', () => {
    expect(parseHubMessage(j({ type: 4, invocationId: '5', target: 'Counter', arguments: [10], streamIds: [] }))).toEqual({
      type: 4,
      invocationId: '5',
      target: 'Counter',
      arguments: [10],
      streamIds: [],
    });
  });

  it('parses CancelInvocation, Ping, Close, Ack and Sequence', () => {
    expect(parseHubMessage(j({ type: 5, invocationId: '5' }))).toEqual({ type: 5, invocationId: '5' });
    expect(parseHubMessage(j({ type: 6 }))).toEqual({ type: 6 });
    expect(parseHubMessage(j({ type: 7 }))).toEqual({ type: 7 });
    expect(parseHubMessage(j({ type: 7, error: 'bye', allowReconnect: true }))).toEqual({ type: 7, error: 'bye', allowReconnect: true });
    // allowReconnect is only true when it is literally true.
    expect(parseHubMessage(j({ type: 7, allowReconnect: 'yes' }))).toEqual({ type: 7, allowReconnect: false });
    expect(parseHubMessage(j({ type: 8, sequenceId: 0 }))).toEqual({ type: 8, sequenceId: 0 });
    expect(parseHubMessage(j({ type: 9, sequenceId: 17 }))).toEqual({ type: 9, sequenceId: 17 });
  });

  it('parses what the official client sends (whitespace, key order)', () => {
    expect(parseHubMessage(' { "arguments" : [2,3], "target":"Add", "invocationId":"0", "type":1 } ')).toEqual({
      type: 1,
      invocationId: '0',
      target: 'Add',
      arguments: [2, 3],
    });
  });

  it('round-trips through serializeHubMessage', () => {
    const messages: HubMessage[] = [
      { type: 1, invocationId: '0', target: 'Join', arguments: ['r'] },
      { type: 1, target: 'Relay', arguments: ['r', null, 'AAAA'] },
      { type: 2, invocationId: '1', item: 'x' },
      { type: 3, invocationId: '2', result: { ok: true } },
      { type: 3, invocationId: '3', error: 'RTC_ERR_BAD_REQUEST: nope' },
      { type: 4, invocationId: '4', target: 'S', arguments: [] },
      { type: 5, invocationId: '4' },
      { type: 6 },
      { type: 7, error: 'x', allowReconnect: true },
      { type: 8, sequenceId: 3 },
      { type: 9, sequenceId: 4 },
    ];
    for (const msg of messages) expect(parseHubMessage(serializeHubMessage(msg))).toEqual(msg);
  });
});

describe('parseHubMessage: unknown types are returned for the caller to ignore', () => {
  it.each([0, 10, 99, -1, 1_000_000])('type %i', (type) => {
    const msg = parseHubMessage(j({ type, whatever: 'x' }));
    expect(isUnknownMessage(msg)).toBe(true);
    expect(msg).toEqual({ type, unknown: true });
  });

  it('known types are not unknown', () => {
    expect(isUnknownMessage(parseHubMessage('{"type":6}'))).toBe(false);
  });
});

describe('parseHubMessage: malformed input is a PROTOCOL error naming what is wrong', () => {
  it.each([
    ['empty string', ''],
    ['garbage', 'hello'],
    ['truncated JSON', '{"type":1,"target":"x"'],
    ['trailing comma', '{"type":6,}'],
  ])('not JSON: %s', (_name, record) => {
    expect(protocolError(record).message).toMatch(/not valid JSON/);
  });

  it.each([
    ['array', '[1,2]', 'array'],
    ['number', '42', 'number'],
    ['null', 'null', 'null'],
    ['string', '"x"', 'string'],
    ['boolean', 'true', 'boolean'],
  ])('not an object: %s', (_name, record, described) => {
    expect(protocolError(record).message).toBe(`message must be a JSON object, got ${described}`);
  });

  it.each([
    ['missing', {}, 'undefined'],
    ['string', { type: '1' }, 'string'],
    ['float', { type: 1.5 }, 'number'],
    ['null', { type: null }, 'null'],
    ['array', { type: [1] }, 'array'],
  ])("'type' %s", (_name, value, described) => {
    const err = protocolError(j(value));
    expect(err.message).toContain("'type'");
    expect(err.message).toContain(described);
  });

  it.each([
    ['Invocation target: 5', { type: 1, invocationId: '0', target: 5, arguments: [] }, 'target', 'number'],
    ['Invocation target missing', { type: 1, arguments: [] }, 'target', 'undefined'],
    ['Invocation arguments: "x"', { type: 1, target: 'Join', arguments: 'x' }, 'arguments', 'string'],
    ['Invocation arguments missing', { type: 1, target: 'Join' }, 'arguments', 'undefined'],
    ['Invocation arguments object', { type: 1, target: 'Join', arguments: { 0: 'a' } }, 'arguments', 'object'],
    ['Invocation invocationId: 7', { type: 1, invocationId: 7, target: 'Join', arguments: [] }, 'invocationId', 'number'],
    ['StreamItem invocationId missing', { type: 2, item: 1 }, 'invocationId', 'undefined'],
    ['Completion invocationId: 7', { type: 3, invocationId: 7 }, 'invocationId', 'number'],
    ['Completion error: 7', { type: 3, invocationId: '1', error: 7 }, 'error', 'number'],
    ['StreamInvocation invocationId missing', { type: 4, target: 'S', arguments: [] }, 'invocationId', 'undefined'],
    ['StreamInvocation target: []', { type: 4, invocationId: '1', target: [], arguments: [] }, 'target', 'array'],
    ['StreamInvocation arguments: null', { type: 4, invocationId: '1', target: 'S', arguments: null }, 'arguments', 'null'],
    ['CancelInvocation invocationId: true', { type: 5, invocationId: true }, 'invocationId', 'boolean'],
    ['Close error: {}', { type: 7, error: {} }, 'error', 'object'],
  ])('%s', (_name, value, field, described) => {
    const err = protocolError(j(value));
    expect(err.message).toContain(`'${field}'`);
    expect(err.message).toContain(described);
  });

  it('names the message type in field errors', () => {
    expect(protocolError(j({ type: 1, target: 5, arguments: [] })).message).toMatch(/^Invocation /);
    expect(protocolError(j({ type: 2 })).message).toMatch(/^StreamItem /);
    expect(protocolError(j({ type: 5 })).message).toMatch(/^CancelInvocation /);
  });

  it.each([
    ['streamIds a string', { type: 1, target: 'X', arguments: [], streamIds: '1' }],
    ['streamIds with a number', { type: 1, target: 'X', arguments: [], streamIds: ['1', 2] }],
    ['StreamInvocation streamIds object', { type: 4, invocationId: '1', target: 'X', arguments: [], streamIds: {} }],
  ])('%s', (_name, value) => {
    expect(protocolError(j(value)).message).toContain("'streamIds'");
  });

  it.each([
    ['array', []],
    ['string', 'k=v'],
    ['non-string value', { k: 1 }],
    ['nested object', { k: { v: 'x' } }],
  ])('headers: %s', (_name, headers) => {
    expect(protocolError(j({ type: 1, target: 'X', arguments: [], headers })).message).toContain("'headers'");
    expect(protocolError(j({ type: 2, invocationId: '1', item: 1, headers })).message).toContain("'headers'");
  });

  it.each([
    ['missing', undefined],
    ['string', '1'],
    ['negative', -1],
    ['fraction', 1.5],
    ['unsafe', 2 ** 53],
    ['null', null],
  ])('Ack/Sequence sequenceId %s', (_name, sequenceId) => {
    expect(protocolError(j({ type: 8, sequenceId })).message).toMatch(/^Ack .*'sequenceId'/);
    expect(protocolError(j({ type: 9, sequenceId })).message).toMatch(/^Sequence .*'sequenceId'/);
  });

  it('rejects a Completion with both result and error', () => {
    expect(protocolError(j({ type: 3, invocationId: '1', result: 1, error: 'x' })).message).toMatch(/both result and error/);
    // Even a null result counts as present next to an error.
    expect(protocolError(j({ type: 3, invocationId: '1', result: null, error: 'x' })).message).toMatch(/both result and error/);
  });

  it('keeps the error short for a huge garbage record (the message never echoes the input)', () => {
    const err = protocolError('x'.repeat(100_000));
    expect(err.message.length).toBeLessThan(1_000);
  });
});

describe('parseHandshakeRequest', () => {
  it('parses the json handshake (versions are not judged here)', () => {
    expect(parseHandshakeRequest('{"protocol":"json","version":1}')).toEqual({ protocol: 'json', version: 1 });
    expect(parseHandshakeRequest('{"protocol":"json","version":2}')).toEqual({ protocol: 'json', version: 2 });
    expect(parseHandshakeRequest('{"protocol":"messagepack","version":3,"x":1}')).toEqual({ protocol: 'messagepack', version: 3 });
  });

  it.each([
    ['not JSON', 'hello', /not valid JSON/],
    ['empty', '', /not valid JSON/],
    ['array', '[]', /must be a JSON object/],
    ['null', 'null', /must be a JSON object/],
    ['number', '1', /must be a JSON object/],
    ['protocol missing', '{"version":1}', /'protocol'/],
    ['protocol a number', '{"protocol":1,"version":1}', /'protocol'/],
    ['version missing', '{"protocol":"json"}', /'version'/],
    ['version a string', '{"protocol":"json","version":"1"}', /'version'/],
    ['version a fraction', '{"protocol":"json","version":1.5}', /'version'/],
  ])('%s is a HANDSHAKE error', (_name, record, pattern) => {
    const err = rtcError(() => parseHandshakeRequest(record));
    expect(err.code).toBe(ErrorCode.HANDSHAKE);
    expect(err.message).toMatch(pattern);
  });
});

describe('splitRecords / writeRecord', () => {
  it('writeRecord appends the 0x1E separator', () => {
    expect(writeRecord('{}')).toBe('{}\u001e');
    expect(RECORD_SEPARATOR).toBe('\u001e');
  });

  it('splits complete records and keeps the partial tail', () => {
    expect(splitRecords('')).toEqual({ records: [], rest: '' });
    expect(splitRecords('{"type":6}')).toEqual({ records: [], rest: '{"type":6}' });
    expect(splitRecords('{"type":6}\u001e')).toEqual({ records: ['{"type":6}'], rest: '' });
    expect(splitRecords('a\u001eb\u001ec')).toEqual({ records: ['a', 'b'], rest: 'c' });
    // Empty records come out as empty strings; the connection skips them.
    expect(splitRecords('\u001e\u001ea\u001e')).toEqual({ records: ['', '', 'a'], rest: '' });
  });

  it('reassembles records split across arbitrary chunk boundaries', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 20 }).map((s) => s.replaceAll(RECORD_SEPARATOR, '')), { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 10 }), (records, cuts) => {
        const text = records.map(writeRecord).join('');
        const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
        const chunks: string[] = [];
        let prev = 0;
        for (const p of points) {
          chunks.push(text.slice(prev, p));
          prev = p;
        }
        chunks.push(text.slice(prev));
        const out: string[] = [];
        let buffer = '';
        for (const chunk of chunks) {
          const { records: got, rest } = splitRecords(buffer + chunk);
          out.push(...got);
          buffer = rest;
        }
        expect(buffer).toBe('');
        expect(out).toEqual(records);
      }),
      { numRuns: 150 },
    );
  });
});

describe('isTrackable', () => {
  it('is true for types 1-5 only', () => {
    const trackable = Object.values(MessageType).filter(isTrackable);
    expect(trackable).toEqual([1, 2, 3, 4, 5]);
    expect(isTrackable(0)).toBe(false);
    expect(isTrackable(99)).toBe(false);
  });
});

describe('parseHubMessage never throws anything but RtcAgentError (property)', () => {
  /** Returns normally with a message, or throws RtcAgentError(PROTOCOL); anything else fails the property. */
  function parsesOrRejects(record: string): void {
    let result: unknown;
    try {
      result = parseHubMessage(record);
    } catch (err) {
      if (!(err instanceof RtcAgentError) || err.code !== ErrorCode.PROTOCOL) {
        throw new Error(`parseHubMessage threw a non-protocol error for ${JSON.stringify(record).slice(0, 200)}: ${String(err)}`);
      }
      return;
    }
    expect(typeof result).toBe('object');
    expect(result).not.toBeNull();
    expect(Number.isInteger((result as { type: unknown }).type)).toBe(true);
  }

  const validMessage = fc.oneof(
    fc.record({ type: fc.constant(1), invocationId: fc.option(fc.string(), { nil: undefined }), target: fc.string(), arguments: fc.array(fc.jsonValue(), { maxLength: 3 }) }, { requiredKeys: ['type', 'target', 'arguments'] }),
    fc.record({ type: fc.constant(2), invocationId: fc.string(), item: fc.jsonValue() }),
    fc.record({ type: fc.constant(3), invocationId: fc.string(), result: fc.jsonValue() }, { requiredKeys: ['type', 'invocationId'] }),
    fc.record({ type: fc.constant(4), invocationId: fc.string(), target: fc.string(), arguments: fc.array(fc.jsonValue(), { maxLength: 3 }) }),
    fc.record({ type: fc.constant(5), invocationId: fc.string() }),
    fc.constant({ type: 6 }),
    fc.record({ type: fc.constant(7), error: fc.string(), allowReconnect: fc.boolean() }, { requiredKeys: ['type'] }),
    fc.record({ type: fc.constantFrom(8, 9), sequenceId: fc.nat() }),
  );

  /** A valid message with one field replaced by an arbitrary value, removed, or a junk field added. */
  const mutated = fc
    .tuple(validMessage, fc.constantFrom('type', 'invocationId', 'target', 'arguments', 'streamIds', 'headers', 'item', 'result', 'error', 'sequenceId', 'allowReconnect', '__proto__', 'constructor'), fc.option(fc.jsonValue(), { nil: undefined }))
    .map(([msg, field, value]) => {
      const copy: Record<string, unknown> = { ...msg };
      if (value === undefined) delete copy[field];
      else Object.defineProperty(copy, field, { value, enumerable: true, configurable: true, writable: true });
      return JSON.stringify(copy);
    });

  it('for arbitrary strings', () => {
    fc.assert(fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' })), parsesOrRejects), { numRuns: 1_000 });
  });

  it('for arbitrary JSON values', () => {
    fc.assert(fc.property(fc.jsonValue(), (value) => parsesOrRejects(JSON.stringify(value))), { numRuns: 1_000 });
  });

  it('for JSON objects with an arbitrary type and arbitrary fields', () => {
    const obj = fc.dictionary(fc.constantFrom('invocationId', 'target', 'arguments', 'streamIds', 'headers', 'item', 'result', 'error', 'sequenceId', 'allowReconnect'), fc.jsonValue());
    fc.assert(
      fc.property(fc.integer({ min: -2, max: 12 }), obj, (type, fields) => parsesOrRejects(JSON.stringify({ ...fields, type }))),
      { numRuns: 2_000 },
    );
  });

  it('for valid messages, mutated', () => {
    fc.assert(fc.property(mutated, parsesOrRejects), { numRuns: 2_000 });
  });

  it('for valid messages, truncated or with bytes spliced in', () => {
    fc.assert(
      fc.property(validMessage, fc.nat(), fc.string({ maxLength: 4 }), (msg, at, junk) => {
        const text = JSON.stringify(msg);
        const cut = at % (text.length + 1);
        parsesOrRejects(text.slice(0, cut));
        parsesOrRejects(text.slice(0, cut) + junk + text.slice(cut));
      }),
      { numRuns: 1_000 },
    );
  });

  it('valid messages parse back to a message of their own type', () => {
    fc.assert(
      fc.property(validMessage, (msg) => {
        const parsed = parseHubMessage(JSON.stringify(msg));
        expect(parsed.type).toBe(msg.type);
        expect(isUnknownMessage(parsed)).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it('deeply nested input is handled (rejected or parsed), not a crash', () => {
    const depth = 5_000;
    parsesOrRejects('['.repeat(depth) + ']'.repeat(depth));
    parsesOrRejects(`{"type":1,"target":"x","arguments":${'['.repeat(depth)}${']'.repeat(depth)}}`);
  });
});
