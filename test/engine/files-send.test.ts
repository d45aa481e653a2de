/**
 * The engine's sending half of file transfer, between FileTransfers on in-memory stores: delivery
 * to every peer or one, progress, a refusal that stops the stream, receivers that never confirm
 * (fake clock), leave or close while waiting, a source that fails mid-read, bytes changed on the
 * way, and a hostile receiver's answers.
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { bytesEqual } from '../../src/engine/bytes.js';
import { decodeChunk } from '../../src/engine/files/file-wire.js';
import { ErrorCode } from '../../src/errors.js';
import { track } from './support/world.js';
import { FileNet, KiB, content, sha256Hex, until, type Sent } from './files-support.js';

const isChunk = (m: Sent): boolean => m.data instanceof Uint8Array;
const isJson = (t: string) => (m: Sent): boolean => !(m.data instanceof Uint8Array) && (m.data as { t?: string }).t === t;

function fakeClock(): void {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  onTestFinished(() => void vi.useRealTimers());
}

describe('sending a file', () => {
  it('goes to everyone in the room, verified, with progress, and resolves with who confirmed', async () => {
    const net = new FileNet();
    const alice = net.side('alice');
    const bob = net.side('bob');
    const carol = net.side('carol');
    const data = content(700 * KiB);
    alice.store.addFile('report.bin', data);

    const sent = await alice.files.send('report.bin');
    expect(sent).toEqual({ id: expect.any(String), name: 'report.bin', size: data.length, sha256: await sha256Hex(data), deliveredTo: ['bob', 'carol'] });
    for (const side of [bob, carol]) {
      expect(side.events.received).toMatchObject([{ id: sent.id, from: 'alice', fromName: 'name-of-alice', name: 'report.bin', size: data.length, sha256: sent.sha256 }]);
      expect(bytesEqual(side.store.kept.get(side.events.received[0]!.path)!, data)).toBe(true);
    }
    const toBob = alice.events.progress.filter((p) => p.peerId === 'bob');
    expect(toBob.map((p) => p.bytes)).toEqual([256 * KiB, 512 * KiB, 700 * KiB]);
    expect(toBob.every((p) => p.direction === 'send' && p.id === sent.id && p.size === data.length)).toBe(true);
    expect(alice.events.failed).toEqual([]);
    expect(alice.store.sourcesClosed).toEqual(['report.bin']);
    // Offer, 11 chunks of at most 64 KiB, end: each once, to each receiver.
    const toBobWire = net.sent.filter((m) => m.from === 'alice' && m.to === 'bob');
    expect(toBobWire.filter(isChunk)).toHaveLength(11);
    expect(toBobWire.filter(isChunk).every((m) => decodeChunk(m.data as Uint8Array)!.data.length <= 64 * KiB)).toBe(true);
    expect(toBobWire.filter((m) => !isChunk(m)).map((m) => (m.data as { t: string }).t)).toEqual(['offer', 'end']);
  });

  it('with `to`, goes to that peer only', async () => {
    const net = new FileNet();
    const alice = net.side('alice');
    const bob = net.side('bob');
    const carol = net.side('carol');
    alice.store.addFile('a.txt', content(10));
    await expect(alice.files.send('a.txt', { to: 'carol' })).resolves.toMatchObject({ deliveredTo: ['carol'] });
    expect(carol.events.received).toHaveLength(1);
    expect(bob.events.all).toEqual([]);
    expect(net.sent.some((m) => m.to === 'bob')).toBe(false);
  });

  it('stops streaming once every receiver refused, and fails with the refusal', async () => {
    const net = new FileNet();
    const alice = net.side('alice');
    let decide!: (yes: boolean) => void;
    net.side('bob', { accept: () => new Promise<boolean>((resolve) => (decide = resolve)) });
    alice.store.addFile('big.bin', content(4 * 1024 * KiB));
    // Hold the sender at its third chunk until the refusal has reached it.
    let chunks = 0;
    net.hold = async (m) => {
      if (m.from !== 'alice' || !isChunk(m) || ++chunks !== 3) return;
      decide(false);
      await until(() => net.sent.some((r) => r.to === 'alice' && isJson('reject')(r)), 'the refusal sent back');
      await Promise.resolve();
    };
    await expect(alice.files.send('big.bin')).rejects.toMatchObject({ code: ErrorCode.FORBIDDEN, message: 'name-of-bob refused the file: refused by the application' });
    expect(alice.events.failed).toMatchObject([{ direction: 'send', peerId: 'bob', name: 'big.bin', code: 'refused' }]);
    const fromAlice = net.sent.filter((m) => m.from === 'alice');
    expect(fromAlice.filter(isChunk).length).toBeLessThanOrEqual(4);
    expect(fromAlice.some(isJson('end'))).toBe(false);
    expect(alice.store.sourcesClosed).toEqual(['big.bin']);
  });

  it('fails for a receiver that never confirms after confirmTimeoutMs, and succeeds for the others', async () => {
    fakeClock();
    const net = new FileNet();
    const alice = net.side('alice', { settings: { confirmTimeoutMs: 5_000 } });
    net.side('bob');
    net.side('carol');
    net.intercept = (m) => (m.from === 'carol' && isJson('done')(m) ? null : m.data);
    alice.store.addFile('a.txt', content(100));
    const sending = track(alice.files.send('a.txt'));
    await until(() => net.sent.some((m) => m.from === 'alice' && m.to === 'carol' && isJson('end')(m)), 'the end sent');
    await until(() => net.sent.some((m) => m.from === 'bob' && isJson('done')(m)), "bob's confirmation");
    await vi.advanceTimersByTimeAsync(4_999);
    expect(sending.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    await sending.promise;
    expect(sending.value?.deliveredTo).toEqual(['bob']);
    expect(alice.events.failed).toMatchObject([{ peerId: 'carol', code: 'timeout', reason: 'name-of-carol did not confirm a.txt within 5000 ms' }]);
  });

  it('with nobody confirming, rejects with the first failure: RTC_ERR_SEND_TIMEOUT', async () => {
    fakeClock();
    const net = new FileNet();
    const alice = net.side('alice', { settings: { confirmTimeoutMs: 5_000 } });
    net.peer('mute');
    alice.store.addFile('a.txt', content(100));
    const sending = track(alice.files.send('a.txt'));
    await until(() => net.sent.some(isJson('end')), 'the end sent');
    await vi.advanceTimersByTimeAsync(5_000);
    await sending.promise;
    expect(sending.error).toMatchObject({ code: ErrorCode.SEND_TIMEOUT, message: 'name-of-mute did not confirm a.txt within 5000 ms' });
  });

  it('fails with `peer-left` when the receiver leaves, and `closed` when the room closes, before confirming', async () => {
    const net = new FileNet();
    const alice = net.side('alice');
    net.peer('bob');
    net.peer('carol');
    alice.store.addFile('a.txt', content(100));
    const toBob = track(alice.files.send('a.txt', { to: 'bob' }));
    const toCarol = track(alice.files.send('a.txt', { to: 'carol' }));
    await until(() => net.sent.filter(isJson('end')).length === 2, 'both ends sent');
    net.leave('bob');
    await toBob.promise;
    expect(toBob.error).toMatchObject({ code: ErrorCode.CLOSED, message: 'bob left before confirming' });
    expect(toCarol.state).toBe('pending');
    await alice.files.close();
    await toCarol.promise;
    expect(toCarol.error).toMatchObject({ code: ErrorCode.CLOSED, message: 'the room was closed' });
    expect(alice.events.failed.map((f) => [f.peerId, f.code])).toEqual([
      ['bob', 'peer-left'],
      ['carol', 'closed'],
    ]);
  });

  it('a source that fails mid-read: the receivers hear abort and discard, send() rejects naming the file', async () => {
    const net = new FileNet();
    const alice = net.side('alice');
    const bob = net.side('bob');
    alice.store.addFile('flaky.bin', content(300 * KiB));
    alice.store.faults = { readFailsAfter: 2 };
    await expect(alice.files.send('flaky.bin')).rejects.toMatchObject({ code: ErrorCode.BAD_REQUEST, message: 'reading flaky.bin failed: EIO: the disk went away' });
    await until(() => bob.events.failed.length === 1, 'the receiver gave up');
    expect(bob.events.failed[0]).toMatchObject({ code: 'aborted', reason: 'the sender aborted: the sender could not read the file' });
    expect(bob.store.partial()).toEqual([]);
    expect(alice.store.sourcesClosed).toEqual(['flaky.bin']);
    expect(net.sent.some(isJson('end'))).toBe(false);
  });

  it('refuses what the store cannot open, and a room with nobody in it, sending nothing', async () => {
    const net = new FileNet();
    const alice = net.side('alice');
    await expect(alice.files.send('missing.bin')).rejects.toMatchObject({ code: ErrorCode.BAD_REQUEST });
    alice.store.addFile('a.txt', content(1));
    await expect(alice.files.send('a.txt')).rejects.toMatchObject({ code: ErrorCode.UNKNOWN_PEER, message: "nobody else is in room 'lobby' to send a.txt to" });
    expect(alice.store.sourcesClosed).toEqual(['a.txt']);
    expect(net.sent).toEqual([]);
  });

  it('bytes changed on the way: the receiver keeps nothing, send() rejects with RTC_ERR_PROTOCOL and code `corrupt`', async () => {
    const net = new FileNet();
    const alice = net.side('alice');
    const bob = net.side('bob');
    net.intercept = (m) => {
      if (!isChunk(m)) return m.data;
      const bytes = m.data as Uint8Array;
      bytes[bytes.length - 1] ^= 0xff;
      return bytes;
    };
    alice.store.addFile('a.bin', content(1000));
    await expect(alice.files.send('a.bin')).rejects.toMatchObject({ code: ErrorCode.PROTOCOL, message: 'name-of-bob could not verify the file: SHA-256 mismatch: the file is corrupt' });
    expect(alice.events.failed).toMatchObject([{ peerId: 'bob', code: 'corrupt' }]);
    expect(bob.events.failed).toMatchObject([{ code: 'corrupt' }]);
    expect(bob.store.kept.size).toBe(0);
    expect(bob.store.partial()).toEqual([]);
  });

  it("a hostile receiver's answers: unknown codes fall back, long reasons are cut, answers for others are ignored", async () => {
    const net = new FileNet();
    const alice = net.side('alice');
    const evil = net.peer('evil');
    alice.store.addFile('a.bin', content(10));
    const sending = track(alice.files.send('a.bin', { to: 'evil' }));
    const offer = (await until(() => net.sent.find(isJson('offer')), 'the offer'))!.data as { id: string };
    // A confirmation for another transfer, and one from a peer that was not sent to, change nothing.
    await evil.raw('alice', { t: 'done', id: 'some-other-offer-id', ok: true });
    await net.peer('bystander').raw('alice', { t: 'done', id: offer.id, ok: true });
    await evil.raw('alice', { t: 'reject', id: offer.id, code: 'bogus', reason: 'x'.repeat(10_000) });
    await sending.promise;
    expect(sending.error?.code).toBe(ErrorCode.FORBIDDEN);
    expect(sending.error!.message).toMatch(/^name-of-evil refused the file: x{200}…$/);
    expect(alice.events.failed).toMatchObject([{ peerId: 'evil', code: 'refused' }]);
    // A failed `done` with an unknown code counts as corrupt.
    const again = track(alice.files.send('a.bin', { to: 'evil' }));
    const second = (await until(() => net.sent.filter(isJson('offer'))[1], 'the second offer'))!.data as { id: string };
    await evil.raw('alice', { t: 'done', id: second.id, ok: false, code: 42 });
    await again.promise;
    expect(again.error).toMatchObject({ code: ErrorCode.PROTOCOL, message: 'name-of-evil could not verify the file: unknown' });
    expect(alice.events.failed[1]).toMatchObject({ code: 'corrupt' });
  });
});
