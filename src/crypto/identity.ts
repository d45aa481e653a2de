/**
 * X25519 keys: the agent's long-term identity (optionally persisted, so its fingerprint is stable),
 * per-process session keys (fresh on every start; see pairwise.ts for why both), strict parsing of
 * peers' base64 public keys, and short fingerprints to compare out of band.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, timingSafeEqual, type KeyObject } from 'node:crypto';
import { ErrorCode, RtcAgentError } from '../errors.js';
import { createPrivateFileExclusive, keyFileError, parseKeyFileJson, readPrivateFile } from './secure-file.js';

/** Bytes of a raw X25519 public or private key. */
export const X25519_KEY_BYTES = 32;

/** An X25519 key pair. The private key stays a KeyObject, so logging the object never prints it. */
export interface KeyPair {
  /** Standard base64 of the raw 32-byte public key (the form `capabilities.e2eePublicKey` carries). */
  readonly publicKey: string;
  readonly privateKey: KeyObject;
}

/** The agent's long-term identity: a key pair and the fingerprint peers compare. */
export interface Identity extends KeyPair {
  /** {@link fingerprint} of `publicKey`. */
  readonly fingerprint: string;
}

function rawPublicKey(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.crv !== 'X25519' || typeof jwk.x !== 'string') throw new RtcAgentError(ErrorCode.INTERNAL, 'not an X25519 key');
  return Buffer.from(jwk.x, 'base64url');
}

/** Standard base64 of the raw public key of an X25519 KeyObject (private or public). */
export function publicKeyBase64(key: KeyObject): string {
  return rawPublicKey(key.type === 'private' ? createPublicKey(key) : key).toString('base64');
}

/** A fresh X25519 key pair. */
export function generateKeyPair(): KeyPair {
  const { privateKey } = generateKeyPairSync('x25519');
  return { publicKey: publicKeyBase64(privateKey), privateKey };
}

/** A fresh, unpersisted identity (for agents that do not keep one, and for tests). */
export function generateIdentity(): Identity {
  const pair = generateKeyPair();
  return { ...pair, fingerprint: fingerprint(pair.publicKey) };
}

/**
 * Decodes an untrusted base64 X25519 public key. Only the canonical encoding of exactly 32 bytes
 * is accepted, so one key has one string (fingerprints and TOFU entries cannot be dodged by
 * re-encoding). Throws E2EE_BAD_PUBLIC_KEY.
 */
export function parsePublicKey(base64: unknown, what = 'public key'): Buffer {
  if (typeof base64 !== 'string') throw new RtcAgentError(ErrorCode.E2EE_BAD_PUBLIC_KEY, `${what} must be a base64 string`);
  const raw = Buffer.from(base64, 'base64');
  if (raw.length !== X25519_KEY_BYTES || raw.toString('base64') !== base64) {
    throw new RtcAgentError(
      ErrorCode.E2EE_BAD_PUBLIC_KEY,
      `${what} is not the base64 of a ${X25519_KEY_BYTES}-byte X25519 key: ${JSON.stringify(base64.slice(0, 60))}`,
    );
  }
  return raw;
}

/** A KeyObject for an untrusted base64 public key (validated by {@link parsePublicKey}). */
export function importPublicKey(base64: unknown, what = 'public key'): KeyObject {
  const raw = parsePublicKey(base64, what);
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: raw.toString('base64url') }, format: 'jwk' });
}

/**
 * The short fingerprint users compare out of band (`/verify`): the first 16 bytes of SHA-256 over
 * the raw 32-byte public key, as 8 groups of 4 upper-case hex digits, e.g.
 * `3F2A 9C01 77D0 B4E2 0C5A 19F8 E6D3 2B70`. 128 bits: far beyond what a key-grinding attacker
 * can match, short enough to read aloud. Reproducible elsewhere: `base64 -d | sha256sum | head -c 32`.
 */
export function fingerprint(publicKey: string): string {
  const raw = parsePublicKey(publicKey);
  const hex = createHash('sha256').update(raw).digest('hex').slice(0, 32).toUpperCase();
  return hex.match(/.{4}/g)!.join(' ');
}

/** Canonical form of a fingerprint a user typed or pasted: upper-case hex, no separators. */
export function normalizeFingerprint(value: string): string {
  return value.replace(/[\s:-]/g, '').toUpperCase();
}

/** Whether two fingerprints (as shown, or typed by a user with any spacing/case) are the same. */
export function fingerprintsEqual(a: string, b: string): boolean {
  const x = Buffer.from(normalizeFingerprint(a));
  const y = Buffer.from(normalizeFingerprint(b));
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

const FILE_TYPE = 'rtc-agent-identity';
const FILE_VERSION = 1;

/**
 * Loads the identity in `file`, or creates one there (0600, in a directory created 0700) if the file
 * does not exist. Safe against a concurrent creator: whoever loses loads the winner's key.
 *
 * An existing file that other users can read or write, that another user owns, or that is a
 * symlink is **refused** with RTC_ERR_KEY_FILE (not fixed): see secure-file.ts for why.
 *
 * Format (JSON, so it is easy to inspect and back up):
 * `{ "type": "rtc-agent-identity", "version": 1, "algorithm": "X25519", "publicKey": b64, "privateKey": b64, "createdAt": iso }`.
 */
export async function loadOrCreateIdentity(file: string): Promise<Identity & { created: boolean }> {
  const existing = await readPrivateFile(file, 'secret');
  if (existing !== undefined) return { ...decodeIdentityFile(file, existing), created: false };
  const identity = generateIdentity();
  const content = `${JSON.stringify(encodeIdentityFile(identity), null, 2)}\n`;
  if (await createPrivateFileExclusive(file, content)) return { ...identity, created: true };
  // Another process created it between our read and our create: use theirs.
  const raced = await readPrivateFile(file, 'secret');
  if (raced === undefined) throw keyFileError(`${file} vanished while being created`, file);
  return { ...decodeIdentityFile(file, raced), created: false };
}

function encodeIdentityFile(identity: Identity): Record<string, unknown> {
  const jwk = identity.privateKey.export({ format: 'jwk' });
  return {
    type: FILE_TYPE,
    version: FILE_VERSION,
    algorithm: 'X25519',
    publicKey: identity.publicKey,
    privateKey: Buffer.from(jwk.d as string, 'base64url').toString('base64'),
    createdAt: new Date().toISOString(),
  };
}

function decodeIdentityFile(file: string, text: string): Identity {
  const json = parseKeyFileJson(file, text);
  if (json.type !== FILE_TYPE || json.version !== FILE_VERSION || json.algorithm !== 'X25519') {
    throw keyFileError(`${file} is not an rtc-agent identity file (want type ${FILE_TYPE}, version ${FILE_VERSION}, algorithm X25519)`, file);
  }
  const priv = typeof json.privateKey === 'string' ? Buffer.from(json.privateKey, 'base64') : Buffer.alloc(0);
  if (priv.length !== X25519_KEY_BYTES) throw keyFileError(`${file}: privateKey is not a base64 ${X25519_KEY_BYTES}-byte key`, file);
  let privateKey: KeyObject;
  let publicKey: string;
  try {
    const stored = parsePublicKey(json.publicKey, 'publicKey');
    privateKey = createPrivateKey({
      key: { kty: 'OKP', crv: 'X25519', d: priv.toString('base64url'), x: stored.toString('base64url') },
      format: 'jwk',
    });
    publicKey = publicKeyBase64(privateKey);
  } catch (err) {
    throw keyFileError(`${file} holds an unusable key: ${(err as Error).message}`, file, err);
  } finally {
    priv.fill(0);
  }
  // The stored public key is a convenience for humans; the private key is the truth. A mismatch means corruption.
  if (publicKey !== json.publicKey) throw keyFileError(`${file}: publicKey does not belong to privateKey (file corrupted or edited)`, file);
  return { publicKey, privateKey, fingerprint: fingerprint(publicKey) };
}
