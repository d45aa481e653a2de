/**
 * The engine's receiving half of file transfer against a hostile sender, on an in-memory FileStore:
 * duplicate offer ids, per-peer and total limits, the idle timeout (fake clock), malformed offers,
 * and every way a transfer can fail — each one discarding its sink before `file-failed` fires,
 * giving its slot back, and answering the sender with the code (or not, when it cannot hear).
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { bytesEqual } from '../../src/engine/bytes.js';
import { fileStoreFailure } from '../../src/engine/files/store.js';
import { IncomingFileSlots } from '../../src/engine/files/incoming-file-slots.js';
import { Gate, FileNet, KiB, content, offerId, sha256Hex, text, until, type HostileSender, type Side } from './files-support.js';

/** One receiver ('me') and one hostile sender ('evil' unless named), sharing `slots` if given. */
function setup(options: Parameters<FileNet['side']>[1] = {}, sender = 'evil'): { net: FileNet; me: Side; evil: HostileSender } {
  const net = new FileNet();
  const me = net.side('me', options);
  return { net, me, evil: net.peer(sender) };
}

describe('duplicate offer ids', () => {
  it('are refused while the first transfer is in progress and after it finished; the first completes intact', async () => {
    const { net, me, evil } = setup();
    const data = content(300 * KiB);
    const id = offerId();
    await evil.offer('me', id, 'first.bin', data.length);
    await evil.chunks('me', id, data.subarray(0, 128 * KiB));
    await until(() => me.store.sinks[0]?.pieces.length === 2, 'the first chunks written');

    await evil.offer('me', id, 'second.bin', 10);
    await until(() => me.events.failed.length === 1, 'the duplicate refused');
    expect(me.events.failed[0]).toMatchObject({ id, direction: 'receive', peerId: 'evil', name: 'second.bin', code: 'duplicate' });
    expect(me.events.failed[0]!.reason).toContain(`duplicate offer id ${id}`);
    expect(net.repliesTo('evil')).toMatchObject([{ t: 'reject', id, code: 'duplicate' }]);
    // Nothing was opened for it, and the first transfer's sink is untouched.
    expect(me.store.sinks).toHaveLength(1);
    expect(me.store.sinks[0]!.state).toBe('open');

    await evil.chunks('me', id, data.subarray(128 * KiB));
    await evil.end('me', id, data);
    await until(() => me.events.received.length === 1, 'the first transfer received');
    const got = me.events.received[0]!;
    expect(got).toMatchObject({ id, from: 'evil', name: 'first.bin', size: data.length, sha256: await sha256Hex(data) });
    // bytesEqual: vitest's deep equality walks a 300 KiB array element by element, for seconds.
    expect(bytesEqual(me.store.kept.get(got.path)!, data)).toBe(true);
    expect(got.blob).toBe(me.store.kept.get(got.path));
    expect(net.repliesTo('evil')[1]).toEqual({ t: 'done', id, ok: true, sha256: got.sha256 });

    await evil.offer('me', id, 'third.bin', 5);
    await until(() => me.events.failed.length === 2, 'the id of a finished transfer refused');
    expect(me.events.failed[1]).toMatchObject({ id, name: 'third.bin', code: 'duplicate' });
    expect(me.store.sinks).toHaveLength(1);

    // Ids are per sender: another peer may use the same one.
    const other = net.peer('other');
    await other.offer('me', id, 'theirs.bin', 3);
    await until(() => me.events.offers.length === 2, "the other sender's offer taken");
    expect(me.store.sinks).toHaveLength(2);
  });
});

describe('limits on transfers in progress', () => {
  it('hold each sender to maxPerPeer and everyone to maxTotal across rooms, open nothing when full, and free slots as transfers end', async () => {
    const slots = new IncomingFileSlots({ maxPerPeer: 2, maxTotal: 3 });
    const room1 = setup({ slots });
    const room2 = setup({ slots }, 'evil2');
    const small = text('four');
    const ids = [offerId(), offerId(), offerId()];
    for (const id of ids) await room1.evil.offer('me', id, `${id}.txt`, small.length);
    await until(() => room1.me.events.failed.length === 1, 'the third offer refused');
    expect(room1.me.events.failed[0]).toMatchObject({ id: ids[2], code: 'too-many' });
    expect(room1.me.events.failed[0]!.reason).toBe('too many files from this sender at once: 2 already in progress (maxIncomingFilesPerPeer)');
    expect(room1.me.events.offers.map((o) => o.id)).toEqual(ids.slice(0, 2));
    await until(() => room1.me.store.sinks.length === 2, 'two sinks');
    expect(room1.net.repliesTo('evil')).toMatchObject([{ t: 'reject', id: ids[2], code: 'too-many' }]);

    // Another sender, in another room of the same agent: one slot is left in all.
    const [b1, b2] = [offerId(), offerId()];
    await room2.evil.offer('me', b1, 'b1.bin', 4);
    await room2.evil.offer('me', b2, 'b2.bin', 4);
    await until(() => room2.me.events.failed.length === 1, 'the fourth offer in all refused');
    expect(room2.me.events.failed[0]).toMatchObject({ id: b2, room: 'lobby', code: 'too-many' });
    expect(room2.me.events.failed[0]!.reason).toBe('too many incoming files at once: 3 already in progress from all peers (maxIncomingFiles)');
    expect(slots.inUse()).toBe(3);

    // One transfer completes: its slot serves a new offer.
    await room1.evil.chunks('me', ids[0]!, small);
    await room1.evil.end('me', ids[0]!, small);
    await until(() => room1.me.events.received.length === 1, 'the first transfer received');
    expect(slots.inUse()).toBe(2);
    const later = offerId();
    await room2.evil.offer('me', later, 'later.bin', 4);
    await until(() => room2.me.events.offers.some((o) => o.id === later), 'a new offer accepted after a slot freed');
    expect(slots.inUse()).toBe(3);

    // The first sender leaves: its transfer is discarded and its slot given back.
    room1.net.leave('evil');
    await until(() => room1.me.events.failed.length === 2, "the sender's transfer removed");
    expect(room1.me.events.failed[1]).toMatchObject({ id: ids[1], code: 'peer-left', reason: 'the sender left' });
    expect(room1.me.store.partial()).toEqual([]);
    expect(slots.inUse('evil')).toBe(0);
    expect(slots.inUse()).toBe(2);
  });
});

describe('the idle timeout', () => {
  it('aborts a transfer after idleTimeoutMs without data, counting each chunk as activity, and ignores what comes late', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    onTestFinished(() => void vi.useRealTimers());
    const { net, me, evil } = setup({ settings: { idleTimeoutMs: 1_000 } });
    const data = content(10 * KiB);
    const [stalled, silent] = [offerId(), offerId()];
    await evil.offer('me', stalled, 'stalled.bin', data.length);
    await evil.chunks('me', stalled, data.subarray(0, KiB));
    await evil.offer('me', silent, 'silent.bin', 1000);
    await until(() => me.store.sinks.length === 2 && me.store.sinks[0]!.pieces.length === 1, 'both sinks made, one chunk written');

    await vi.advanceTimersByTimeAsync(600);
    await evil.chunks('me', stalled, data.subarray(KiB, 2 * KiB));
    await until(() => me.store.sinks[0]!.pieces.length === 2, 'a second chunk written');
    await vi.advanceTimersByTimeAsync(399);
    expect(me.events.failed).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    await until(() => me.events.failed.length === 1, 'the silent transfer aborted');
    expect(me.events.failed[0]).toMatchObject({ id: silent, code: 'idle', reason: 'nothing received for 1000 ms (fileIdleTimeoutMs)' });
    // The stalled one had data 400 ms ago: it has 600 ms left.
    await vi.advanceTimersByTimeAsync(599);
    expect(me.events.failed).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await until(() => me.events.failed.length === 2, 'the stalled transfer aborted');
    expect(me.events.failed[1]).toMatchObject({ id: stalled, code: 'idle' });
    expect(me.store.partial()).toEqual([]);
    await until(() => net.repliesTo('evil').length === 2, 'both senders told');
    expect(net.repliesTo('evil').map((r) => [r.t, r.id, r.code])).toEqual([
      ['reject', silent, 'idle'],
      ['reject', stalled, 'idle'],
    ]);

    // The sender wakes up: its chunks and end are dropped, a re-offer is a duplicate.
    await evil.chunks('me', stalled, data.subarray(2 * KiB));
    await evil.end('me', stalled, data);
    await evil.offer('me', stalled, 'again.bin', 1);
    await until(() => me.events.failed.length === 3, 'the re-offer refused');
    expect(me.events.failed[2]).toMatchObject({ id: stalled, code: 'duplicate' });
    expect(me.events.received).toEqual([]);
    expect(me.store.sinks.map((s) => s.pieces.length)).toEqual([0, 0]);
  });

  it('counts arriving chunks, and a slow store catching up after `end`, as activity', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    onTestFinished(() => void vi.useRealTimers());
    const { me, evil } = setup({ settings: { idleTimeoutMs: 1_000 } });
    // Each write waits for its own gate: the store takes as long as the test says.
    const gates = [new Gate(), new Gate()];
    let writing = 0;
    me.store.faults = { write: (n) => ((writing = n), gates[n - 1]!.passed) };
    const data = content(2 * KiB);
    const id = offerId();
    await evil.offer('me', id, 'slow.bin', data.length);
    await evil.chunks('me', id, data.subarray(0, KiB));
    await until(() => writing === 1, 'the first write started');
    await vi.advanceTimersByTimeAsync(800);
    await evil.chunks('me', id, data.subarray(KiB));
    await vi.advanceTimersByTimeAsync(800);
    expect(me.events.failed).toEqual([]);
    await evil.end('me', id, data);
    gates[0]!.open();
    await until(() => writing === 2, 'the second write started');
    await vi.advanceTimersByTimeAsync(900);
    expect(me.events.failed).toEqual([]);
    gates[1]!.open();
    await until(() => me.events.received.length === 1, 'the file received');
  });

  it('runs while the application decides: a decision that comes after it opens nothing', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    onTestFinished(() => void vi.useRealTimers());
    let decide!: (yes: boolean) => void;
    const { me, evil } = setup({ settings: { idleTimeoutMs: 1_000 }, accept: (o) => o.name !== 'undecided.bin' || new Promise<boolean>((resolve) => (decide = resolve)) });
    const id = offerId();
    await evil.offer('me', id, 'undecided.bin', 10);
    await until(() => me.events.offers.length === 1, 'the offer');
    await vi.advanceTimersByTimeAsync(1_000);
    await until(() => me.events.failed.length === 1, 'the transfer aborted');
    expect(me.events.failed[0]).toMatchObject({ id, code: 'idle' });
    decide(true);
    await evil.chunks('me', id, content(10));
    await evil.end('me', id, content(10));
    await evil.offer('me', offerId(), 'marker.bin', 1);
    await until(() => me.events.offers.length === 2, 'a later offer handled');
    expect(me.store.sinks).toHaveLength(1);
    expect(me.store.sinks[0]!.offer.name).toBe('marker.bin');
  });
});

describe('offers refused before anything is opened', () => {
  it('answer malformed, unwanted and oversized offers with their code, and drop what names no valid id', async () => {
    const { net, me, evil } = setup({ settings: { maxFileBytes: 1000 } });
    await evil.offer('me', 'short', 'x.bin', 1);
    await evil.offer('me', 'has space in it', 'x.bin', 1);
    await evil.offer('me', 42, 'x.bin', 1);
    await evil.raw('me', new Uint8Array([7, 1, 2, 3]));
    await evil.raw('me', { t: 'end', id: 'nobody-knows-me' });
    await evil.raw('me', 'not an object');
    const [negative, fraction, textual, missing, big] = [offerId(), offerId(), offerId(), offerId(), offerId()];
    await evil.offer('me', negative, 'a.bin', -5);
    await evil.offer('me', fraction, 'b.bin', 1.5);
    await evil.offer('me', textual, 'c.bin', '10');
    await evil.offer('me', missing, 'd.bin', undefined);
    await evil.offer('me', big, 'e.bin', 1001);
    await until(() => me.events.failed.length === 5, 'five refusals');
    const byId = new Map(me.events.failed.map((f) => [f.id, f]));
    expect(byId.get(negative)).toMatchObject({ code: 'bad-offer', reason: 'malformed offer: size must be a whole number of bytes, got -5' });
    expect(byId.get(fraction)).toMatchObject({ code: 'bad-offer', reason: 'malformed offer: size must be a whole number of bytes, got 1.5' });
    expect(byId.get(textual)).toMatchObject({ code: 'bad-offer', reason: 'malformed offer: size must be a whole number of bytes, got "10"' });
    expect(byId.get(missing)).toMatchObject({ code: 'bad-offer', reason: 'malformed offer: size must be a whole number of bytes, got nothing' });
    expect(byId.get(big)).toMatchObject({ code: 'too-large', reason: '1001 bytes is over the 1000-byte limit' });
    await until(() => net.repliesTo('evil').length === 5, 'five replies');
    expect(net.repliesTo('evil').every((r) => r.t === 'reject' && r.code === byId.get(r.id)?.code)).toBe(true);
    expect(me.events.offers).toEqual([]);
    expect(me.store.sinks).toEqual([]);
  });

  it('refuses everything when acceptFiles is false', async () => {
    const { net, me, evil } = setup({ settings: { acceptFiles: false } });
    const id = offerId();
    await evil.offer('me', id, 'x.bin', 1);
    await until(() => me.events.failed.length === 1, 'the refusal');
    expect(me.events.failed[0]).toMatchObject({ id, code: 'refused', reason: 'this agent does not accept files' });
    await until(() => net.repliesTo('evil').length === 1, 'the reply');
    expect(net.repliesTo('evil')[0]).toMatchObject({ t: 'reject', id, code: 'refused' });
    expect(me.store.sinks).toEqual([]);
  });

  it('gives every offer a harmless name before the application or the store sees it', async () => {
    const seen: string[] = [];
    const { me, evil } = setup({ accept: (o) => (seen.push(o.name), true) });
    for (const name of ['../../etc/passwd', 'C:\\Windows\\win.ini', 'a\u0000b\u202e.txt', '..', 'CON', 7]) await evil.offer('me', offerId(), name, 1);
    await until(() => me.store.sinks.length === 6, 'six sinks');
    const names = ['passwd', 'win.ini', 'ab.txt', 'file', '_CON', 'file'];
    expect(me.events.offers.map((o) => o.name)).toEqual(names);
    expect(seen).toEqual(names);
    expect(me.store.sinks.map((s) => s.offer.name)).toEqual(names);
  });
});

/** How a failure is provoked on a transfer that was offered (and, for most, partly sent). */
interface FailureCase {
  what: string;
  code: string;
  reason: string | RegExp;
  /** What the sender is told: a reject, a failed done, or nothing (it left, or it aborted). */
  tell: 'reject' | 'done' | null;
  size?: number;
  accept?: () => boolean | Promise<boolean>;
  faults?: Side['store']['faults'];
  provoke(c: { net: FileNet; me: Side; evil: HostileSender; id: string; data: Uint8Array }): Promise<void>;
}

const partOf = (data: Uint8Array): Uint8Array => data.subarray(0, 128 * KiB);

const CASES: FailureCase[] = [
  { what: 'more data than offered', code: 'too-large', reason: 'more data than the 10 bytes offered', tell: 'done', size: 10, provoke: ({ evil, id }) => evil.chunks('me', id, content(20)) },
  { what: 'the sender aborts', code: 'aborted', reason: /^the sender aborted: x{200}…$/, tell: null, provoke: async ({ evil, id, data }) => (await evil.chunks('me', id, partOf(data)), await evil.abort('me', id, 'x'.repeat(10_000))) },
  { what: 'the sender leaves', code: 'peer-left', reason: 'the sender left', tell: null, provoke: async ({ net, evil, id, data }) => (await evil.chunks('me', id, partOf(data)), net.leave('evil')) },
  { what: 'the room closes', code: 'closed', reason: 'the room was closed', tell: null, provoke: async ({ me, evil, id, data }) => (await evil.chunks('me', id, partOf(data)), await me.files.close()) },
  { what: 'the application says no', code: 'refused', reason: 'refused by the application', tell: 'reject', accept: () => false, provoke: async () => undefined },
  { what: "the application's acceptFile throws", code: 'refused', reason: "the application's acceptFile failed: nope", tell: 'reject', accept: () => Promise.reject(new Error('nope')), provoke: async () => undefined },
  {
    what: 'the store cannot make a sink',
    code: 'io',
    reason: 'cannot write to the download directory: ENOTDIR',
    tell: 'reject',
    faults: { createSink: () => Promise.reject(fileStoreFailure('io', 'cannot write to the download directory: ENOTDIR')) },
    provoke: async () => undefined,
  },
  { what: 'a write fails', code: 'io', reason: 'writing failed: ENOSPC', tell: 'done', faults: { write: (n) => void (n === 2 && throwIt(fileStoreFailure('io', 'writing failed: ENOSPC'))) }, provoke: ({ evil, id, data }) => evil.chunks('me', id, partOf(data)) },
  { what: 'a write throws a plain error', code: 'io', reason: 'writing failed: boom', tell: 'done', faults: { write: () => throwIt(new Error('boom')) }, provoke: ({ evil, id, data }) => evil.chunks('me', id, partOf(data)) },
  { what: 'the SHA-256 does not match', code: 'corrupt', reason: 'SHA-256 mismatch: the file is corrupt', tell: 'done', provoke: async ({ evil, id, data }) => (await evil.chunks('me', id, data), await evil.end('me', id, data, '0'.repeat(64))) },
  { what: 'fewer bytes than offered', code: 'corrupt', reason: `got ${128 * KiB} of ${300 * KiB} bytes`, tell: 'done', provoke: async ({ evil, id, data }) => (await evil.chunks('me', id, partOf(data)), await evil.end('me', id, data)) },
  {
    what: 'the store cannot keep the file',
    code: 'io',
    reason: 'could not store the file: EACCES',
    tell: 'done',
    faults: { finish: () => throwIt(fileStoreFailure('io', 'could not store the file: EACCES')) },
    provoke: async ({ evil, id, data }) => (await evil.chunks('me', id, data), await evil.end('me', id, data)),
  },
];

function throwIt(err: Error): never {
  throw err;
}

describe('every way a transfer fails', () => {
  it.each(CASES)('$what: `$code`, the sink discarded before file-failed, the slot given back', async (c) => {
    const slots = new IncomingFileSlots({ maxPerPeer: 8, maxTotal: 8 });
    const { net, me, evil } = setup({ slots, ...(c.accept ? { accept: c.accept } : {}) });
    // Discarding takes a while (a slow disk): file-failed must still wait for it.
    me.store.faults = { ...c.faults, discard: () => sha256Hex(content(KiB)).then(() => undefined) };
    const partialWhenFailed: number[] = [];
    me.events.onEvent = (event) => void (event === 'file-failed' && partialWhenFailed.push(me.store.partial().length));
    const data = content(c.size ?? 300 * KiB);
    const id = offerId();
    await evil.offer('me', id, 'victim.bin', data.length);
    await until(() => me.events.offers.length === 1, 'the offer taken');
    await c.provoke({ net, me, evil, id, data });
    await until(() => me.events.failed.length === 1, `the failure (${c.what})`);
    const failed = me.events.failed[0]!;
    expect(failed).toMatchObject({ id, room: 'lobby', direction: 'receive', peerId: 'evil', name: 'victim.bin', code: c.code });
    if (typeof c.reason === 'string') expect(failed.reason).toBe(c.reason);
    else expect(failed.reason).toMatch(c.reason);
    expect(partialWhenFailed).toEqual([0]);
    expect(me.store.sinks.every((s) => s.state === 'discarded')).toBe(true);
    expect(slots.inUse()).toBe(0);
    expect(me.events.received).toEqual([]);
    if (c.tell) await until(() => net.repliesTo('evil').length === 1, 'the reply');
    const replies = net.repliesTo('evil');
    if (c.tell === 'reject') expect(replies).toEqual([{ t: 'reject', id, code: c.code, reason: failed.reason }]);
    if (c.tell === 'done') expect(replies).toEqual([{ t: 'done', id, ok: false, code: c.code, reason: failed.reason }]);
    // Nothing more happens for that transfer: the sender's late end is dropped.
    await evil.end('me', id, data);
    await me.files.close();
    expect(me.events.failed).toHaveLength(1);
    if (!c.tell) expect(net.repliesTo('evil')).toEqual([]);
  });
});

describe('progress and close', () => {
  it('reports progress every 256 KiB and at the end', async () => {
    const { me, evil } = setup();
    const data = content(600 * KiB);
    const id = offerId();
    await evil.offer('me', id, 'p.bin', data.length);
    await evil.chunks('me', id, data);
    await evil.end('me', id, data);
    await until(() => me.events.received.length === 1, 'received');
    expect(me.events.progress.map((p) => p.bytes)).toEqual([256 * KiB, 512 * KiB, 600 * KiB]);
    expect(me.events.progress.every((p) => p.direction === 'receive' && p.size === data.length && p.peerId === 'evil')).toBe(true);
  });

  it('close() waits for a verified file the store is still keeping, and drops later offers', async () => {
    const gate = new Gate();
    const { me, evil } = setup();
    let finishing = false;
    me.store.faults = { finish: () => ((finishing = true), gate.passed) };
    const data = content(100 * KiB);
    const id = offerId();
    await evil.offer('me', id, 'kept.bin', data.length);
    await evil.chunks('me', id, data);
    await evil.end('me', id, data);
    await until(() => finishing, 'the store keeping the file');
    let closed = false;
    const closing = me.files.close().then(() => (closed = true));
    await evil.offer('me', offerId(), 'too-late.bin', 1);
    await sha256Hex(data);
    expect(closed).toBe(false);
    gate.open();
    await closing;
    expect(me.events.received.map((r) => r.name)).toEqual(['kept.bin']);
    expect(me.events.failed).toEqual([]);
    expect(me.events.offers).toHaveLength(1);
  });
});
