/**
 * Node's FileStore on a real file system: `.part` files in the download directory, kept under the
 * engine's sanitised name without ever replacing a file, SHA-256 and size checked, nothing left on
 * any failure; sources read from a path in pieces and hashed. And the engine's platform-neutral
 * name sanitiser gives exactly the names src/util/file-names.ts gives.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sanitizeFileName as engineSanitize } from '../../src/engine/files/file-name.js';
import { ErrorCode } from '../../src/errors.js';
import { FsFileStore } from '../../src/node/files/fs-store.js';

const tempDir = (): string => mkdtempSync(join(tmpdir(), 'rtc-store-'));
const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** Descriptors of this process open on files in `dir`. */
function fdsInto(dir: string): number {
  const root = `${realpathSync(dir)}/`;
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).startsWith(root);
    } catch {
      return false;
    }
  }).length;
}

async function sinkWith(dir: string, name: string, data: Uint8Array) {
  const sink = await new FsFileStore(dir).createSink({ id: 'offer-id-1', name, size: data.length });
  for (let at = 0; at < data.length; at += 1000) await sink.write(data.subarray(at, at + 1000));
  return sink;
}

describe('FsFileStore sinks', () => {
  it('write a private .part file (making the directory), then keep it under its name with its SHA-256', async () => {
    const dir = join(tempDir(), 'downloads');
    const data = randomBytes(5000);
    const sink = await sinkWith(dir, 'report.pdf', data);
    const [part] = readdirSync(dir);
    expect(part).toMatch(/^\.rtc-agent-[0-9a-f]{16}\.part$/);
    expect(statSync(join(dir, part!)).mode & 0o777).toBe(0o600);
    expect(fdsInto(dir)).toBe(1);
    const kept = await sink.finish({ size: data.length, sha256: sha256(data) });
    expect(kept).toEqual({ location: join(dir, 'report.pdf'), sha256: sha256(data) });
    expect(readFileSync(kept.location).equals(data)).toBe(true);
    expect(readdirSync(dir)).toEqual(['report.pdf']);
    expect(fdsInto(dir)).toBe(0);
  });

  it('never replaces a file: the next free numbered name is taken', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a.txt'), 'mine');
    writeFileSync(join(dir, 'a (1).txt'), 'mine too');
    const data = Buffer.from('theirs');
    const kept = await (await sinkWith(dir, 'a.txt', data)).finish({ size: data.length, sha256: sha256(data) });
    expect(kept.location).toBe(join(dir, 'a (2).txt'));
    expect(readFileSync(join(dir, 'a.txt'), 'utf8')).toBe('mine');
    expect(readFileSync(join(dir, 'a (1).txt'), 'utf8')).toBe('mine too');
  });

  it('reject a wrong SHA-256 or size as `corrupt`, leaving nothing', async () => {
    const dir = tempDir();
    const data = randomBytes(3000);
    await expect((await sinkWith(dir, 'x.bin', data)).finish({ size: data.length, sha256: '0'.repeat(64) })).rejects.toMatchObject({
      code: 'corrupt',
      message: 'SHA-256 mismatch: the file is corrupt',
    });
    await expect((await sinkWith(dir, 'x.bin', data)).finish({ size: 4000, sha256: sha256(data) })).rejects.toMatchObject({ code: 'corrupt', message: 'got 3000 of 4000 bytes' });
    expect(readdirSync(dir)).toEqual([]);
    expect(fdsInto(dir)).toBe(0);
  });

  it('reject a name that would leave the directory as `io`, leaving nothing', async () => {
    const dir = tempDir();
    const data = Buffer.from('x');
    await expect((await sinkWith(dir, '../escaped.txt', data)).finish({ size: 1, sha256: sha256(data) })).rejects.toMatchObject({
      code: 'io',
      message: expect.stringMatching(/^could not store the file: refusing a file name that leaves the download directory/),
    });
    expect(readdirSync(dir)).toEqual([]);
  });

  it('discard closes and removes the .part file, and can be called again', async () => {
    const dir = tempDir();
    const sink = await sinkWith(dir, 'x.bin', randomBytes(2000));
    expect(fdsInto(dir)).toBe(1);
    await Promise.all([sink.discard(), sink.discard()]);
    await sink.discard();
    expect(readdirSync(dir)).toEqual([]);
    expect(fdsInto(dir)).toBe(0);
    await expect(sink.write(Buffer.from('late'))).rejects.toMatchObject({ code: 'io' });
  });

  it('fail with `io` naming the cause when the download directory cannot be made', async () => {
    const parent = tempDir();
    writeFileSync(join(parent, 'not-a-dir'), '');
    const store = new FsFileStore(join(parent, 'not-a-dir', 'downloads'));
    await expect(store.createSink({ id: 'offer-id-1', name: 'x.txt', size: 1 })).rejects.toMatchObject({
      code: 'io',
      message: expect.stringMatching(/^cannot write to the download directory: ENOTDIR/),
    });
    expect(readdirSync(parent)).toEqual(['not-a-dir']);
  });
});

describe('FsFileStore sources', () => {
  it('read a regular file in pieces of at most chunkBytes, with its SHA-256 once read', async () => {
    const dir = tempDir();
    const data = randomBytes(200_000);
    writeFileSync(join(dir, 'data.bin'), data);
    const source = await new FsFileStore(dir).openSource(join(dir, 'data.bin'));
    expect(source).toMatchObject({ name: 'data.bin', size: data.length });
    const pieces: Uint8Array[] = [];
    for await (const piece of source.read(64 * 1024)) pieces.push(piece);
    expect(pieces.every((p) => p.length <= 64 * 1024)).toBe(true);
    expect(Buffer.concat(pieces).equals(data)).toBe(true);
    expect(await source.sha256()).toBe(sha256(data));
    await source.close();
    await source.close();
    expect(fdsInto(dir)).toBe(0);
  });

  it('release the file when reading stops early', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'data.bin'), randomBytes(500_000));
    const source = await new FsFileStore(dir).openSource(join(dir, 'data.bin'));
    for await (const piece of source.read(16 * 1024)) if (piece.length > 0) break;
    await source.close();
    expect(fdsInto(dir)).toBe(0);
  });

  it('refuse anything but a path to a regular file with RTC_ERR_BAD_REQUEST', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'sub'));
    const store = new FsFileStore(dir);
    await expect(store.openSource(new Uint8Array(3))).rejects.toMatchObject({ code: ErrorCode.BAD_REQUEST, message: 'sendFile takes a file path (a string) in Node' });
    await expect(store.openSource(join(dir, 'missing.txt'))).rejects.toMatchObject({ code: ErrorCode.BAD_REQUEST, message: expect.stringMatching(/^cannot read .*missing\.txt: ENOENT/) });
    await expect(store.openSource(join(dir, 'sub'))).rejects.toMatchObject({ code: ErrorCode.BAD_REQUEST, message: `${join(dir, 'sub')} is not a regular file` });
  });
});

describe("the engine's name sanitiser", () => {
  it('shortens a megabyte-long name at once', () => {
    const name = `${'é'.repeat(1_000_000)}.txt`;
    const safe = engineSanitize(name);
    expect(safe).toBe(`${'é'.repeat(98)}.txt`);
    expect(Buffer.byteLength(safe)).toBeLessThanOrEqual(200);
  });
});
