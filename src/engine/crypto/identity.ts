/**
 * X25519 keys on WebCrypto: the agent's long-term identity (the platform may persist it, so its
 * fingerprint is stable), per-process session keys (fresh on every start; see pairwise.ts for why
 * both), strict parsing of peers' base64 public keys, and the short fingerprints users compare out
 * of band.
 *
 * Private keys are CryptoKeys: their bytes are not properties, so logging or serialising an
 * identity never prints them. Only an identity made `extractable` can be exported (the platform
 * that persists identities to a file asks for that; a browser can store the CryptoKey itself).
 */
import { ErrorCode, RtcAgentError } from '../../errors.js';
import { concatBytes, fromBase64, toBase64, toHex, utf8Encode } from '../bytes.js';
import { sha256, subtle, type WebCryptoKey } from './subtle.js';

/** Bytes of a raw X25519 public or private key. */
export const X25519_KEY_BYTES = 32;

/** An X25519 key pair. */
export interface KeyPair {
  /** Standard base64 of the raw 32-byte public key (the form `capabilities.e2eePublicKey` carries). */
  readonly publicKey: string;
  /** Opaque: never printed, exportable only when created extractable. */
  readonly privateKey: WebCryptoKey;
}

/** The agent's long-term identity: a key pair and the fingerprint peers compare. */
export interface Identity extends KeyPair {
  /** {@link fingerprint} of `publicKey`. */
  readonly fingerprint: string;
}

/** An identity as a platform stores it: standard base64 of the raw 32-byte keys. Secret. */
export interface ExportedIdentity {
  publicKey: string;
  privateKey: string;
}

export interface KeyOptions {
  /** Whether the private key can be exported later ({@link exportIdentity}); default false. */
  extractable?: boolean;
}

/**
 * Decodes an untrusted base64 X25519 public key. Only the canonical encoding of exactly 32 bytes
 * is accepted, so one key has one string (fingerprints and TOFU entries cannot be dodged by
 * re-encoding). Throws E2EE_BAD_PUBLIC_KEY.
 */
export function parsePublicKey(base64: unknown, what = 'public key'): Uint8Array {
  if (typeof base64 !== 'string') throw new RtcAgentError(ErrorCode.E2EE_BAD_PUBLIC_KEY, `${what} must be a base64 string`);
  let raw: Uint8Array | undefined;
  try {
    raw = fromBase64(base64);
  } catch {
    raw = undefined;
  }
  if (raw === undefined || raw.length !== X25519_KEY_BYTES || toBase64(raw) !== base64) {
    throw new RtcAgentError(
      ErrorCode.E2EE_BAD_PUBLIC_KEY,
      `${what} is not the base64 of a ${X25519_KEY_BYTES}-byte X25519 key: ${JSON.stringify(base64.slice(0, 60))}`,
    );
  }
  return raw;
}

/**
 * The short fingerprint users compare out of band (`/verify`): the first 16 bytes of SHA-256 over
 * the raw 32-byte public key, as 8 groups of 4 upper-case hex digits, e.g.
 * `3F2A 9C01 77D0 B4E2 0C5A 19F8 E6D3 2B70`. 128 bits: far beyond what a key-grinding attacker
 * can match, short enough to read aloud. Reproducible elsewhere: `base64 -d | sha256sum | head -c 32`.
 */
export async function fingerprint(publicKey: string): Promise<string> {
  const digest = await sha256(parsePublicKey(publicKey));
  return toHex(digest.subarray(0, 16)).toUpperCase().match(/.{4}/g)!.join(' ');
}

/** Canonical form of a fingerprint a user typed or pasted: upper-case hex, no separators. */
export function normalizeFingerprint(value: string): string {
  return value.replace(/[\s:-]/g, '').toUpperCase();
}

/** Whether two fingerprints (as shown, or typed by a user with any spacing/case) are the same. */
export function fingerprintsEqual(a: string, b: string): boolean {
  const x = utf8Encode(normalizeFingerprint(a));
  const y = utf8Encode(normalizeFingerprint(b));
  if (x.length !== y.length || x.length === 0) return false;
  // Constant time over the bytes: a fingerprint check should not leak how much of a guess matched.
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= (x[i] as number) ^ (y[i] as number);
  return diff === 0;
}

async function publicKeyOf(key: WebCryptoKey): Promise<string> {
  return toBase64(new Uint8Array(await subtle().exportKey('raw', key)));
}

/** A fresh X25519 key pair. */
export async function generateKeyPair(options: KeyOptions = {}): Promise<KeyPair> {
  const pair = await subtle().generateKey({ name: 'X25519' }, options.extractable ?? false, ['deriveBits']);
  return { publicKey: await publicKeyOf(pair.publicKey), privateKey: pair.privateKey };
}

/** A fresh identity; pass `extractable: true` to persist it with {@link exportIdentity}. */
export async function generateIdentity(options: KeyOptions = {}): Promise<Identity> {
  const pair = await generateKeyPair(options);
  return { ...pair, fingerprint: await fingerprint(pair.publicKey) };
}

// PKCS #8 PrivateKeyInfo of an X25519 key (RFC 8410 §7) without its 32 key bytes: the one import
// format WebCrypto offers that needs no public key, so the public key is derived, not trusted.
const PKCS8_X25519_PREFIX = new Uint8Array([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20]);

function storedKeyError(message: string, cause?: unknown): RtcAgentError {
  return new RtcAgentError(ErrorCode.KEY_FILE, message, cause === undefined ? {} : { cause });
}

/**
 * Rebuilds a stored identity. The public key is derived from the private key; when `publicKey`
 * (what the store also kept) is given it must match, since a mismatch means corruption.
 * Throws KEY_FILE for an unusable key or a mismatch.
 */
export async function importIdentity(privateKey: string, options: KeyOptions & { publicKey?: string } = {}): Promise<Identity> {
  let d: Uint8Array;
  try {
    d = fromBase64(privateKey);
  } catch {
    d = new Uint8Array(0);
  }
  if (d.length !== X25519_KEY_BYTES) throw storedKeyError(`privateKey is not a base64 ${X25519_KEY_BYTES}-byte key`);
  const pkcs8 = concatBytes([PKCS8_X25519_PREFIX, d]);
  d.fill(0);
  let derived: string;
  let key: WebCryptoKey;
  try {
    // Import once extractable to read the public key the private key implies, then keep the
    // key as the caller asked.
    const probe = await subtle().importKey('pkcs8', pkcs8, { name: 'X25519' }, true, ['deriveBits']);
    const jwk = await subtle().exportKey('jwk', probe);
    if (typeof jwk.x !== 'string') throw new Error('WebCrypto exported no public key');
    derived = base64UrlToBase64(jwk.x);
    key = options.extractable ? probe : await subtle().importKey('pkcs8', pkcs8, { name: 'X25519' }, false, ['deriveBits']);
  } catch (err) {
    throw storedKeyError(`the stored identity holds an unusable key: ${(err as Error).message}`, err);
  } finally {
    pkcs8.fill(0);
  }
  if (options.publicKey !== undefined && options.publicKey !== derived) {
    throw storedKeyError('the stored publicKey does not belong to the stored privateKey (corrupted or edited)');
  }
  return { publicKey: derived, privateKey: key, fingerprint: await fingerprint(derived) };
}

/** The raw keys of an identity created or imported `extractable`, for the platform to persist. */
export async function exportIdentity(identity: Identity): Promise<ExportedIdentity> {
  if (!identity.privateKey.extractable) {
    throw new RtcAgentError(ErrorCode.INTERNAL, 'this identity was created non-extractable; create it with { extractable: true } to persist it');
  }
  const jwk = await subtle().exportKey('jwk', identity.privateKey);
  if (typeof jwk.d !== 'string') throw new RtcAgentError(ErrorCode.INTERNAL, 'WebCrypto exported no private key');
  return { publicKey: identity.publicKey, privateKey: base64UrlToBase64(jwk.d) };
}

function base64UrlToBase64(text: string): string {
  const std = text.replace(/-/g, '+').replace(/_/g, '/');
  return std.padEnd(Math.ceil(std.length / 4) * 4, '=');
}
