/**
 * A hostile sender cannot exhaust a file receiver (issue 9): duplicate offer ids, floods of offers
 * that never send a byte, transfers that stall, senders and receivers that vanish mid-transfer.
 * The sender speaks the wire directly through `room.sendSystem`; the receiver is a real agent, in
 * this process or (to count its file descriptors exactly, under `ulimit -n 256`) in a child.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { Agent, FileFailed, FileOffer, FileProgress, FileReceived, ReceivedMessage, Room } from '../../src/index.js';
import { useHub } from '../helpers/hub.js';
import { useAgent } from '../helpers/agents.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const KiB = 1024;

function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

const newId = (): string => randomBytes(9).toString('base64url');
const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

// ---------------------------------------------------------------- the hostile sender's wire

function offer(room: Room, id: string, name: string, size: number): Promise<void> {
  return room.sendSystem({ t: 'offer', id, name, size });
}

async function chunks(room: Room, id: string, data: Uint8Array, step = 64 * KiB): Promise<void> {
  const idBytes = Buffer.from(id);
  for (let at = 0; at < data.length; at += step) {
    await room.sendSystem(new Uint8Array(Buffer.concat([Buffer.from([1, idBytes.length]), idBytes, data.subarray(at, at + step)])));
  }
}

function end(room: Room, id: string, data: Uint8Array): Promise<void> {
  return room.sendSystem({ t: 'end', id, sha256: sha256(data), size: data.length });
}

type Reply = { t: string; id: string; ok?: boolean; code?: string; reason?: string };

/** What the receiver answers the hostile sender (reject, done): watched at the sender's file module. */
function repliesTo(room: Room): Reply[] {
  const files = (room as unknown as { files: { onSystemMessage(m: ReceivedMessage): void } }).files;
  const original = files.onSystemMessage.bind(files);
  const replies: Reply[] = [];
  files.onSystemMessage = (m) => {
    if (m.kind === 'json') replies.push(m.data as Reply);
    original(m);
  };
  return replies;
}

// ---------------------------------------------------------------- watching the receiver

/** Open descriptors of a process that point into `dir` (the receiver's temporary files). */
function fdsInto(dir: string, pid: number | 'self' = 'self'): number {
  const root = `${realpathSync(dir)}/`;
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith(root)) n++;
    } catch {
      // closed while we looked
    }
  }
  return n;
}

const fdCount = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;
const partFiles = (dir: string): string[] => readdirSync(dir).filter((n) => n.endsWith('.part'));

type FileEventName = 'file-offer' | 'file-progress' | 'file-received' | 'file-failed';

/** Every event of one kind an agent emits, and a way to wait until they satisfy a condition. */
function record<T>(agent: Agent, event: FileEventName): { all: T[]; until(done: (all: T[]) => boolean, what: string, ms?: number): Promise<T[]> } {
  const all: T[] = [];
  const waiters = new Set<() => void>();
  agent.on(event as 'file-failed', (x: unknown) => {
    all.push(x as T);
    for (const w of [...waiters]) w();
  });
  return {
    all,
    until(done, what, ms = 20_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`${what}: not within ${ms} ms; ${event} events: ${JSON.stringify(all).slice(-1500)}`));
        }, ms);
        const check = (): void => {
          if (!done(all)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(all);
        };
        waiters.add(check);
        check();
      });
    },
  };
}

async function pair(hubUrl: string, room: string, receiverOptions: Parameters<typeof useAgent>[1]): Promise<{ sender: Agent; receiver: Agent; room: Room; receiverRoom: Room }> {
  const sender = await useAgent(hubUrl, { name: 'hostile' });
  const receiver = await useAgent(hubUrl, { name: 'receiver', ...receiverOptions });
  const r = await sender.join(room);
  const receiverRoom = await receiver.join(room);
  await expect.poll(() => r.peers().length).toBe(1);
  await expect.poll(() => receiverRoom.peers().length).toBe(1);
  return { sender, receiver, room: r, receiverRoom };
}

describe('a file receiver under a hostile sender', () => {
  it('refuses a duplicate offer id without touching the first transfer, which completes intact', async () => {
    const hub = await useHub();
    const dir = tempDir('rtc-dup-');
    const { receiver, room } = await pair(hub.url, 'dup', { downloadDir: dir });
    const replies = repliesTo(room);
    const failed = record<FileFailed>(receiver, 'file-failed');
    const progress = record<FileProgress>(receiver, 'file-progress');
    const received = record<FileReceived>(receiver, 'file-received');
    const data = randomBytes(512 * KiB);
    const id = newId();

    await offer(room, id, 'first.bin', data.length);
    await chunks(room, id, data.subarray(0, 256 * KiB));
    await progress.until((all) => all.some((p) => p.id === id), 'first transfer written to disk');
    expect(partFiles(dir)).toHaveLength(1);
    expect(fdsInto(dir)).toBe(1);

    // Same sender, same id, while the first is in progress.
    await offer(room, id, 'second.bin', 10);
    const [dup] = await failed.until((all) => all.length > 0, 'duplicate refused');
    expect(dup).toMatchObject({ id, direction: 'receive', name: 'second.bin', code: 'duplicate' });
    expect(dup!.reason).toContain(`duplicate offer id ${id}`);
    // The first transfer's file is still there and still open.
    expect(partFiles(dir)).toHaveLength(1);
    expect(fdsInto(dir)).toBe(1);
    await expect.poll(() => replies.find((r) => r.t === 'reject' && r.id === id)).toMatchObject({ code: 'duplicate' });

    await chunks(room, id, data.subarray(256 * KiB));
    await end(room, id, data);
    const [got] = await received.until((all) => all.length > 0, 'first transfer received');
    expect(got).toMatchObject({ id, name: 'first.bin', size: data.length, sha256: sha256(data) });
    expect(readFileSync(got!.path).equals(data)).toBe(true);
    await expect.poll(() => replies.find((r) => r.t === 'done' && r.id === id)).toMatchObject({ ok: true });

    // The id of a transfer that just finished is refused too, and nothing is written for it.
    await offer(room, id, 'third.bin', 5);
    await failed.until((all) => all.length === 2, 'duplicate of a finished transfer refused');
    expect(failed.all[1]).toMatchObject({ id, name: 'third.bin', code: 'duplicate' });
    expect(readdirSync(dir)).toEqual(['first.bin']);
    expect(fdsInto(dir)).toBe(0);
    expect(failed.all.every((f) => f.code === 'duplicate')).toBe(true);
  });

  it('refuses offers past the per-peer limit at once, opening nothing, and takes new ones when a slot frees', async () => {
    const hub = await useHub();
    const dir = tempDir('rtc-peer-');
    const { sender, receiver, room } = await pair(hub.url, 'per-peer', { downloadDir: dir, maxIncomingFilesPerPeer: 2, maxIncomingFiles: 10 });
    const replies = repliesTo(room);
    const failed = record<FileFailed>(receiver, 'file-failed');
    const offers = record<FileOffer>(receiver, 'file-offer');
    const received = record<FileReceived>(receiver, 'file-received');
    const ids = [newId(), newId(), newId()];
    const data = Buffer.from('four');
    for (const id of ids) await offer(room, id, `${id}.txt`, data.length);

    const [refused] = await failed.until((all) => all.length > 0, 'third offer refused');
    expect(refused).toMatchObject({ id: ids[2], code: 'too-many' });
    expect(refused!.reason).toMatch(/too many files from this sender at once: 2 already in progress \(maxIncomingFilesPerPeer\)/);
    expect(offers.all.map((o) => o.id)).toEqual(ids.slice(0, 2));
    await expect.poll(() => fdsInto(dir)).toBe(2);
    expect(partFiles(dir)).toHaveLength(2);
    await expect.poll(() => replies.find((r) => r.t === 'reject' && r.id === ids[2])).toMatchObject({ code: 'too-many' });

    // A sender using the real API gets the refusal as an error and a file-failed with the code.
    const src = tempDir('rtc-src-');
    writeFileSync(join(src, 'honest.txt'), 'hello');
    const senderFailed = record<FileFailed>(sender, 'file-failed');
    await expect(room.sendFile(join(src, 'honest.txt'))).rejects.toThrow(/refused the file: too many files from this sender at once/);
    expect(senderFailed.all).toMatchObject([{ direction: 'send', code: 'too-many', name: 'honest.txt' }]);

    // One transfer finishes: its slot is free again.
    await chunks(room, ids[0]!, data);
    await end(room, ids[0]!, data);
    await received.until((all) => all.length === 1, 'first transfer received');
    const next = newId();
    await offer(room, next, 'next.txt', data.length);
    await chunks(room, next, data);
    await end(room, next, data);
    await received.until((all) => all.length === 2, 'a new offer accepted after a slot freed');
    expect(received.all.map((f) => f.name).sort()).toEqual([`${ids[0]}.txt`, 'next.txt'].sort());
    expect(fdsInto(dir)).toBe(1);
    expect(partFiles(dir)).toHaveLength(1);
  });

  it('bounds incoming transfers in total across peers and rooms', async () => {
    const hub = await useHub();
    const dir = tempDir('rtc-total-');
    const receiver = await useAgent(hub.url, { name: 'receiver', downloadDir: dir, maxIncomingFilesPerPeer: 2, maxIncomingFiles: 3 });
    const s1 = await useAgent(hub.url, { name: 's1' });
    const s2 = await useAgent(hub.url, { name: 's2' });
    const r1 = await s1.join('total-1');
    const r2 = await s2.join('total-2');
    await receiver.join('total-1');
    await receiver.join('total-2');
    await expect.poll(() => r1.peers().length + r2.peers().length).toBe(2);
    const failed = record<FileFailed>(receiver, 'file-failed');
    const offers = record<FileOffer>(receiver, 'file-offer');
    const first = [newId(), newId()];
    for (const id of first) await offer(r1, id, 'a.bin', 100);
    await offers.until((all) => all.length === 2, 'two offers from s1 accepted');
    const second = [newId(), newId()];
    for (const id of second) await offer(r2, id, 'b.bin', 100);
    const [refused] = await failed.until((all) => all.length > 0, 'fourth offer refused');
    expect(refused).toMatchObject({ id: second[1], room: 'total-2', code: 'too-many' });
    expect(refused!.reason).toMatch(/too many incoming files at once: 3 already in progress from all peers \(maxIncomingFiles\)/);
    await offers.until((all) => all.length === 3, 'one offer from s2 accepted');
    await expect.poll(() => fdsInto(dir)).toBe(3);

    // s1 leaves: its two transfers are removed and their slots serve s2.
    await s1.close();
    await failed.until((all) => all.filter((f) => f.code === 'peer-left').length === 2, "s1's transfers removed");
    const later = newId();
    await offer(r2, later, 'c.bin', 100);
    await offers.until((all) => all.some((o) => o.id === later), 'a new offer from s2 accepted');
    await expect.poll(() => fdsInto(dir)).toBe(2);
    expect(partFiles(dir)).toHaveLength(2);
  });

  it('aborts a transfer that stops sending after fileIdleTimeoutMs, removing its file, and ignores what comes late', async () => {
    const hub = await useHub();
    const dir = tempDir('rtc-idle-');
    const { receiver, room } = await pair(hub.url, 'idle', { downloadDir: dir, fileIdleTimeoutMs: 1_000 });
    const replies = repliesTo(room);
    const failed = record<FileFailed>(receiver, 'file-failed');
    const received = record<FileReceived>(receiver, 'file-received');
    const stalled = newId();
    const silent = newId();
    const data = randomBytes(10 * KiB);
    await offer(room, stalled, 'stalled.bin', data.length);
    await chunks(room, stalled, data.subarray(0, KiB));
    await offer(room, silent, 'silent.bin', 1000);

    await failed.until((all) => all.length === 2, 'both idle transfers aborted', 30_000);
    expect(failed.all.map((f) => f.id).sort()).toEqual([stalled, silent].sort());
    for (const f of failed.all) {
      expect(f.code).toBe('idle');
      expect(f.reason).toBe('nothing received for 1000 ms (fileIdleTimeoutMs)');
    }
    expect(partFiles(dir)).toEqual([]);
    expect(fdsInto(dir)).toBe(0);
    await expect.poll(() => replies.filter((r) => r.t === 'reject' && r.code === 'idle').map((r) => r.id).sort()).toEqual([stalled, silent].sort());

    // The stalled sender wakes up: its chunks and end are dropped, a re-offer is a duplicate. A
    // transfer sent after them (delivery is ordered) shows they were all handled.
    await chunks(room, stalled, data.subarray(KiB));
    await end(room, stalled, data);
    await offer(room, stalled, 'stalled-again.bin', 1);
    const sentinel = newId();
    const small = Buffer.from('after');
    await offer(room, sentinel, 'sentinel.txt', small.length);
    await chunks(room, sentinel, small);
    await end(room, sentinel, small);
    await received.until((all) => all.length > 0, 'sentinel received');
    expect(received.all.map((f) => f.id)).toEqual([sentinel]);
    expect(failed.all[2]).toMatchObject({ id: stalled, code: 'duplicate' });
    expect(readdirSync(dir)).toEqual(['sentinel.txt']);
  });

  it('ends oversized, malformed, aborted and refused transfers each with its own code, leaving nothing', async () => {
    const hub = await useHub();
    const dir = tempDir('rtc-codes-');
    const { receiver, room } = await pair(hub.url, 'codes', { downloadDir: dir, acceptFile: (o) => o.name !== 'unwanted.txt' });
    const replies = repliesTo(room);
    const failed = record<FileFailed>(receiver, 'file-failed');
    const progress = record<FileProgress>(receiver, 'file-progress');
    const [over, bad, aborted, unwanted] = [newId(), newId(), newId(), newId()];

    await offer(room, over, 'over.bin', 10);
    await chunks(room, over, randomBytes(20));
    await room.sendSystem({ t: 'offer', id: bad, name: 'bad.bin', size: -5 });
    await offer(room, aborted, 'aborted.bin', 1024 * KiB);
    await chunks(room, aborted, randomBytes(256 * KiB));
    await progress.until((all) => all.some((p) => p.id === aborted), 'aborted transfer written to disk');
    await room.sendSystem({ t: 'abort', id: aborted, reason: 'x'.repeat(10_000) });
    await offer(room, unwanted, 'unwanted.txt', 3);

    await failed.until((all) => all.length === 4, 'four failures');
    const byId = new Map(failed.all.map((f) => [f.id, f]));
    expect(byId.get(over)).toMatchObject({ code: 'too-large', reason: 'more data than the 10 bytes offered' });
    expect(byId.get(bad)).toMatchObject({ code: 'bad-offer', reason: 'malformed offer: size must be a whole number of bytes, got -5' });
    expect(byId.get(aborted)?.code).toBe('aborted');
    expect(byId.get(aborted)!.reason.length).toBeLessThan(300);
    expect(byId.get(unwanted)).toMatchObject({ code: 'refused', reason: 'refused by the application' });
    expect(readdirSync(dir)).toEqual([]);
    expect(fdsInto(dir)).toBe(0);
    await expect.poll(() => replies.find((r) => r.id === over)).toMatchObject({ t: 'done', ok: false, code: 'too-large' });
    await expect.poll(() => replies.find((r) => r.id === bad)).toMatchObject({ t: 'reject', code: 'bad-offer' });
    await expect.poll(() => replies.find((r) => r.id === unwanted)).toMatchObject({ t: 'reject', code: 'refused' });
  });

  it('refuses with `io` when the download directory cannot be written', async () => {
    const hub = await useHub();
    const parent = tempDir('rtc-io-');
    writeFileSync(join(parent, 'not-a-dir'), '');
    const { receiver, room } = await pair(hub.url, 'io', { downloadDir: join(parent, 'not-a-dir', 'downloads') });
    const failed = record<FileFailed>(receiver, 'file-failed');
    const id = newId();
    await offer(room, id, 'x.txt', 3);
    const [f] = await failed.until((all) => all.length > 0, 'io failure');
    expect(f).toMatchObject({ id, code: 'io' });
    expect(f!.reason).toMatch(/^cannot write to the download directory: ENOTDIR/);
    expect(readdirSync(parent)).toEqual(['not-a-dir']);
  });

  it('removes the partial file when the sender leaves mid-transfer', async () => {
    const hub = await useHub();
    const dir = tempDir('rtc-left-');
    const { sender, receiver, room } = await pair(hub.url, 'left', { downloadDir: dir });
    const failed = record<FileFailed>(receiver, 'file-failed');
    const progress = record<FileProgress>(receiver, 'file-progress');
    const id = newId();
    await offer(room, id, 'big.bin', 4 * 1024 * KiB);
    await chunks(room, id, randomBytes(320 * KiB));
    await progress.until((all) => all.length > 0, 'partial file written');
    expect(partFiles(dir)).toHaveLength(1);
    expect(fdsInto(dir)).toBe(1);

    await sender.close();
    const [f] = await failed.until((all) => all.length > 0, 'transfer removed');
    expect(f).toMatchObject({ id, code: 'peer-left', reason: 'the sender left' });
    expect(readdirSync(dir)).toEqual([]);
    expect(fdsInto(dir)).toBe(0);
  });

  it('removes the partial file when the receiver closes mid-transfer', async () => {
    const hub = await useHub();
    const dir = tempDir('rtc-close-');
    const { receiver, room } = await pair(hub.url, 'close', { downloadDir: dir });
    const failed = record<FileFailed>(receiver, 'file-failed');
    const progress = record<FileProgress>(receiver, 'file-progress');
    const id = newId();
    await offer(room, id, 'big.bin', 4 * 1024 * KiB);
    await chunks(room, id, randomBytes(320 * KiB));
    await progress.until((all) => all.length > 0, 'partial file written');
    expect(fdsInto(dir)).toBe(1);

    await receiver.close();
    const [f] = await failed.until((all) => all.length > 0, 'transfer removed');
    expect(f).toMatchObject({ id, code: 'closed' });
    expect(readdirSync(dir)).toEqual([]);
    expect(fdsInto(dir)).toBe(0);
  });
});

// ---------------------------------------------------------------- the flood, against a child process

interface Child {
  pid: number;
  events: Record<string, unknown>[];
  until(done: (events: Record<string, unknown>[]) => boolean, what: string, ms?: number): Promise<void>;
  onEvent(fn: (e: Record<string, unknown>) => void): void;
  command(cmd: Record<string, unknown>): void;
  exit: Promise<number | null>;
}

/** The receiver fixture in its own process, under `ulimit -n 256` like the report in issue 9. */
function spawnReceiver(env: Record<string, string>): Child {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RTC_AGENT_')));
  const child = spawn('/bin/sh', ['-c', 'ulimit -n 256 && exec "$0" --import tsx test/fixtures/file-receiver-child.ts', process.execPath], {
    cwd: ROOT,
    env: { ...clean, RTC_AGENT_ICE_BIND_ADDRESS: '127.0.0.1', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const events: Record<string, unknown>[] = [];
  const listeners: ((e: Record<string, unknown>) => void)[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const e = JSON.parse(line) as Record<string, unknown>;
    events.push(e);
    for (const fn of [...listeners]) fn(e);
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    pid: child.pid!,
    events,
    exit,
    onEvent: (fn) => listeners.push(fn),
    command: (cmd) => child.stdin!.write(`${JSON.stringify(cmd)}\n`),
    until(done, what, ms = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms; last events ${JSON.stringify(events.slice(-5))}; stderr: ${stderr.slice(-1500)}`)), ms);
        const check = (): void => {
          if (!done(events)) return;
          clearTimeout(timer);
          const i = listeners.indexOf(check);
          if (i >= 0) listeners.splice(i, 1);
          resolve();
        };
        listeners.push(check);
        void exit.then((code) => {
          clearTimeout(timer);
          if (!done(events)) reject(new Error(`${what}: the receiver exited (${code}) first; stderr: ${stderr.slice(-1500)}`));
        });
        check();
      });
    },
  };
}

describe('a flood of file offers', () => {
  it('1,500 offers that never send a chunk hold at most the limit of descriptors, under ulimit -n 256, and leave nothing behind', async () => {
    const hub = await useHub();
    const dir = tempDir('rtc-flood-');
    const PER_PEER = 8;
    const OFFERS = 1500;
    // Relay only: the receiver then holds no ICE sockets, so its descriptor count is steady.
    const child = spawnReceiver({ RTC_AGENT_HUB_URL: hub.url, RTC_AGENT_DOWNLOAD_DIR: dir, RTC_AGENT_TRY_NATIVE: 'false', ROOM: 'flood' });
    await child.until((ev) => ev.some((e) => e.event === 'ready'), 'receiver ready');
    expect(readFileSync(`/proc/${child.pid}/limits`, 'utf8')).toMatch(/Max open files\s+256\s+256/);
    const receiverId = child.events.find((e) => e.event === 'ready')!.peerId as string;
    const flooder = await useAgent(hub.url, { name: 'flooder', tryNative: false });
    const honest = await useAgent(hub.url, { name: 'honest', tryNative: false });
    const room = await flooder.join('flood');
    const honestRoom = await honest.join('flood');
    await child.until((ev) => ev.filter((e) => e.event === 'peer-joined').length === 2, 'both senders seen by the receiver');
    const baseline = fdCount(child.pid);

    let mostInDir = 0;
    child.onEvent(() => (mostInDir = Math.max(mostInDir, fdsInto(dir, child.pid))));
    const ids = Array.from({ length: OFFERS }, newId);
    await Promise.all(ids.map((id, i) => offer(room, id, `flood-${i}.bin`, 1_000_000)));
    const refusedCount = (ev: Record<string, unknown>[]): number => ev.filter((e) => e.event === 'file-failed' && e.code === 'too-many').length;
    await child.until((ev) => refusedCount(ev) === OFFERS - PER_PEER, 'every offer past the limit refused', 60_000);
    expect(child.events.filter((e) => e.event === 'file-offer')).toHaveLength(PER_PEER);
    const refusal = child.events.find((e) => e.event === 'file-failed')!;
    expect(refusal.reason).toMatch(/too many files from this sender at once: 8 already in progress \(maxIncomingFilesPerPeer\)/);
    await expect.poll(() => fdsInto(dir, child.pid)).toBe(PER_PEER);
    expect(mostInDir).toBeLessThanOrEqual(PER_PEER);
    expect(partFiles(dir)).toHaveLength(PER_PEER);

    // Still a working receiver: another peer's file arrives, verified.
    const src = tempDir('rtc-src-');
    const real = randomBytes(300 * KiB);
    writeFileSync(join(src, 'real.bin'), real);
    const sent = await honestRoom.sendFile(join(src, 'real.bin'), { to: receiverId });
    expect(sent.deliveredTo).toEqual([receiverId]);
    await child.until((ev) => ev.some((e) => e.event === 'file-received' && e.sha256 === sha256(real)), 'real file received');

    // The flooder leaves: every one of its transfers is closed and removed.
    await flooder.close();
    await child.until((ev) => ev.filter((e) => e.event === 'file-failed' && e.code === 'peer-left').length === PER_PEER, "flooder's transfers removed");
    expect(fdsInto(dir, child.pid)).toBe(0);
    expect(readdirSync(dir)).toEqual(['real.bin']);
    expect(fdCount(child.pid)).toBeLessThanOrEqual(baseline);

    child.command({ cmd: 'close' });
    expect(await child.exit).toBe(0);
  }, 120_000);
});
