/**
 * End-to-end encryption for the browser page: a byte-exact WebCrypto port of what the page needs
 * from src/crypto (identity.ts fingerprints and key parsing, pairwise.ts key derivation, seal.ts
 * sealing and opening, replay-window.ts, room-key.ts's scrypt room key), so a page and an agent
 * derive the same pairwise keys and open each other's frames. The agent side is the reference;
 * test/unit/web-e2ee.test.ts checks this file against it (Node 20's WebCrypto has X25519) and
 * test/interop/browser.test.ts runs it in Chromium against a real agent.
 *
 * Browser code (no Node APIs): it uses only `globalThis.crypto.subtle` (X25519, HKDF, AES-GCM,
 * SHA-256, PBKDF2) plus a small pure-JS scrypt (RFC 7914) for the room secret. Everything is
 * asynchronous (WebCrypto is), so callers seal before they hand bytes to the reliable layer; see
 * browser-peer.ts for how nonces stay unique despite that.
 *
 * Keys in the page: the identity and the session key are generated in the page and never leave it
 * (private keys are non-extractable CryptoKeys). The identity is **not persisted**: a reload is a
 * new identity with a new fingerprint (peers that remember fingerprints will see a change).
 *
 * Layouts (see the agent files for the reasoning):
 *   T           = "rtc-agent/e2ee/v1" | room | lowId | highId | lowIdentity | highIdentity | lowSession | highSession   (u16-length-prefixed)
 *   ikm         = X25519(selfIdentity, peerIdentity) || X25519(selfSession, peerSession)
 *   keys        = HKDF-SHA256(ikm, salt = roomKey or empty, info = T | "keys") -> 72 bytes
 *   pair check  = HKDF-SHA256(ikm, salt = empty, info = T | "pair-check") -> 4 bytes
 *   hint(X)     = SHA-256(field("rtc-agent/e2ee/v1/recipient") | field(X))[0..4]
 *   DATA        = ver 1 | hint [4] | pair check [4] | key check [4] | ciphertext | tag [16]
 *   UNRELIABLE  = ver 1 | hint [4] | pair check [4] | key check [4] | counter u64 | ciphertext | tag [16]
 *   nonce       = u32 1 | epoch | seq  (DATA),  u32 2 | counter u64 (UNRELIABLE)
 *   AAD         = prefix | kind u8 | flags u8 | epoch u32 | seq u32 (0 for UNRELIABLE) | timestamp f64 | sender | recipient | u32 len | extra
 */
import { ErrorCode, RtcAgentError } from '../errors.js';
import { FrameFlag, FrameKind } from '../protocol/frames.js';

export const E2EE_LABEL = 'rtc-agent/e2ee/v1';
export const CHECK_BYTES = 4;
export const X25519_KEY_BYTES = 32;
export const SEAL_VERSION = 1;
export const GCM_TAG_BYTES = 16;
const PREFIX_BYTES = 1 + 3 * CHECK_BYTES;
const COUNTER_BYTES = 8;
/** Bytes a sealed DATA payload adds to the plaintext (as src/crypto/seal.ts). */
export const DATA_SEAL_OVERHEAD_BYTES = PREFIX_BYTES + GCM_TAG_BYTES;
/** Bytes a sealed UNRELIABLE payload adds to the plaintext. */
export const UNRELIABLE_SEAL_OVERHEAD_BYTES = PREFIX_BYTES + COUNTER_BYTES + GCM_TAG_BYTES;
export const MAX_UNRELIABLE_COUNTER = Number.MAX_SAFE_INTEGER;
/** Capability names (as src/crypto/peer-cipher.ts). */
export const E2EE_IDENTITY_CAPABILITY = 'e2eePublicKey';
export const E2EE_SESSION_CAPABILITY = 'e2eeSessionKey';
/** scrypt parameters of the room key (as src/crypto/room-key.ts). */
export const ROOM_KEY_SCRYPT = { N: 2 ** 15, r: 8, p: 1 } as const;
const ROOM_SECRET_SALT_LABEL = 'rtc-agent/e2ee/v1/room-secret\0';

// ------------------------------------------------------------------------------------ bytes

const utf8 = new TextEncoder();

function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new RtcAgentError(ErrorCode.INTERNAL, 'WebCrypto (crypto.subtle) is not available here: end-to-end encryption needs a secure context (https or localhost)');
  return s;
}

/** A fresh ArrayBuffer-backed copy (what WebCrypto's BufferSource typing wants). */
function buf(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(bytes.length);
  out.set(bytes);
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

/** u16-length-prefixed field (pairwise.ts field(), seal.ts idField()). */
function field(value: string | Uint8Array): Uint8Array {
  const bytes = typeof value === 'string' ? utf8.encode(value) : value;
  if (bytes.length > 0xffff) throw new RtcAgentError(ErrorCode.BAD_REQUEST, 'E2EE key-derivation field longer than 65535 bytes');
  const out = new Uint8Array(2 + bytes.length);
  out[0] = bytes.length >>> 8;
  out[1] = bytes.length & 0xff;
  out.set(bytes, 2);
  return out;
}

function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i] as number);
  return btoa(binary);
}

function u32(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff_ffff) throw new RtcAgentError(ErrorCode.INTERNAL, `${what} ${n} is not a u32`);
  return n;
}

function writeCounter(view: DataView, at: number, counter: number): void {
  if (!Number.isSafeInteger(counter) || counter < 0) throw new RtcAgentError(ErrorCode.INTERNAL, `unreliable counter ${counter} out of range`);
  view.setUint32(at, Math.floor(counter / 2 ** 32));
  view.setUint32(at + 4, counter >>> 0);
}

function readCounter(bytes: Uint8Array, at: number): number {
  const v = new DataView(bytes.buffer, bytes.byteOffset + at, 8);
  return v.getUint32(0) * 2 ** 32 + v.getUint32(4);
}

async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().digest('SHA-256', buf(bytes)));
}

// ------------------------------------------------------------------------------------ keys

/** An X25519 key pair; the private key is a non-extractable CryptoKey. */
export interface KeyPair {
  /** Standard base64 of the raw 32-byte public key. */
  readonly publicKey: string;
  readonly privateKey: CryptoKey;
}

export interface Identity extends KeyPair {
  readonly fingerprint: string;
}

/**
 * Decodes an untrusted base64 X25519 public key; only the canonical encoding of exactly 32 bytes is
 * accepted (identity.ts parsePublicKey). Throws E2EE_BAD_PUBLIC_KEY.
 */
export function parsePublicKey(base64: unknown, what = 'public key'): Uint8Array {
  if (typeof base64 !== 'string') throw new RtcAgentError(ErrorCode.E2EE_BAD_PUBLIC_KEY, `${what} must be a base64 string`);
  let raw: Uint8Array | undefined;
  try {
    const binary = atob(base64);
    raw = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) raw[i] = binary.charCodeAt(i);
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

/** identity.ts fingerprint(): the first 16 bytes of SHA-256(raw key) as 8 groups of 4 upper-case hex digits. */
export async function fingerprint(publicKey: string): Promise<string> {
  const digest = await sha256(parsePublicKey(publicKey));
  const hex = [...digest.subarray(0, 16)].map((b) => b.toString(16).padStart(2, '0')).join('').toUpperCase();
  return hex.match(/.{4}/g)!.join(' ');
}

/** A fresh X25519 key pair (private key non-extractable). */
export async function generateKeyPair(): Promise<KeyPair> {
  const pair = (await subtle().generateKey({ name: 'X25519' }, false, ['deriveBits'])) as CryptoKeyPair;
  const raw = new Uint8Array(await subtle().exportKey('raw', pair.publicKey));
  return { publicKey: toBase64(raw), privateKey: pair.privateKey };
}

/** A fresh, unpersisted identity. */
export async function generateIdentity(): Promise<Identity> {
  const pair = await generateKeyPair();
  return { ...pair, fingerprint: await fingerprint(pair.publicKey) };
}

/**
 * An identity from a raw 32-byte X25519 private key (base64) and its public key: for tests that
 * need the page to use a known key. The private key is imported non-extractable.
 */
export async function importIdentity(privateKeyBase64: string, publicKeyBase64: string): Promise<Identity> {
  const pub = parsePublicKey(publicKeyBase64, 'publicKey');
  const d = parsePublicKey(privateKeyBase64, 'privateKey');
  const b64url = (b: Uint8Array): string => toBase64(b).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const privateKey = await subtle().importKey('jwk', { kty: 'OKP', crv: 'X25519', d: b64url(d), x: b64url(pub) }, { name: 'X25519' }, false, ['deriveBits']);
  return { publicKey: publicKeyBase64, privateKey, fingerprint: await fingerprint(publicKeyBase64) };
}

/** pairwise.ts recipientHint(). */
export async function recipientHint(peerId: string): Promise<Uint8Array> {
  return (await sha256(concat([field(`${E2EE_LABEL}/recipient`), field(peerId)]))).subarray(0, CHECK_BYTES);
}

async function dh(privateKey: CryptoKey, peerRaw: Uint8Array, what: string): Promise<Uint8Array> {
  let shared: Uint8Array;
  try {
    const publicKey = await subtle().importKey('raw', buf(peerRaw), { name: 'X25519' }, true, []);
    shared = new Uint8Array(await subtle().deriveBits({ name: 'X25519', public: publicKey }, privateKey, 256));
  } catch (err) {
    // WebCrypto refuses low-order points (an all-zero shared secret) with an OperationError.
    throw new RtcAgentError(ErrorCode.E2EE_BAD_PUBLIC_KEY, `the peer's ${what} is unusable: ${(err as Error).message}`, { cause: err });
  }
  if (shared.every((b) => b === 0)) throw new RtcAgentError(ErrorCode.E2EE_BAD_PUBLIC_KEY, `the peer's ${what} is a low-order point`);
  return shared;
}

async function hkdf(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, bytes: number): Promise<Uint8Array> {
  const key = await subtle().importKey('raw', buf(ikm), 'HKDF', false, ['deriveBits']);
  return new Uint8Array(await subtle().deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: buf(salt), info: buf(info) }, key, bytes * 8));
}

/** A stretched room secret bound to its room (room-key.ts RoomKey). */
export interface RoomKey {
  readonly room: string;
  readonly key: Uint8Array;
}

export interface DirectionKey {
  readonly key: CryptoKey;
  readonly check: Uint8Array;
}

/** pairwise.ts PairKeys, with WebCrypto keys. */
export interface PairKeys {
  readonly room: string;
  readonly selfId: string;
  readonly peerId: string;
  readonly send: DirectionKey;
  readonly recv: DirectionKey;
  readonly pairCheck: Uint8Array;
  readonly selfHint: Uint8Array;
  readonly peerHint: Uint8Array;
  readonly peerFingerprint: string;
  readonly roomSecret: boolean;
}

export interface PairInput {
  room: string;
  roomKey?: RoomKey | undefined;
  self: { peerId: string; identity: KeyPair; session: KeyPair };
  peer: { peerId: string; identityKey: string; sessionKey: string };
}

/** pairwise.ts derivePairKeys(), byte for byte. Throws E2EE_BAD_PUBLIC_KEY for unusable peer keys. */
export async function derivePairKeys(input: PairInput): Promise<PairKeys> {
  const { room, roomKey, self, peer } = input;
  if (self.peerId === peer.peerId) throw new RtcAgentError(ErrorCode.BAD_REQUEST, 'E2EE keys with oneself: self and peer have the same peer id');
  if (roomKey !== undefined && roomKey.room !== room) {
    throw new RtcAgentError(ErrorCode.INTERNAL, `room key derived for room ${JSON.stringify(roomKey.room)} used in room ${JSON.stringify(room)}`);
  }
  const peerIdentity = parsePublicKey(peer.identityKey, `peer ${peer.peerId}'s identity key`);
  const peerSession = parsePublicKey(peer.sessionKey, `peer ${peer.peerId}'s session key`);
  const selfIdentity = parsePublicKey(self.identity.publicKey);
  const selfSession = parsePublicKey(self.session.publicKey);
  if (equal(peerSession, peerIdentity) || equal(selfSession, selfIdentity)) {
    throw new RtcAgentError(ErrorCode.E2EE_BAD_PUBLIC_KEY, 'a session key must differ from its identity key');
  }
  const ikm = concat([
    await dh(self.identity.privateKey, peerIdentity, 'identity key'),
    await dh(self.session.privateKey, peerSession, 'session key'),
  ]);
  const selfIsLow = self.peerId < peer.peerId;
  const [low, high] = selfIsLow
    ? [{ id: self.peerId, ik: selfIdentity, sk: selfSession }, { id: peer.peerId, ik: peerIdentity, sk: peerSession }]
    : [{ id: peer.peerId, ik: peerIdentity, sk: peerSession }, { id: self.peerId, ik: selfIdentity, sk: selfSession }];
  const transcript = concat([field(E2EE_LABEL), field(room), field(low.id), field(high.id), field(low.ik), field(high.ik), field(low.sk), field(high.sk)]);
  const salt = roomKey?.key ?? new Uint8Array(0);
  const okm = await hkdf(ikm, salt, concat([transcript, field('keys')]), 72);
  const pairCheck = await hkdf(ikm, new Uint8Array(0), concat([transcript, field('pair-check')]), CHECK_BYTES);
  ikm.fill(0);
  const aes = (bytes: Uint8Array): Promise<CryptoKey> => subtle().importKey('raw', buf(bytes), { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
  const lowToHigh: DirectionKey = { key: await aes(okm.subarray(0, 32)), check: okm.slice(64, 68) };
  const highToLow: DirectionKey = { key: await aes(okm.subarray(32, 64)), check: okm.slice(68, 72) };
  okm.fill(0);
  return {
    room,
    selfId: self.peerId,
    peerId: peer.peerId,
    send: selfIsLow ? lowToHigh : highToLow,
    recv: selfIsLow ? highToLow : lowToHigh,
    pairCheck,
    selfHint: await recipientHint(self.peerId),
    peerHint: await recipientHint(peer.peerId),
    peerFingerprint: await fingerprint(peer.identityKey),
    roomSecret: roomKey !== undefined,
  };
}

// ------------------------------------------------------------------------------------ seal

export interface DataHeader {
  flags: number;
  epoch: number;
  seq: number;
  timestamp: number;
}
export interface UnreliableHeader {
  flags: number;
  epoch: number;
  timestamp: number;
}
export type SealTarget =
  | { kind: typeof FrameKind.Data; header: DataHeader }
  | { kind: typeof FrameKind.Unreliable; header: UnreliableHeader; counter: number };

/** seal.ts nonceFor(). */
export function nonceFor(target: SealTarget): Uint8Array<ArrayBuffer> {
  const n = new Uint8Array(12);
  const v = new DataView(n.buffer);
  if (target.kind === FrameKind.Data) {
    v.setUint32(0, 1);
    v.setUint32(4, u32(target.header.epoch, 'epoch'));
    v.setUint32(8, u32(target.header.seq, 'seq'));
  } else {
    v.setUint32(0, 2);
    writeCounter(v, 4, target.counter);
  }
  return n;
}

function aadFor(target: SealTarget, prefix: Uint8Array, sender: string, recipient: string, extra: Uint8Array | undefined): Uint8Array<ArrayBuffer> {
  const h = new Uint8Array(1 + 1 + 4 + 4 + 8);
  const v = new DataView(h.buffer);
  v.setUint8(0, target.kind);
  v.setUint8(1, target.header.flags & 0xff);
  v.setUint32(2, u32(target.header.epoch, 'epoch'));
  v.setUint32(6, target.kind === FrameKind.Data ? u32(target.header.seq, 'seq') : 0);
  v.setFloat64(10, target.header.timestamp);
  const extraBytes = extra ?? new Uint8Array(0);
  const extraLen = new Uint8Array(4);
  new DataView(extraLen.buffer).setUint32(0, extraBytes.length);
  return concat([prefix, h, field(sender), field(recipient), extraLen, extraBytes]);
}

function fail(code: ErrorCode, message: string, keys: PairKeys): RtcAgentError {
  return new RtcAgentError(code, message, { details: { peer: keys.peerId, room: keys.room } });
}

/** seal.ts sealPayload(). The caller guarantees a fresh nonce (WebPeerCipher does). */
export async function sealPayload(keys: PairKeys, target: SealTarget, plaintext: Uint8Array, extraAad?: Uint8Array): Promise<Uint8Array> {
  if ((target.header.flags & FrameFlag.Encrypted) === 0) {
    throw new RtcAgentError(ErrorCode.INTERNAL, 'sealing a frame whose flags lack FrameFlag.Encrypted');
  }
  const unreliable = target.kind === FrameKind.Unreliable;
  const prefix = new Uint8Array(PREFIX_BYTES + (unreliable ? COUNTER_BYTES : 0));
  prefix[0] = SEAL_VERSION;
  prefix.set(keys.peerHint, 1);
  prefix.set(keys.pairCheck, 1 + CHECK_BYTES);
  prefix.set(keys.send.check, 1 + 2 * CHECK_BYTES);
  if (unreliable) writeCounter(new DataView(prefix.buffer), PREFIX_BYTES, target.counter);
  const nonce = nonceFor(target);
  const aad = aadFor(target, prefix, keys.selfId, keys.peerId, extraAad);
  const body = new Uint8Array(await subtle().encrypt({ name: 'AES-GCM', iv: nonce, additionalData: aad, tagLength: GCM_TAG_BYTES * 8 }, keys.send.key, buf(plaintext)));
  return concat([prefix, body]); // body = ciphertext | tag, as the agent lays it out
}

/** seal.ts openPayload(): the same checks in the same order, the same error codes. */
export async function openPayload(
  keys: PairKeys,
  kind: typeof FrameKind.Data | typeof FrameKind.Unreliable,
  header: DataHeader | UnreliableHeader,
  sealed: Uint8Array,
  options: { replay?: ReplayWindow; extraAad?: Uint8Array } = {},
): Promise<Uint8Array> {
  const from = `frame from peer ${keys.peerId}`;
  if ((header.flags & FrameFlag.Encrypted) === 0) throw fail(ErrorCode.E2EE_PLAINTEXT, `unencrypted ${from} while E2EE is required; dropped`, keys);
  const unreliable = kind === FrameKind.Unreliable;
  const prefixBytes = PREFIX_BYTES + (unreliable ? COUNTER_BYTES : 0);
  if (sealed.length < prefixBytes + GCM_TAG_BYTES) {
    throw fail(ErrorCode.E2EE_FORGED, `sealed ${from} is truncated (${sealed.length} bytes, need at least ${prefixBytes + GCM_TAG_BYTES})`, keys);
  }
  if (sealed[0] !== SEAL_VERSION) throw fail(ErrorCode.E2EE_FORGED, `sealed ${from} has unknown format version ${sealed[0]}`, keys);
  if (!equal(sealed.subarray(1, 1 + CHECK_BYTES), keys.selfHint)) {
    throw fail(ErrorCode.E2EE_WRONG_RECIPIENT, `${from} was sealed for another recipient, not ${keys.selfId} (misrouted or redirected); dropped`, keys);
  }
  if (!equal(sealed.subarray(1 + CHECK_BYTES, 1 + 2 * CHECK_BYTES), keys.pairCheck)) {
    throw fail(
      ErrorCode.E2EE_KEY_MISMATCH,
      `${from} was sealed with other public keys than this side knows for the pair: a substituted key (MITM?) or stale keys (an earlier session); compare fingerprints; dropped`,
      keys,
    );
  }
  if (!equal(sealed.subarray(1 + 2 * CHECK_BYTES, PREFIX_BYTES), keys.recv.check)) {
    throw fail(ErrorCode.E2EE_ROOM_SECRET_MISMATCH, `${from} was sealed with a different room secret (this side has ${keys.roomSecret ? 'one' : 'none'}); dropped`, keys);
  }
  let target: SealTarget;
  let counter = 0;
  if (unreliable) {
    counter = readCounter(sealed, PREFIX_BYTES);
    if (counter > MAX_UNRELIABLE_COUNTER) throw fail(ErrorCode.E2EE_FORGED, `sealed ${from} has an impossible counter; dropped`, keys);
    const verdict = options.replay?.check(counter) ?? 'ok';
    if (verdict !== 'ok') {
      throw fail(
        ErrorCode.E2EE_REPLAY,
        verdict === 'replay' ? `${from} (counter ${counter}) was already received: replay; dropped` : `${from} (counter ${counter}) is too old to check for replay; dropped`,
        keys,
      );
    }
    target = { kind: FrameKind.Unreliable, header: header as UnreliableHeader, counter };
  } else {
    target = { kind: FrameKind.Data, header: header as DataHeader };
  }
  const aad = aadFor(target, sealed.subarray(0, prefixBytes), keys.peerId, keys.selfId, options.extraAad);
  let plaintext: Uint8Array;
  try {
    // WebCrypto verifies the tag before it returns anything: no unauthenticated plaintext escapes.
    plaintext = new Uint8Array(
      await subtle().decrypt({ name: 'AES-GCM', iv: nonceFor(target), additionalData: aad, tagLength: GCM_TAG_BYTES * 8 }, keys.recv.key, buf(sealed.subarray(prefixBytes))),
    );
  } catch {
    throw fail(ErrorCode.E2EE_FORGED, `${from} failed authentication (altered ciphertext, tag or header); dropped`, keys);
  }
  // Opens run concurrently (WebCrypto is asynchronous): the commit, not the check, is the decision.
  if (unreliable && options.replay && !options.replay.commit(counter)) {
    plaintext.fill(0);
    throw fail(ErrorCode.E2EE_REPLAY, `${from} (counter ${counter}) was already received: replay; dropped`, keys);
  }
  return plaintext;
}

// ------------------------------------------------------------------------------------ replay window

/** replay-window.ts ReplayWindow (RFC 4303 §3.4.3 bitmap). */
export class ReplayWindow {
  private readonly bits: Uint32Array;
  private highest = -1;

  constructor(readonly size = 1024) {
    if (!Number.isInteger(size) || size < 32 || size % 32 !== 0) throw new RangeError('ReplayWindow size must be a positive multiple of 32');
    this.bits = new Uint32Array(size / 32);
  }

  check(n: number): 'ok' | 'replay' | 'too-old' {
    if (!Number.isSafeInteger(n) || n < 0) return 'too-old';
    if (n > this.highest) return 'ok';
    if (this.highest - n >= this.size) return 'too-old';
    return this.has(n) ? 'replay' : 'ok';
  }

  commit(n: number): boolean {
    if (this.check(n) !== 'ok') return false;
    if (n > this.highest) {
      if (n - this.highest >= this.size) this.bits.fill(0);
      else for (let i = this.highest + 1; i < n; i++) this.flip(i, false);
      this.highest = n;
    }
    this.flip(n, true);
    return true;
  }

  private has(n: number): boolean {
    const i = n % this.size;
    return ((this.bits[i >>> 5] as number) & (1 << (i & 31))) !== 0;
  }

  private flip(n: number, on: boolean): void {
    const i = n % this.size;
    const word = this.bits[i >>> 5] as number;
    this.bits[i >>> 5] = on ? word | (1 << (i & 31)) : word & ~(1 << (i & 31));
  }
}

// ------------------------------------------------------------------------------------ per-peer cipher

/**
 * peer-cipher.ts PeerCipher for the page. Nonces are **reserved synchronously** when a seal starts
 * (before the first await), so concurrent seals can never pick the same (epoch, seq) or counter,
 * and a DATA seq is never sealed twice in one epoch, even if the caller never used the first seal.
 */
export class WebPeerCipher {
  private readonly sealedEpochs = new Map<number, number>();
  private nextCounter = 0;
  private readonly replay = new ReplayWindow();

  constructor(
    readonly keys: PairKeys,
    readonly peerIdentityKey: string,
  ) {}

  get peerId(): string {
    return this.keys.peerId;
  }

  get peerFingerprint(): string {
    return this.keys.peerFingerprint;
  }

  sealData(header: DataHeader, plaintext: Uint8Array, extraAad?: Uint8Array): Promise<Uint8Array> {
    const last = this.sealedEpochs.get(header.epoch);
    if (last !== undefined && header.seq <= last) {
      return Promise.reject(
        new RtcAgentError(ErrorCode.INTERNAL, `refusing to seal DATA seq ${header.seq} of epoch ${header.epoch} again (last sealed ${last}): nonce reuse`),
      );
    }
    this.sealedEpochs.set(header.epoch, header.seq);
    return sealPayload(this.keys, { kind: FrameKind.Data, header }, plaintext, extraAad);
  }

  openData(frame: DataHeader & { payload: Uint8Array }, extraAad?: Uint8Array): Promise<Uint8Array> {
    return openPayload(this.keys, FrameKind.Data, frame, frame.payload, extraAad === undefined ? {} : { extraAad });
  }

  sealUnreliable(header: UnreliableHeader, plaintext: Uint8Array, extraAad?: Uint8Array): Promise<Uint8Array> {
    if (this.nextCounter > MAX_UNRELIABLE_COUNTER) return Promise.reject(new RtcAgentError(ErrorCode.INTERNAL, 'unreliable nonce counter exhausted'));
    const counter = this.nextCounter++;
    return sealPayload(this.keys, { kind: FrameKind.Unreliable, header, counter }, plaintext, extraAad);
  }

  openUnreliable(frame: UnreliableHeader & { payload: Uint8Array }, extraAad?: Uint8Array): Promise<Uint8Array> {
    return openPayload(this.keys, FrameKind.Unreliable, frame, frame.payload, { replay: this.replay, ...(extraAad === undefined ? {} : { extraAad }) });
  }
}

export interface PeerE2eeKeys {
  identityKey: string;
  sessionKey: string;
}

/** peer-cipher.ts peerE2eeKeys(): undefined when the peer announces no E2EE; throws when malformed. */
export function peerE2eeKeys(capabilities: unknown): PeerE2eeKeys | undefined {
  if (typeof capabilities !== 'object' || capabilities === null) return undefined;
  const caps = capabilities as Record<string, unknown>;
  const identityKey = caps[E2EE_IDENTITY_CAPABILITY];
  const sessionKey = caps[E2EE_SESSION_CAPABILITY];
  if (identityKey === undefined && sessionKey === undefined) return undefined;
  parsePublicKey(identityKey, `capabilities.${E2EE_IDENTITY_CAPABILITY}`);
  parsePublicKey(sessionKey, `capabilities.${E2EE_SESSION_CAPABILITY}`);
  return { identityKey: identityKey as string, sessionKey: sessionKey as string };
}

export interface CipherRequest {
  room: string;
  roomKey?: RoomKey | undefined;
  selfId: string;
  peerId: string;
  peerKeys: PeerE2eeKeys;
}

/**
 * peer-cipher.ts E2eeSession: an identity plus a fresh session key, and one cached cipher per
 * (room, room key, self, peer, peer keys), so every seal under one key goes through one nonce guard.
 */
export class E2eeSession {
  private readonly ciphers = new Map<string, Promise<WebPeerCipher>>();

  private constructor(
    readonly identity: Identity,
    private readonly session: KeyPair,
  ) {}

  /** A session for `identity` (default: a fresh one) with a fresh session key. */
  static async create(identity?: Identity): Promise<E2eeSession> {
    return new E2eeSession(identity ?? (await generateIdentity()), await generateKeyPair());
  }

  get fingerprint(): string {
    return this.identity.fingerprint;
  }

  capabilities(): { e2eePublicKey: string; e2eeSessionKey: string } {
    return { e2eePublicKey: this.identity.publicKey, e2eeSessionKey: this.session.publicKey };
  }

  cipherFor(req: CipherRequest): Promise<WebPeerCipher> {
    const roomKeyId = req.roomKey === undefined ? '' : toBase64(req.roomKey.key);
    const id = JSON.stringify([req.room, roomKeyId, req.selfId, req.peerId, req.peerKeys.identityKey, req.peerKeys.sessionKey]);
    let cipher = this.ciphers.get(id);
    if (cipher === undefined) {
      cipher = derivePairKeys({
        room: req.room,
        roomKey: req.roomKey,
        self: { peerId: req.selfId, identity: this.identity, session: this.session },
        peer: { peerId: req.peerId, identityKey: req.peerKeys.identityKey, sessionKey: req.peerKeys.sessionKey },
      }).then((keys) => new WebPeerCipher(keys, req.peerKeys.identityKey));
      this.ciphers.set(id, cipher);
      cipher.catch(() => this.ciphers.delete(id));
    }
    return cipher;
  }
}

// ------------------------------------------------------------------------------------ room secret

/** room-key.ts deriveRoomKey(): scrypt(NFC(secret), "rtc-agent/e2ee/v1/room-secret\0" + room, N=2^15, r=8, p=1, 32). */
export async function deriveRoomKey(room: string, secret: string): Promise<RoomKey> {
  if (secret.length === 0) {
    throw new RtcAgentError(ErrorCode.CONFIG, 'the room secret is empty; leave it unset for no room secret', { details: { setting: 'roomSecret' } });
  }
  const { N, r, p } = ROOM_KEY_SCRYPT;
  const key = await scrypt(utf8.encode(secret.normalize('NFC')), utf8.encode(ROOM_SECRET_SALT_LABEL + room), N, r, p, 32);
  return Object.freeze({ room, key });
}

async function pbkdf2Sha256(password: Uint8Array, salt: Uint8Array, bytes: number): Promise<Uint8Array> {
  const key = await subtle().importKey('raw', buf(password), 'PBKDF2', false, ['deriveBits']);
  return new Uint8Array(await subtle().deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt: buf(salt), iterations: 1 }, key, bytes * 8));
}

/**
 * scrypt (RFC 7914): PBKDF2-HMAC-SHA256 (WebCrypto, one iteration) around scryptROMix with the
 * Salsa20/8 core in plain JS. Memory: 128·r·N bytes (32 MiB for the room key). Blocks the thread
 * for the ROMix (a few hundred ms at the room key's cost): it runs once per join.
 */
export async function scrypt(password: Uint8Array, salt: Uint8Array, N: number, r: number, p: number, dkLen: number): Promise<Uint8Array> {
  if (!Number.isInteger(N) || N < 2 || (N & (N - 1)) !== 0) throw new RangeError('scrypt N must be a power of 2 greater than 1');
  if (!Number.isInteger(r) || r < 1 || !Number.isInteger(p) || p < 1 || p * r >= 2 ** 30) throw new RangeError('scrypt r and p must be positive integers with p·r < 2^30');
  const blockWords = 32 * r;
  const b = await pbkdf2Sha256(password, salt, p * 128 * r);
  const words = new Uint32Array(p * blockWords);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < words.length; i++) words[i] = view.getUint32(i * 4, true);
  const V = new Uint32Array(blockWords * N);
  const X = new Uint32Array(blockWords);
  const Y = new Uint32Array(blockWords);
  const T = new Uint32Array(16);
  for (let i = 0; i < p; i++) {
    const Bi = words.subarray(i * blockWords, (i + 1) * blockWords);
    X.set(Bi);
    for (let j = 0; j < N; j++) {
      V.set(X, j * blockWords);
      blockMix(X, Y, T, r);
    }
    for (let j = 0; j < N; j++) {
      const k = (X[(2 * r - 1) * 16] as number) & (N - 1);
      const at = k * blockWords;
      for (let w = 0; w < blockWords; w++) X[w] = (X[w] as number) ^ (V[at + w] as number);
      blockMix(X, Y, T, r);
    }
    Bi.set(X);
  }
  V.fill(0);
  for (let i = 0; i < words.length; i++) view.setUint32(i * 4, words[i] as number, true);
  const out = await pbkdf2Sha256(password, b, dkLen);
  b.fill(0);
  words.fill(0);
  X.fill(0);
  Y.fill(0);
  return out;
}

/** scryptBlockMix with Salsa20/8, in place on B (Y is scratch of the same size, T 16 words). */
function blockMix(B: Uint32Array, Y: Uint32Array, T: Uint32Array, r: number): void {
  T.set(B.subarray((2 * r - 1) * 16, 2 * r * 16));
  for (let i = 0; i < 2 * r; i++) {
    for (let w = 0; w < 16; w++) T[w] = (T[w] as number) ^ (B[i * 16 + w] as number);
    salsa208(T);
    // Even blocks go to the first half of the output, odd ones to the second.
    Y.set(T, ((i & 1) === 0 ? i / 2 : r + (i - 1) / 2) * 16);
  }
  B.set(Y);
}

/** The Salsa20/8 core (RFC 7914 §3), in place on 16 words. */
function salsa208(B: Uint32Array): void {
  let x0 = B[0] as number, x1 = B[1] as number, x2 = B[2] as number, x3 = B[3] as number;
  let x4 = B[4] as number, x5 = B[5] as number, x6 = B[6] as number, x7 = B[7] as number;
  let x8 = B[8] as number, x9 = B[9] as number, x10 = B[10] as number, x11 = B[11] as number;
  let x12 = B[12] as number, x13 = B[13] as number, x14 = B[14] as number, x15 = B[15] as number;
  let u: number;
  for (let i = 0; i < 8; i += 2) {
    u = (x0 + x12) | 0; x4 ^= (u << 7) | (u >>> 25);
    u = (x4 + x0) | 0; x8 ^= (u << 9) | (u >>> 23);
    u = (x8 + x4) | 0; x12 ^= (u << 13) | (u >>> 19);
    u = (x12 + x8) | 0; x0 ^= (u << 18) | (u >>> 14);
    u = (x5 + x1) | 0; x9 ^= (u << 7) | (u >>> 25);
    u = (x9 + x5) | 0; x13 ^= (u << 9) | (u >>> 23);
    u = (x13 + x9) | 0; x1 ^= (u << 13) | (u >>> 19);
    u = (x1 + x13) | 0; x5 ^= (u << 18) | (u >>> 14);
    u = (x10 + x6) | 0; x14 ^= (u << 7) | (u >>> 25);
    u = (x14 + x10) | 0; x2 ^= (u << 9) | (u >>> 23);
    u = (x2 + x14) | 0; x6 ^= (u << 13) | (u >>> 19);
    u = (x6 + x2) | 0; x10 ^= (u << 18) | (u >>> 14);
    u = (x15 + x11) | 0; x3 ^= (u << 7) | (u >>> 25);
    u = (x3 + x15) | 0; x7 ^= (u << 9) | (u >>> 23);
    u = (x7 + x3) | 0; x11 ^= (u << 13) | (u >>> 19);
    u = (x11 + x7) | 0; x15 ^= (u << 18) | (u >>> 14);
    u = (x0 + x3) | 0; x1 ^= (u << 7) | (u >>> 25);
    u = (x1 + x0) | 0; x2 ^= (u << 9) | (u >>> 23);
    u = (x2 + x1) | 0; x3 ^= (u << 13) | (u >>> 19);
    u = (x3 + x2) | 0; x0 ^= (u << 18) | (u >>> 14);
    u = (x5 + x4) | 0; x6 ^= (u << 7) | (u >>> 25);
    u = (x6 + x5) | 0; x7 ^= (u << 9) | (u >>> 23);
    u = (x7 + x6) | 0; x4 ^= (u << 13) | (u >>> 19);
    u = (x4 + x7) | 0; x5 ^= (u << 18) | (u >>> 14);
    u = (x10 + x9) | 0; x11 ^= (u << 7) | (u >>> 25);
    u = (x11 + x10) | 0; x8 ^= (u << 9) | (u >>> 23);
    u = (x8 + x11) | 0; x9 ^= (u << 13) | (u >>> 19);
    u = (x9 + x8) | 0; x10 ^= (u << 18) | (u >>> 14);
    u = (x15 + x14) | 0; x12 ^= (u << 7) | (u >>> 25);
    u = (x12 + x15) | 0; x13 ^= (u << 9) | (u >>> 23);
    u = (x13 + x12) | 0; x14 ^= (u << 13) | (u >>> 19);
    u = (x14 + x13) | 0; x15 ^= (u << 18) | (u >>> 14);
  }
  B[0] = (B[0] as number) + x0; B[1] = (B[1] as number) + x1; B[2] = (B[2] as number) + x2; B[3] = (B[3] as number) + x3;
  B[4] = (B[4] as number) + x4; B[5] = (B[5] as number) + x5; B[6] = (B[6] as number) + x6; B[7] = (B[7] as number) + x7;
  B[8] = (B[8] as number) + x8; B[9] = (B[9] as number) + x9; B[10] = (B[10] as number) + x10; B[11] = (B[11] as number) + x11;
  B[12] = (B[12] as number) + x12; B[13] = (B[13] as number) + x13; B[14] = (B[14] as number) + x14; B[15] = (B[15] as number) + x15;
}
