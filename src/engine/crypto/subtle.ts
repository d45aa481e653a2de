/**
 * The engine's typed view of WebCrypto: exactly the SubtleCrypto calls the E2EE code (and the
 * browser's scrypt) makes, with the algorithms it uses. The engine is compiled without DOM and
 * without Node types (globals.d.ts declares `crypto.subtle` as `unknown`), so this interface is what
 * both builds see; at run time it is `globalThis.crypto.subtle` of Node (>= 20: X25519, HKDF,
 * AES-GCM) or of the browser.
 */
import { ErrorCode, RtcAgentError } from '../../errors.js';

/**
 * A WebCrypto CryptoKey, opaque to the engine. Its key bytes are not properties, so logging or
 * JSON-serialising one never prints them.
 */
export interface WebCryptoKey {
  readonly type: string;
  readonly extractable: boolean;
  readonly algorithm: { readonly name: string };
  readonly usages: readonly string[];
}

export interface WebCryptoKeyPair {
  readonly publicKey: WebCryptoKey;
  readonly privateKey: WebCryptoKey;
}

/** The JWK fields of an OKP (X25519) key that the engine reads. */
export interface OkpJwk {
  kty?: string;
  crv?: string;
  x?: string;
  d?: string;
}

type KeyUsage = 'deriveBits' | 'encrypt' | 'decrypt';
type ImportAlgorithm = { name: 'X25519' } | { name: 'AES-GCM' } | 'HKDF' | 'PBKDF2';
type DeriveAlgorithm =
  | { name: 'X25519'; public: WebCryptoKey }
  | { name: 'HKDF'; hash: 'SHA-256'; salt: Uint8Array; info: Uint8Array }
  | { name: 'PBKDF2'; hash: 'SHA-256'; salt: Uint8Array; iterations: number };
interface AesGcmParams {
  name: 'AES-GCM';
  iv: Uint8Array;
  additionalData: Uint8Array;
  tagLength: number;
}

/** The SubtleCrypto methods used, with the argument shapes used. */
export interface EngineSubtle {
  generateKey(algorithm: { name: 'X25519' }, extractable: boolean, usages: KeyUsage[]): Promise<WebCryptoKeyPair>;
  importKey(format: 'raw' | 'pkcs8', keyData: Uint8Array, algorithm: ImportAlgorithm, extractable: boolean, usages: KeyUsage[]): Promise<WebCryptoKey>;
  exportKey(format: 'raw', key: WebCryptoKey): Promise<ArrayBuffer>;
  exportKey(format: 'jwk', key: WebCryptoKey): Promise<OkpJwk>;
  deriveBits(algorithm: DeriveAlgorithm, baseKey: WebCryptoKey, length: number): Promise<ArrayBuffer>;
  digest(algorithm: 'SHA-256', data: Uint8Array): Promise<ArrayBuffer>;
  encrypt(algorithm: AesGcmParams, key: WebCryptoKey, data: Uint8Array): Promise<ArrayBuffer>;
  decrypt(algorithm: AesGcmParams, key: WebCryptoKey, data: Uint8Array): Promise<ArrayBuffer>;
}

let cached: EngineSubtle | undefined;

/**
 * WebCrypto's SubtleCrypto. Throws INTERNAL where there is none: browsers hide it outside secure
 * contexts (https or localhost), and end-to-end encryption cannot work without it.
 */
export function subtle(): EngineSubtle {
  if (cached) return cached;
  const s = (globalThis as { crypto?: { subtle?: unknown } }).crypto?.subtle;
  if (s === undefined || s === null) {
    throw new RtcAgentError(
      ErrorCode.INTERNAL,
      'WebCrypto (crypto.subtle) is not available here: end-to-end encryption needs Node >= 20 or a browser page in a secure context (https or localhost)',
    );
  }
  cached = s as EngineSubtle;
  return cached;
}

/** SHA-256 of `bytes`. */
export async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().digest('SHA-256', bytes));
}
