/**
 * The engine's E2EE on the Node platform (src/node): the behaviour suite and the pre-engine vectors
 * with the synchronous node:crypto AEAD and node:crypto's scrypt (what the Node agent passes), the
 * raw AES keys against the vectors, Node's scrypt against the browsers', and the E2EE state files:
 * the identity file (created 0600 in a 0700 directory, today's format, files written before the
 * engine still load, unsafe/foreign/symlinked/corrupted files refused with RTC_ERR_KEY_FILE) and
 * the known-peers file (trust on first use persisted, merged between agents, refused when others
 * can write it).
 */
import { scryptSync, type KeyObject } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserScrypt } from '../../src/browser/scrypt.js';
import { E2eeSession, ROOM_KEY_SCRYPT, exportIdentity, generateIdentity, peerE2eeKeys } from '../../src/engine/crypto/index.js';
import { ErrorCode } from '../../src/errors.js';
import { FrameFlag } from '../../src/protocol/frames.js';
import { FileKnownPeers, loadOrCreateIdentity, nodeAead, nodeScrypt } from '../../src/node/index.js';
import { e2eeSuite, trustTests } from '../engine/crypto-suite.js';
import { pairKeysOf, vectorSuite, vectors } from '../engine/crypto-vectors.js';

const POSIX = process.platform !== 'win32';

e2eeSuite(nodeAead, nodeScrypt);
vectorSuite(nodeAead, nodeScrypt);

describe('node:crypto AEAD and scrypt', () => {
  it('derives the AES keys of the vectors (checked on the raw key bytes, which nodeAead can show)', async () => {
    for (const pair of vectors.pairs) {
      const keys = await pairKeysOf(pair, nodeAead);
      for (const name of ['alice', 'bob'] as const) {
        const raw = (k: unknown): string => (k as KeyObject).export().toString('hex');
        expect(raw(keys[name].send.key), `${pair.name} ${name}`).toBe(pair[name].view.sendKey);
        expect(raw(keys[name].recv.key), `${pair.name} ${name}`).toBe(pair[name].view.recvKey);
      }
    }
  });

  it('returns plain Uint8Arrays (not pooled Buffers) and never unauthenticated plaintext', () => {
    const key = nodeAead.importKey(new Uint8Array(32).fill(7));
    const nonce = new Uint8Array(12).fill(1);
    const aad = new Uint8Array([1, 2, 3]);
    const sealed = nodeAead.seal(key as never, nonce, aad, new TextEncoder().encode('hi'), new Uint8Array([9, 9])) as Uint8Array;
    expect(Buffer.isBuffer(sealed)).toBe(false);
    expect(sealed.length).toBe(2 + 2 + 16);
    expect([...sealed.subarray(0, 2)]).toEqual([9, 9]);
    const opened = nodeAead.open(key as never, nonce, aad, sealed.subarray(2)) as Uint8Array;
    expect(Buffer.isBuffer(opened)).toBe(false);
    expect(new TextDecoder().decode(opened)).toBe('hi');
    const bad = Uint8Array.from(sealed.subarray(2));
    bad[0] = (bad[0] as number) ^ 1;
    expect(nodeAead.open(key as never, nonce, aad, bad)).toBeNull();
    expect(nodeAead.open(key as never, nonce, new Uint8Array([1, 2]), sealed.subarray(2))).toBeNull();
  });

  it("a Node agent (nodeAead) and a browser page (webCryptoAead) open each other's frames", async () => {
    const agent = await E2eeSession.create(await generateIdentity(), { aead: nodeAead });
    const page = await E2eeSession.create(await generateIdentity());
    const ac = await agent.cipherFor({ room: 'r', selfId: 'agent', peerId: 'page', peerKeys: peerE2eeKeys(page.capabilities())! });
    const pc = await page.cipherFor({ room: 'r', selfId: 'page', peerId: 'agent', peerKeys: peerE2eeKeys(agent.capabilities())! });
    const h = { flags: FrameFlag.Encrypted, epoch: 3, seq: 1, timestamp: 1 };
    const fromAgent = ac.sealData(h, new TextEncoder().encode('to the page'));
    expect(fromAgent).toBeInstanceOf(Uint8Array); // synchronous
    expect(new TextDecoder().decode(await pc.openData({ ...h, payload: fromAgent as Uint8Array }))).toBe('to the page');
    const uh = { flags: FrameFlag.Encrypted, epoch: 3, timestamp: 2 };
    const fromPage = await pc.sealUnreliable(uh, new TextEncoder().encode('to the agent'));
    expect(new TextDecoder().decode(ac.openUnreliable({ ...uh, payload: fromPage }) as Uint8Array)).toBe('to the agent');
  });

  it("Node's scrypt gives the browsers' pure-JS scrypt bytes", async () => {
    const text = (s: string): Uint8Array => new TextEncoder().encode(s);
    const params = { N: 64, r: 2, p: 3, maxmem: ROOM_KEY_SCRYPT.maxmem };
    const node = await nodeScrypt(text('pw'), text('salt'), 40, params);
    expect(Buffer.from(node).toString('hex')).toBe(scryptSync('pw', 'salt', 40, params).toString('hex'));
    expect(Buffer.from(await browserScrypt(text('pw'), text('salt'), 40, params)).toString('hex')).toBe(Buffer.from(node).toString('hex'));
    await expect(nodeScrypt(text('pw'), text('salt'), 32, { ...params, N: 2 ** 20, maxmem: 1024 })).rejects.toThrow();
  });
});

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rtc-agent-node-crypto-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('identity file', () => {
  it.runIf(POSIX)('is created 0600 in a directory created 0700, in the pre-engine format, and reloads with the same key', async () => {
    const file = join(dir, 'state', 'nested', 'identity.json');
    const first = await loadOrCreateIdentity(file);
    expect(first.created).toBe(true);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'state', 'nested'))).mode & 0o777).toBe(0o700);
    const again = await loadOrCreateIdentity(file);
    expect(again.created).toBe(false);
    expect(again.fingerprint).toBe(first.fingerprint);
    expect(again.publicKey).toBe(first.publicKey);
    const json = JSON.parse(await readFile(file, 'utf8'));
    expect(Object.keys(json)).toEqual(Object.keys(JSON.parse(vectors.files.identity.content)));
    expect(json).toMatchObject({ type: 'rtc-agent-identity', version: 1, algorithm: 'X25519', publicKey: first.publicKey });
    expect(json.privateKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    // The loaded private key is opaque: not exportable, never printed.
    expect(first.privateKey.extractable).toBe(false);
    await expect(exportIdentity(first)).rejects.toMatchObject({ code: ErrorCode.INTERNAL });
    expect(JSON.stringify(first)).not.toContain(json.privateKey);
    // The loaded private key belongs to the public key peers see: a peer opens what the reloaded identity seals.
    const me = await E2eeSession.create(again, { aead: nodeAead });
    const peer = await E2eeSession.create(await generateIdentity(), { aead: nodeAead });
    const mine = await me.cipherFor({ room: 'r', selfId: 'me', peerId: 'p', peerKeys: peerE2eeKeys(peer.capabilities())! });
    const theirs = await peer.cipherFor({ room: 'r', selfId: 'p', peerId: 'me', peerKeys: peerE2eeKeys(me.capabilities())! });
    expect(theirs.peerFingerprint).toBe(first.fingerprint);
    const h = { flags: FrameFlag.Encrypted, epoch: 1, seq: 1, timestamp: 0 };
    expect(new TextDecoder().decode(theirs.openData({ ...h, payload: mine.sealData(h, new TextEncoder().encode('mine')) as Uint8Array }) as Uint8Array)).toBe('mine');
  });

  it.runIf(POSIX)('loads a file written by the pre-engine code (the vectors\' fixed identity)', async () => {
    const file = join(dir, 'old', 'identity.json');
    await mkdir(join(dir, 'old'), { mode: 0o700 });
    await writeFile(file, vectors.files.identity.content, { mode: 0o600 });
    await chmod(file, 0o600);
    const loaded = await loadOrCreateIdentity(file);
    expect(loaded).toMatchObject({ created: false, publicKey: vectors.files.identity.publicKey, fingerprint: vectors.files.identity.fingerprint });
    expect(await readFile(file, 'utf8')).toBe(vectors.files.identity.content); // read, never rewritten
  });

  it('concurrent creators all end up with the one identity on disk', async () => {
    const file = join(dir, 'race', 'identity.json');
    const all = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateIdentity(file)));
    expect(new Set(all.map((i) => i.fingerprint)).size).toBe(1);
    expect(all.filter((i) => i.created).length).toBe(1);
  });

  it.runIf(POSIX)('refuses a file other users can read (not silently fixed)', async () => {
    const file = join(dir, 'loose', 'identity.json');
    await loadOrCreateIdentity(file);
    for (const mode of [0o644, 0o640, 0o604, 0o660]) {
      await chmod(file, mode);
      await expect(loadOrCreateIdentity(file)).rejects.toMatchObject({ code: ErrorCode.KEY_FILE, message: expect.stringContaining('chmod 600') });
      expect((await stat(file)).mode & 0o777).toBe(mode);
    }
    await chmod(file, 0o600);
    await expect(loadOrCreateIdentity(file)).resolves.toMatchObject({ created: false });
    await chmod(file, 0o400); // read-only for the owner is fine
    await expect(loadOrCreateIdentity(file)).resolves.toMatchObject({ created: false });
  });

  it.runIf(POSIX)('refuses a symlink, a corrupted file and a mismatched key pair, naming the file', async () => {
    const real = join(dir, 'real.json');
    await loadOrCreateIdentity(real);
    const link = join(dir, 'link.json');
    await symlink(real, link);
    await expect(loadOrCreateIdentity(link)).rejects.toMatchObject({ code: ErrorCode.KEY_FILE, message: expect.stringContaining('symbolic link') });

    const bad = join(dir, 'bad.json');
    const refused = async (content: string, message: string): Promise<void> => {
      await writeFile(bad, content, { mode: 0o600 });
      await expect(loadOrCreateIdentity(bad), content.slice(0, 60)).rejects.toMatchObject({
        code: ErrorCode.KEY_FILE,
        message: expect.stringContaining(message),
        details: { file: bad },
      });
    };
    await refused('{ not json', 'not valid JSON');
    await refused(JSON.stringify({ type: 'something-else' }), 'not an rtc-agent identity file');
    await refused('[1]', 'does not hold a JSON object');
    const good = JSON.parse(await readFile(real, 'utf8'));
    await refused(JSON.stringify({ ...good, publicKey: (await generateIdentity()).publicKey }), 'does not belong');
    await refused(JSON.stringify({ ...good, privateKey: 'AAAA' }), 'privateKey is not a base64 32-byte key');
    await refused(JSON.stringify({ ...good, privateKey: 42 }), 'privateKey is not a base64 32-byte key');
    await refused(JSON.stringify({ ...good, publicKey: 'short' }), 'unusable key');
  });

  it.runIf(POSIX)('refuses to create it in a world-writable directory without the sticky bit', async () => {
    const open = join(dir, 'open');
    await mkdir(open);
    await chmod(open, 0o777);
    await expect(loadOrCreateIdentity(join(open, 'identity.json'))).rejects.toMatchObject({ code: ErrorCode.KEY_FILE });
  });
});

describe('known-peers file (trust on first use)', () => {
  let n = 0;
  trustTests('file-backed', async () => FileKnownPeers.open(join(dir, `known-${++n}`, 'known-peers.json')));

  it.runIf(POSIX)('reads a file written by the pre-engine code', async () => {
    const file = join(dir, 'old-known', 'known-peers.json');
    await mkdir(join(dir, 'old-known'), { mode: 0o700 });
    await writeFile(file, vectors.files.knownPeers.content, { mode: 0o600 });
    const store = await FileKnownPeers.open(file);
    expect(store.check(vectors.files.knownPeers.identity, vectors.files.knownPeers.fingerprint)).toBe('known');
    expect(store.check(vectors.files.knownPeers.identity, (await generateIdentity()).fingerprint)).toBe('changed');
  });

  it.runIf(POSIX)('persists 0600, survives a reload, and merges entries written by another agent', async () => {
    const file = join(dir, 'shared', 'known-peers.json');
    const a = await FileKnownPeers.open(file);
    const b = await FileKnownPeers.open(file);
    const alice = await generateIdentity();
    const bob = await generateIdentity();
    await a.remember('alice', alice.fingerprint);
    await b.remember('bob', bob.fingerprint); // re-reads the file: keeps alice
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const reloaded = await FileKnownPeers.open(file);
    expect(reloaded.check('alice', alice.fingerprint)).toBe('known');
    expect(reloaded.check('bob', bob.fingerprint)).toBe('known');
    expect(reloaded.check('bob', alice.fingerprint)).toBe('changed');
    expect(reloaded.get('alice')?.since).toMatch(/^\d{4}-/);
    await a.reload();
    expect(a.check('bob', bob.fingerprint)).toBe('known');
    // odd identity names are data, not object keys with meaning
    await reloaded.remember('__proto__', alice.fingerprint);
    expect((await FileKnownPeers.open(file)).check('__proto__', alice.fingerprint)).toBe('known');
    const json = JSON.parse(await readFile(file, 'utf8'));
    expect(json).toMatchObject({ type: 'rtc-agent-known-peers', version: 1 });
  });

  it.runIf(POSIX)('refuses a known-peers file others can write (they could pin their own key), or one that is malformed', async () => {
    const file = join(dir, 'writable', 'known-peers.json');
    const store = await FileKnownPeers.open(file);
    await store.remember('alice', (await generateIdentity()).fingerprint);
    await chmod(file, 0o666);
    await expect(FileKnownPeers.open(file)).rejects.toMatchObject({ code: ErrorCode.KEY_FILE });
    await chmod(file, 0o644); // readable is only a privacy matter: allowed
    await expect(FileKnownPeers.open(file)).resolves.toBeInstanceOf(FileKnownPeers);
    await writeFile(file, JSON.stringify({ type: 'rtc-agent-known-peers', version: 1, peers: { eve: { since: 'x' } } }));
    await expect(FileKnownPeers.open(file)).rejects.toMatchObject({ code: ErrorCode.KEY_FILE, message: expect.stringContaining('has no fingerprint') });
    await writeFile(file, JSON.stringify({ type: 'rtc-agent-identity', version: 1 }));
    await expect(FileKnownPeers.open(file)).rejects.toMatchObject({ code: ErrorCode.KEY_FILE, message: expect.stringContaining('not an rtc-agent known-peers file') });
  });
});
