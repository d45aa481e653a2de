/** File transfer: big files to P2P and relay peers, across a path switch, hostile names, refusals. */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startHub, type FileFailed, type FileReceived, type Hub } from '../../src/index.js';
import { useHub } from '../helpers/hub.js';
import { nextEvent, p2pTo, useAgent } from '../helpers/agents.js';

const MiB = 1024 * 1024;

function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

function makeFile(dir: string, name: string, size: number): { path: string; sha256: string } {
  const data = randomBytes(size);
  const path = join(dir, name);
  writeFileSync(path, data);
  return { path, sha256: createHash('sha256').update(data).digest('hex') };
}

describe('file transfer', () => {
  it('sends a 20 MiB file to a P2P peer and a relay-only peer; both get it verified', async () => {
    const hub = await useHub();
    const src = tempDir('rtc-src-');
    const file = makeFile(src, 'big.bin', 20 * MiB);
    const sender = await useAgent(hub.url, { name: 'sender' });
    const p2pDir = tempDir('rtc-p2p-');
    const relayDir = tempDir('rtc-relay-');
    const p2pPeer = await useAgent(hub.url, { name: 'p2p', downloadDir: p2pDir });
    const relayPeer = await useAgent(hub.url, { name: 'relay', downloadDir: relayDir, tryNative: false });
    const room = await sender.join('files');
    await p2pPeer.join('files');
    await relayPeer.join('files');
    await expect.poll(() => room.peers().length).toBe(2);
    await p2pTo(sender, 1);

    const progress: number[] = [];
    sender.on('file-progress', (p) => p.direction === 'send' && progress.push(p.bytes));
    const gotP2P = nextEvent<FileReceived>(p2pPeer, 'file-received', () => true, 60_000);
    const gotRelay = nextEvent<FileReceived>(relayPeer, 'file-received', () => true, 60_000);
    const result = await room.sendFile(file.path);
    expect(result).toMatchObject({ name: 'big.bin', size: 20 * MiB, sha256: file.sha256 });
    expect(result.deliveredTo.sort()).toEqual(room.peers().map((p) => p.peerId).sort());
    for (const [got, dir] of [
      [await gotP2P, p2pDir],
      [await gotRelay, relayDir],
    ] as const) {
      expect(got).toMatchObject({ name: 'big.bin', size: 20 * MiB, sha256: file.sha256, path: join(dir, 'big.bin') });
      expect(createHash('sha256').update(readFileSync(got.path)).digest('hex')).toBe(file.sha256);
      expect(readdirSync(dir)).toEqual(['big.bin']); // no temporary file left behind
    }
    expect(progress.at(-1)).toBe(20 * MiB);
    expect(progress.length).toBeGreaterThan(10);
  });

  it('a 20 MiB file to a P2P and a relay-only peer continues across a P2P → relay switch in the middle', async () => {
    const hub = await useHub();
    const src = tempDir('rtc-src-');
    const file = makeFile(src, 'switch.bin', 20 * MiB);
    const a = await useAgent(hub.url);
    const b = await useAgent(hub.url, { downloadDir: tempDir('rtc-dst-') });
    const c = await useAgent(hub.url, { downloadDir: tempDir('rtc-dst-'), tryNative: false });
    const room = await a.join('switch');
    const rb = await b.join('switch');
    await c.join('switch');
    await expect.poll(() => room.peers().length).toBe(2);
    await Promise.all([p2pTo(a, 1), p2pTo(b, 1)]);
    const paths: string[] = [];
    a.on('path-changed', (x) => paths.push(x.to));
    let switched = false;
    a.on('file-progress', (p) => {
      if (!switched && p.direction === 'send' && p.peerId === rb.selfId && p.bytes >= 6 * MiB) {
        switched = true;
        room.restartP2P(rb.selfId);
      }
    });
    const atB = nextEvent<FileReceived>(b, 'file-received', () => true, 60_000);
    const atC = nextEvent<FileReceived>(c, 'file-received', () => true, 60_000);
    const result = await room.sendFile(file.path);
    expect(result.sha256).toBe(file.sha256);
    expect(result.deliveredTo).toHaveLength(2);
    expect((await atB).sha256).toBe(file.sha256);
    expect((await atC).sha256).toBe(file.sha256);
    expect(switched).toBe(true);
    expect(paths).toContain('relay');
  });

  it('continues over relay while the hub is killed and restarted mid-transfer', async () => {
    let hub: Hub = await startHub({ host: '127.0.0.1', port: 0 });
    const port = hub.port;
    onTestFinished(() => hub.close());
    const src = tempDir('rtc-src-');
    const file = makeFile(src, 'restart.bin', 12 * MiB);
    const opts = { tryNative: false, reconnectIntervalMs: 100 };
    const a = await useAgent(hub.url, opts);
    const b = await useAgent(hub.url, { ...opts, downloadDir: tempDir('rtc-dst-') });
    const room = await a.join('restart');
    await b.join('restart');
    await expect.poll(() => room.peers().length).toBe(1);
    let restarted: Promise<void> | undefined;
    a.on('file-progress', (p) => {
      if (!restarted && p.direction === 'send' && p.bytes >= 3 * MiB) {
        restarted = (async () => {
          await hub.close();
          hub = await startHub({ host: '127.0.0.1', port });
        })();
      }
    });
    const received = nextEvent<FileReceived>(b, 'file-received', () => true, 60_000);
    const result = await room.sendFile(file.path);
    await restarted;
    expect(result.sha256).toBe(file.sha256);
    expect((await received).sha256).toBe(file.sha256);
    expect(a.stats().hubReconnects).toBeGreaterThanOrEqual(1);
  });

  it('removes and reports a transfer whose bytes do not match, writing nothing', async () => {
    const hub = await useHub();
    const dir = tempDir('rtc-dst-');
    const a = await useAgent(hub.url);
    const b = await useAgent(hub.url, { downloadDir: dir });
    const room = await a.join('corrupt');
    await b.join('corrupt');
    await expect.poll(() => room.peers().length).toBe(1);
    const failed = nextEvent<FileFailed>(b, 'file-failed', () => true);
    // What a broken or lying sender puts on the wire: bytes whose hash is not the one announced.
    const id = randomBytes(9).toString('base64url');
    const data = Buffer.from('these bytes are not what the hash says');
    await room.sendSystem({ t: 'offer', id, name: 'report.txt', size: data.length });
    const idBytes = Buffer.from(id);
    await room.sendSystem(new Uint8Array(Buffer.concat([Buffer.from([1, idBytes.length]), idBytes, data])));
    await room.sendSystem({ t: 'end', id, sha256: '0'.repeat(64), size: data.length });
    expect(await failed).toMatchObject({ direction: 'receive', name: 'report.txt', reason: 'SHA-256 mismatch: the file is corrupt' });
    expect(readdirSync(dir)).toEqual([]);
  });

  it('lands hostile file names safely inside the download directory', async () => {
    const hub = await useHub();
    const dir = tempDir('rtc-dst-');
    const a = await useAgent(hub.url);
    const b = await useAgent(hub.url, { downloadDir: dir });
    const room = await a.join('names');
    await b.join('names');
    await expect.poll(() => room.peers().length).toBe(1);
    // Names a sender could put in an offer; the sending agent uses basename(), so drive the wire directly.
    const hostile = ['../../x', '/etc/passwd', 'a\u0000b.txt', '..', 'CON', 'C:\\Windows\\win.ini', '\u202eexe.txt'];
    const names: string[] = [];
    b.on('file-received', (f) => names.push(f.path));
    for (const name of hostile) {
      const id = randomBytes(9).toString('base64url');
      const data = Buffer.from(`content of ${JSON.stringify(name)}`);
      await room.sendSystem({ t: 'offer', id, name, size: data.length });
      const idBytes = Buffer.from(id);
      await room.sendSystem(new Uint8Array(Buffer.concat([Buffer.from([1, idBytes.length]), idBytes, data])));
      await room.sendSystem({ t: 'end', id, sha256: createHash('sha256').update(data).digest('hex'), size: data.length });
    }
    await expect.poll(() => names.length, { timeout: 10_000 }).toBe(hostile.length);
    for (const path of names) expect(path.startsWith(`${dir}/`)).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(['_CON', 'ab.txt', 'exe.txt', 'file', 'passwd', 'win.ini', 'x'].sort());
  });

  it('refuses files when told to, or when they are too big, and tells the sender', async () => {
    const hub = await useHub();
    const src = tempDir('rtc-src-');
    const small = makeFile(src, 'small.txt', 1000);
    const dirNo = tempDir('rtc-no-');
    const a = await useAgent(hub.url);
    const noFiles = await useAgent(hub.url, { acceptFiles: false, downloadDir: dirNo });
    const room = await a.join('refuse');
    const rn = await noFiles.join('refuse');
    await expect.poll(() => room.peers().length).toBe(1);
    await expect(room.sendFile(small.path, { to: rn.selfId })).rejects.toThrow(/refused the file: this agent does not accept files/);

    const tiny = await useAgent(hub.url, { maxFileBytes: 100, downloadDir: tempDir('rtc-tiny-') });
    const rt = await tiny.join('refuse');
    await expect.poll(() => room.peers().length).toBe(2);
    await expect(room.sendFile(small.path, { to: rt.selfId })).rejects.toThrow(/1000 bytes is over the 100-byte limit/);
    await expect(room.sendFile(join(src, 'missing.txt'))).rejects.toMatchObject({ code: 'RTC_ERR_BAD_REQUEST' });
    expect(readdirSync(dirNo)).toEqual([]);
  });
});
