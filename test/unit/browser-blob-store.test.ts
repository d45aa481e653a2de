/**
 * The browser build's file store (src/browser/blob-store.ts) against the engine's seam: Blobs and
 * Files as sources, read in pieces with the SHA-256 the sender announces; incoming files kept until
 * size and SHA-256 check out, then handed over as a Blob under an object URL. Node has Blob, File
 * and object URLs too, so this runs here; the Chromium test sends real files both ways.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BlobFileStore, UNNAMED_BLOB_NAME } from '../../src/browser/blob-store.js';

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

async function readAll(iterable: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const pieces: Uint8Array[] = [];
  for await (const piece of iterable) pieces.push(piece);
  return pieces;
}

describe('BlobFileStore', () => {
  it('reads a File in pieces of at most chunkBytes, in order, and gives its SHA-256', async () => {
    const bytes = randomBytes(100_001);
    const source = await new BlobFileStore().openSource(new File([bytes], 'report.pdf'));
    expect(source).toMatchObject({ name: 'report.pdf', size: bytes.length });
    const pieces = await readAll(source.read(32 * 1024));
    expect(pieces.map((p) => p.length)).toEqual([32768, 32768, 32768, 1697]);
    expect(Buffer.concat(pieces).equals(bytes)).toBe(true);
    expect(await source.sha256()).toBe(sha256(bytes));
    await source.close();
    await source.close();
  });

  it('names a plain Blob, and reads an empty one', async () => {
    const source = await new BlobFileStore().openSource(new Blob([]));
    expect(source).toMatchObject({ name: UNNAMED_BLOB_NAME, size: 0 });
    expect(await readAll(source.read(1024))).toEqual([]);
    expect(await source.sha256()).toBe(sha256(new Uint8Array(0)));
  });

  it('refuses what is not a Blob (a path, bytes) with RTC_ERR_BAD_REQUEST', async () => {
    for (const bad of ['/etc/passwd', new Uint8Array(4), null, { name: 'x', size: 1 }]) {
      await expect(new BlobFileStore().openSource(bad)).rejects.toMatchObject({ code: 'RTC_ERR_BAD_REQUEST', message: expect.stringContaining('Blob or a File') });
    }
  });

  it('a source closed before it was read to the end stops and never resolves a digest', async () => {
    const source = await new BlobFileStore().openSource(new Blob([randomBytes(10_000)]));
    const pieces = source.read(1_000)[Symbol.asyncIterator]();
    await pieces.next();
    await source.close();
    expect((await pieces.next()).done).toBe(true);
    await expect(source.sha256()).rejects.toThrow(/closed before it was read to the end/);
  });

  it('keeps a verified file as a Blob under an object URL', async () => {
    const bytes = randomBytes(70_000);
    const sink = await new BlobFileStore().createSink({ id: 'f1', name: 'photo.jpg', size: bytes.length });
    for (let at = 0; at < bytes.length; at += 16_384) await sink.write(bytes.subarray(at, at + 16_384));
    const kept = await sink.finish({ size: bytes.length, sha256: sha256(bytes).toUpperCase() });
    expect(kept.sha256).toBe(sha256(bytes));
    expect(kept.location).toMatch(/^blob:/);
    expect(Buffer.from(await (kept.blob as Blob).arrayBuffer()).equals(bytes)).toBe(true);
    URL.revokeObjectURL(kept.location);
  });

  it("copies what it is given: the engine's buffer may be reused after write()", async () => {
    const sink = await new BlobFileStore().createSink({ id: 'f2', name: 'a.bin', size: 4 });
    const buffer = new Uint8Array([1, 2, 3, 4]);
    await sink.write(buffer);
    buffer.fill(0);
    const kept = await sink.finish({ size: 4, sha256: sha256(new Uint8Array([1, 2, 3, 4])) });
    expect([...new Uint8Array(await (kept.blob as Blob).arrayBuffer())]).toEqual([1, 2, 3, 4]);
  });

  it("rejects as 'corrupt' a file of the wrong size or hash, and keeps nothing", async () => {
    const store = new BlobFileStore();
    const short = await store.createSink({ id: 'f3', name: 'a.bin', size: 10 });
    await short.write(new Uint8Array(9));
    await expect(short.finish({ size: 10, sha256: sha256(new Uint8Array(9)) })).rejects.toMatchObject({ code: 'corrupt', message: expect.stringContaining('size mismatch') });
    const forged = await store.createSink({ id: 'f4', name: 'b.bin', size: 3 });
    await forged.write(new Uint8Array([1, 2, 3]));
    await expect(forged.finish({ size: 3, sha256: sha256(new Uint8Array([3, 2, 1])) })).rejects.toMatchObject({ code: 'corrupt', message: 'SHA-256 mismatch: the file is corrupt' });
    // Once over (verified, failed or discarded), a sink takes nothing more.
    await expect(forged.write(new Uint8Array(1))).rejects.toMatchObject({ code: 'io' });
  });

  it('discard drops what was written, idempotently', async () => {
    const sink = await new BlobFileStore().createSink({ id: 'f5', name: 'c.bin', size: 5 });
    await sink.write(new Uint8Array(5));
    await sink.discard();
    await sink.discard();
    await expect(sink.finish({ size: 5, sha256: sha256(new Uint8Array(5)) })).rejects.toMatchObject({ code: 'io' });
  });
});
