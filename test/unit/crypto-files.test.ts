/**
 * E2EE state on disk (src/crypto/identity.ts, known-peers.ts, secure-file.ts): the identity file
 * is created 0600 in a 0700 directory and reloads with the same fingerprint; unsafe, foreign,
 * symlinked or corrupted files are refused with RTC_ERR_KEY_FILE; trust on first use detects a
 * changed key and persists across reloads.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FileKnownPeers,
  MemoryKnownPeers,
  generateIdentity,
  identityChangedError,
  loadOrCreateIdentity,
  type KnownPeers,
} from '../../src/crypto/index.js';
import { ErrorCode } from '../../src/errors.js';

const POSIX = process.platform !== 'win32';
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rtc-agent-crypto-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('identity file', () => {
  it.runIf(POSIX)('is created 0600 in a directory created 0700, and reloads with the same fingerprint', async () => {
    const file = join(dir, 'state', 'nested', 'identity.json');
    const first = await loadOrCreateIdentity(file);
    expect(first.created).toBe(true);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'state', 'nested'))).mode & 0o777).toBe(0o700);
    const again = await loadOrCreateIdentity(file);
    expect(again.created).toBe(false);
    expect(again.fingerprint).toBe(first.fingerprint);
    expect(again.publicKey).toBe(first.publicKey);
    // same private key: the same ECDH result
    expect(again.privateKey.export({ format: 'jwk' }).d).toBe(first.privateKey.export({ format: 'jwk' }).d);
    const json = JSON.parse(await readFile(file, 'utf8'));
    expect(json).toMatchObject({ type: 'rtc-agent-identity', version: 1, algorithm: 'X25519', publicKey: first.publicKey });
    // the KeyObject never prints its secret
    expect(JSON.stringify(first)).not.toContain(json.privateKey);
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

  it.runIf(POSIX)('refuses a symlink, a corrupted file and a mismatched key pair', async () => {
    const real = join(dir, 'real.json');
    await loadOrCreateIdentity(real);
    const link = join(dir, 'link.json');
    await symlink(real, link);
    await expect(loadOrCreateIdentity(link)).rejects.toMatchObject({ code: ErrorCode.KEY_FILE });

    const bad = join(dir, 'bad.json');
    await writeFile(bad, '{ not json', { mode: 0o600 });
    await expect(loadOrCreateIdentity(bad)).rejects.toMatchObject({ code: ErrorCode.KEY_FILE });
    await writeFile(bad, JSON.stringify({ type: 'something-else' }), { mode: 0o600 });
    await expect(loadOrCreateIdentity(bad)).rejects.toMatchObject({ code: ErrorCode.KEY_FILE });

    const good = JSON.parse(await readFile(real, 'utf8'));
    await writeFile(bad, JSON.stringify({ ...good, publicKey: generateIdentity().publicKey }), { mode: 0o600 });
    await expect(loadOrCreateIdentity(bad)).rejects.toMatchObject({ code: ErrorCode.KEY_FILE, message: expect.stringContaining('does not belong') });
    await writeFile(bad, JSON.stringify({ ...good, privateKey: 'AAAA' }), { mode: 0o600 });
    await expect(loadOrCreateIdentity(bad)).rejects.toMatchObject({ code: ErrorCode.KEY_FILE });
  });

  it.runIf(POSIX)('refuses to create it in a world-writable directory without the sticky bit', async () => {
    const open = join(dir, 'open');
    await mkdir(open);
    await chmod(open, 0o777);
    await expect(loadOrCreateIdentity(join(open, 'identity.json'))).rejects.toMatchObject({ code: ErrorCode.KEY_FILE });
  });
});

function trustTests(name: string, make: () => Promise<KnownPeers>): void {
  it(`${name}: new -> known; a different key is 'changed'; remembering accepts it`, async () => {
    const store = await make();
    const alice = generateIdentity();
    const mallory = generateIdentity();
    expect(store.check('alice', alice.fingerprint)).toBe('new');
    await store.remember('alice', alice.fingerprint);
    expect(store.check('alice', alice.fingerprint)).toBe('known');
    expect(store.check('alice', alice.fingerprint.toLowerCase().replace(/ /g, ''))).toBe('known');
    expect(store.check('alice', mallory.fingerprint)).toBe('changed');
    expect(store.check('bob', mallory.fingerprint)).toBe('new'); // keyed by identity, not by key
    await store.remember('alice', mallory.fingerprint); // the user verified the new key
    expect(store.check('alice', mallory.fingerprint)).toBe('known');
    expect(store.check('alice', alice.fingerprint)).toBe('changed');
    expect(await store.forget('alice')).toBe(true);
    expect(store.check('alice', alice.fingerprint)).toBe('new');
    expect(await store.forget('alice')).toBe(false);
  });
}

describe('known peers (trust on first use)', () => {
  trustTests('in memory', async () => new MemoryKnownPeers());
  let n = 0;
  trustTests('file-backed', async () => FileKnownPeers.open(join(dir, `known-${++n}`, 'known-peers.json')));

  it.runIf(POSIX)('persists 0600, survives a reload, and merges entries written by another agent', async () => {
    const file = join(dir, 'shared', 'known-peers.json');
    const a = await FileKnownPeers.open(file);
    const b = await FileKnownPeers.open(file);
    const alice = generateIdentity();
    const bob = generateIdentity();
    await a.remember('alice', alice.fingerprint);
    await b.remember('bob', bob.fingerprint); // re-reads the file: keeps alice
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const reloaded = await FileKnownPeers.open(file);
    expect(reloaded.check('alice', alice.fingerprint)).toBe('known');
    expect(reloaded.check('bob', bob.fingerprint)).toBe('known');
    expect(reloaded.check('bob', alice.fingerprint)).toBe('changed');
    expect(reloaded.get('alice')?.since).toMatch(/^\d{4}-/);
    // odd identity names are data, not object keys with meaning
    await reloaded.remember('__proto__', alice.fingerprint);
    expect((await FileKnownPeers.open(file)).check('__proto__', alice.fingerprint)).toBe('known');
  });

  it.runIf(POSIX)('refuses a known-peers file others can write (they could pin their own key)', async () => {
    const file = join(dir, 'writable', 'known-peers.json');
    const store = await FileKnownPeers.open(file);
    await store.remember('alice', generateIdentity().fingerprint);
    await chmod(file, 0o666);
    await expect(FileKnownPeers.open(file)).rejects.toMatchObject({ code: ErrorCode.KEY_FILE });
    await chmod(file, 0o644); // readable is only a privacy matter: allowed
    await expect(FileKnownPeers.open(file)).resolves.toBeInstanceOf(FileKnownPeers);
  });

  it('identityChangedError is loud and carries both fingerprints', () => {
    const err = identityChangedError('alice', 'AAAA BBBB', 'CCCC DDDD');
    expect(err.code).toBe(ErrorCode.IDENTITY_CHANGED);
    expect(err.message).toMatch(/CHANGED.*AAAA BBBB.*CCCC DDDD.*out of band/);
    expect(err.details).toEqual({ identity: 'alice', known: 'AAAA BBBB', seen: 'CCCC DDDD' });
  });
});
