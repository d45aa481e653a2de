/**
 * Pairwise keys between this agent and one peer in one room.
 *
 *   ikm  = X25519(selfIdentity, peerIdentity) || X25519(selfSession, peerSession)
 *   T    = "rtc-agent/e2ee/v1" | room | lowId | highId | lowIdentity | highIdentity | lowSession | highSession
 *          (each field u16-length-prefixed; low/high = the two peer ids in code-unit order, so both
 *          ends build the same T)
 *   keys = HKDF-SHA256(ikm, salt = roomKey or none, info = T | "keys") -> 72 bytes:
 *          AES-256 key low->high | AES-256 key high->low | key check low->high (4) | key check high->low (4)
 *   pair check = HKDF-SHA256(ikm, salt = none, info = T | "pair-check") -> 4 bytes
 *   recipient hint(X) = SHA-256("rtc-agent/e2ee/v1/recipient" | X.peerId)[0..4]   (u16-length-prefixed fields)
 *
 * Why a session key beside the identity key (a change from "static X25519 only"): with static keys
 * alone, every session between the same two agents in the same room derives the **same** AES keys,
 * and nonces are bound to (epoch, seq) where the epoch is only a random u32. Two sessions would
 * reuse nonces with probability ~n^2/2^33, which breaks GCM completely (keystream and auth-key
 * recovery), and a hub could replay a recorded old session to a restarted peer. A fresh X25519
 * session key per process makes every process-pair's keys fresh (and gives forward secrecy for
 * past sessions), while the static-static term keeps the keys bound to the fingerprinted identity
 * keys: swapping session keys only breaks the link (the hub can always drop traffic anyway).
 *
 * MITM: a hub that substitutes its own identity key for both sides' CAN read and inject when no
 * room secret is set — the endpoints then see the hub's fingerprint instead of each other's, which
 * is what fingerprint comparison (`/verify`) and the known-peers store detect. With a room secret
 * the hub cannot derive either side's keys, so both ends fail to open its frames. A room member
 * colluding with the hub knows the room secret, so against members only fingerprints help.
 *
 * The checks are diagnostics only (authenticity comes from the GCM tag): they let a receiver say
 * "wrong recipient", "room secret differs" or "keys differ" instead of one opaque failure. They are
 * separate HKDF outputs, so they reveal nothing about the AES keys, and a passive hub without ikm
 * cannot compute them, so the key check gives it no oracle for room-secret guesses.
 */
import { ErrorCode, RtcAgentError } from '../../errors.js';
import { bytesEqual, concatBytes, utf8Encode } from '../bytes.js';
import { webCryptoAead, type Aead, type AeadKey } from './aead.js';
import { fingerprint, parsePublicKey, type KeyPair } from './identity.js';
import type { RoomKey } from './room-key.js';
import { sha256, subtle, type WebCryptoKey } from './subtle.js';

export const E2EE_LABEL = 'rtc-agent/e2ee/v1';
/** Bytes of each diagnostic check / hint carried in a sealed payload. */
export const CHECK_BYTES = 4;
const AES_KEY_BYTES = 32;

/** One direction's key. */
export interface DirectionKey {
  /** AES-256-GCM key, in the form of the AEAD the keys were derived for. */
  readonly key: AeadKey;
  /** 4-byte check value carried in the clear by sealed payloads of this direction. */
  readonly check: Uint8Array;
}

/** Keys between self and one peer in one room, plus the public facts sealed payloads are checked against. */
export interface PairKeys {
  readonly room: string;
  readonly selfId: string;
  readonly peerId: string;
  /** The AEAD `send.key` and `recv.key` belong to. */
  readonly aead: Aead;
  /** self -> peer */
  readonly send: DirectionKey;
  /** peer -> self */
  readonly recv: DirectionKey;
  /** Same value at both ends when both use the same identity and session keys (independent of the room secret). */
  readonly pairCheck: Uint8Array;
  /** Recipient hint of self (what a frame sealed for us carries) and of the peer. */
  readonly selfHint: Uint8Array;
  readonly peerHint: Uint8Array;
  /** The peer's identity fingerprint as this side sees it (compare out of band). */
  readonly peerFingerprint: string;
  readonly roomSecret: boolean;
  /** field(selfId) | field(peerId): the sender and recipient of a seal's AAD, encoded once. */
  readonly sendIds: Uint8Array;
  /** field(peerId) | field(selfId): the same for an open. */
  readonly recvIds: Uint8Array;
}

export interface PairInput {
  room: string;
  /** From deriveRoomKey for the same room; omit for no room secret. */
  roomKey?: RoomKey | undefined;
  self: { peerId: string; identity: KeyPair; session: KeyPair };
  /** The peer's keys as announced (untrusted base64, validated here). */
  peer: { peerId: string; identityKey: string; sessionKey: string };
}

/** A u16-length-prefixed field (UTF-8 for strings), the unit of transcripts and AADs. */
export function field(value: string | Uint8Array): Uint8Array {
  const bytes = typeof value === 'string' ? utf8Encode(value) : value;
  if (bytes.length > 0xffff) throw new RtcAgentError(ErrorCode.BAD_REQUEST, 'E2EE key-derivation field longer than 65535 bytes');
  const out = new Uint8Array(2 + bytes.length);
  out[0] = bytes.length >>> 8;
  out[1] = bytes.length & 0xff;
  out.set(bytes, 2);
  return out;
}

/**
 * The recipient hint of a peer: public (the hub knows every `to` anyway), from the peer id alone, so
 * a frame that reaches the wrong peer reads as "wrong recipient", while one that reaches the right
 * peer under other keys (a substituted key, an earlier session) reads as "key mismatch".
 */
export async function recipientHint(peerId: string): Promise<Uint8Array> {
  return (await sha256(concatBytes([field(`${E2EE_LABEL}/recipient`), field(peerId)]))).slice(0, CHECK_BYTES);
}

async function dh(privateKey: WebCryptoKey, peerRaw: Uint8Array, what: string): Promise<Uint8Array> {
  let shared: Uint8Array;
  try {
    const publicKey = await subtle().importKey('raw', peerRaw, { name: 'X25519' }, true, []);
    shared = new Uint8Array(await subtle().deriveBits({ name: 'X25519', public: publicKey }, privateKey, 256));
  } catch (err) {
    // WebCrypto refuses low-order points (an all-zero shared secret) with an OperationError.
    throw new RtcAgentError(ErrorCode.E2EE_BAD_PUBLIC_KEY, `the peer's ${what} is unusable: ${(err as Error).message}`, { cause: err });
  }
  // Belt and braces: an implementation that does not refuse them must not give us a zero key.
  if (shared.every((b) => b === 0)) throw new RtcAgentError(ErrorCode.E2EE_BAD_PUBLIC_KEY, `the peer's ${what} is a low-order point`);
  return shared;
}

async function hkdf(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, bytes: number): Promise<Uint8Array> {
  const key = await subtle().importKey('raw', ikm, 'HKDF', false, ['deriveBits']);
  return new Uint8Array(await subtle().deriveBits({ name: 'HKDF', hash: 'SHA-256', salt, info }, key, bytes * 8));
}

/**
 * Derives the pairwise keys for self and one peer, with AES keys for `aead` (default WebCrypto's).
 * Rejects with E2EE_BAD_PUBLIC_KEY for unusable peer keys, BAD_REQUEST for a pair with oneself.
 */
export async function derivePairKeys(input: PairInput, aead: Aead = webCryptoAead): Promise<PairKeys> {
  const { room, roomKey, self, peer } = input;
  if (self.peerId === peer.peerId) throw new RtcAgentError(ErrorCode.BAD_REQUEST, 'E2EE keys with oneself: self and peer have the same peer id');
  if (roomKey !== undefined && roomKey.room !== room) {
    throw new RtcAgentError(ErrorCode.INTERNAL, `room key derived for room ${JSON.stringify(roomKey.room)} used in room ${JSON.stringify(room)}`);
  }
  const peerIdentity = parsePublicKey(peer.identityKey, `peer ${peer.peerId}'s identity key`);
  const peerSession = parsePublicKey(peer.sessionKey, `peer ${peer.peerId}'s session key`);
  const selfIdentity = parsePublicKey(self.identity.publicKey);
  const selfSession = parsePublicKey(self.session.publicKey);
  if (bytesEqual(peerSession, peerIdentity) || bytesEqual(selfSession, selfIdentity)) {
    throw new RtcAgentError(ErrorCode.E2EE_BAD_PUBLIC_KEY, 'a session key must differ from its identity key');
  }

  const ikm = concatBytes([
    await dh(self.identity.privateKey, peerIdentity, 'identity key'),
    await dh(self.session.privateKey, peerSession, 'session key'),
  ]);
  const selfIsLow = self.peerId < peer.peerId;
  const [low, high] = selfIsLow
    ? [{ id: self.peerId, ik: selfIdentity, sk: selfSession }, { id: peer.peerId, ik: peerIdentity, sk: peerSession }]
    : [{ id: peer.peerId, ik: peerIdentity, sk: peerSession }, { id: self.peerId, ik: selfIdentity, sk: selfSession }];
  const transcript = concatBytes([field(E2EE_LABEL), field(room), field(low.id), field(high.id), field(low.ik), field(high.ik), field(low.sk), field(high.sk)]);
  const salt = roomKey?.key ?? new Uint8Array(0);
  let okm: Uint8Array | undefined;
  try {
    okm = await hkdf(ikm, salt, concatBytes([transcript, field('keys')]), 2 * AES_KEY_BYTES + 2 * CHECK_BYTES);
    const pairCheck = await hkdf(ikm, new Uint8Array(0), concatBytes([transcript, field('pair-check')]), CHECK_BYTES);
    const lowToHigh: DirectionKey = { key: await aead.importKey(okm.subarray(0, AES_KEY_BYTES)), check: okm.slice(64, 68) };
    const highToLow: DirectionKey = { key: await aead.importKey(okm.subarray(AES_KEY_BYTES, 2 * AES_KEY_BYTES)), check: okm.slice(68, 72) };
    return {
      room,
      selfId: self.peerId,
      peerId: peer.peerId,
      aead,
      send: selfIsLow ? lowToHigh : highToLow,
      recv: selfIsLow ? highToLow : lowToHigh,
      pairCheck,
      selfHint: await recipientHint(self.peerId),
      peerHint: await recipientHint(peer.peerId),
      peerFingerprint: await fingerprint(peer.identityKey),
      roomSecret: roomKey !== undefined,
      sendIds: concatBytes([field(self.peerId), field(peer.peerId)]),
      recvIds: concatBytes([field(peer.peerId), field(self.peerId)]),
    };
  } finally {
    // The AEADs copied the key bytes; the shared secrets have no further use.
    ikm.fill(0);
    okm?.fill(0);
  }
}
