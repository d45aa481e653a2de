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
import { createHash, createSecretKey, diffieHellman, hkdfSync, type KeyObject } from 'node:crypto';
import { ErrorCode, RtcAgentError } from '../errors.js';
import { fingerprint, importPublicKey, parsePublicKey, type KeyPair } from './identity.js';
import type { RoomKey } from './room-key.js';

export const E2EE_LABEL = 'rtc-agent/e2ee/v1';
/** Bytes of each diagnostic check / hint carried in a sealed payload. */
export const CHECK_BYTES = 4;

/** One direction's key. */
export interface DirectionKey {
  /** AES-256-GCM key. */
  readonly key: KeyObject;
  /** 4-byte check value carried in the clear by sealed payloads of this direction. */
  readonly check: Buffer;
}

/** Keys between self and one peer in one room, plus the public facts sealed payloads are checked against. */
export interface PairKeys {
  readonly room: string;
  readonly selfId: string;
  readonly peerId: string;
  /** self -> peer */
  readonly send: DirectionKey;
  /** peer -> self */
  readonly recv: DirectionKey;
  /** Same value at both ends when both use the same identity and session keys (independent of the room secret). */
  readonly pairCheck: Buffer;
  /** Recipient hint of self (what a frame sealed for us carries) and of the peer. */
  readonly selfHint: Buffer;
  readonly peerHint: Buffer;
  /** The peer's identity fingerprint as this side sees it (compare out of band). */
  readonly peerFingerprint: string;
  readonly roomSecret: boolean;
}

export interface PairInput {
  room: string;
  /** From {@link deriveRoomKey} for the same room; omit for no room secret. */
  roomKey?: RoomKey | undefined;
  self: { peerId: string; identity: KeyPair; session: KeyPair };
  /** The peer's keys as announced (untrusted base64, validated here). */
  peer: { peerId: string; identityKey: string; sessionKey: string };
}

function field(value: string | Buffer): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  if (bytes.length > 0xffff) throw new RtcAgentError(ErrorCode.BAD_REQUEST, 'E2EE key-derivation field longer than 65535 bytes');
  const len = Buffer.alloc(2);
  len.writeUInt16BE(bytes.length);
  return Buffer.concat([len, bytes]);
}

/**
 * The recipient hint of a peer: public (the hub knows every `to` anyway), from the peer id alone, so
 * a frame that reaches the wrong peer reads as "wrong recipient", while one that reaches the right
 * peer under other keys (a substituted key, an earlier session) reads as "key mismatch".
 */
export function recipientHint(peerId: string): Buffer {
  return createHash('sha256').update(field(`${E2EE_LABEL}/recipient`)).update(field(peerId)).digest().subarray(0, CHECK_BYTES);
}

function dh(privateKey: KeyObject, publicKey: KeyObject, what: string): Buffer {
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey, publicKey });
  } catch (err) {
    // OpenSSL refuses low-order points (an all-zero shared secret).
    throw new RtcAgentError(ErrorCode.E2EE_BAD_PUBLIC_KEY, `the peer's ${what} is unusable: ${(err as Error).message}`, { cause: err });
  }
  if (shared.every((b) => b === 0)) throw new RtcAgentError(ErrorCode.E2EE_BAD_PUBLIC_KEY, `the peer's ${what} is a low-order point`);
  return shared;
}

/** Derives the pairwise keys for self and one peer. Throws E2EE_BAD_PUBLIC_KEY for unusable peer keys. */
export function derivePairKeys(input: PairInput): PairKeys {
  const { room, roomKey, self, peer } = input;
  if (self.peerId === peer.peerId) throw new RtcAgentError(ErrorCode.BAD_REQUEST, 'E2EE keys with oneself: self and peer have the same peer id');
  if (roomKey !== undefined && roomKey.room !== room) {
    throw new RtcAgentError(ErrorCode.INTERNAL, `room key derived for room ${JSON.stringify(roomKey.room)} used in room ${JSON.stringify(room)}`);
  }
  const peerIdentity = parsePublicKey(peer.identityKey, `peer ${peer.peerId}'s identity key`);
  const peerSession = parsePublicKey(peer.sessionKey, `peer ${peer.peerId}'s session key`);
  const selfIdentity = parsePublicKey(self.identity.publicKey);
  const selfSession = parsePublicKey(self.session.publicKey);
  if (peerSession.equals(peerIdentity) || selfSession.equals(selfIdentity)) {
    throw new RtcAgentError(ErrorCode.E2EE_BAD_PUBLIC_KEY, 'a session key must differ from its identity key');
  }

  const ikm = Buffer.concat([
    dh(self.identity.privateKey, importPublicKey(peer.identityKey), 'identity key'),
    dh(self.session.privateKey, importPublicKey(peer.sessionKey), 'session key'),
  ]);
  const selfIsLow = self.peerId < peer.peerId;
  const [low, high] = selfIsLow
    ? [{ id: self.peerId, ik: selfIdentity, sk: selfSession }, { id: peer.peerId, ik: peerIdentity, sk: peerSession }]
    : [{ id: peer.peerId, ik: peerIdentity, sk: peerSession }, { id: self.peerId, ik: selfIdentity, sk: selfSession }];
  const transcript = Buffer.concat([
    field(E2EE_LABEL),
    field(room),
    field(low.id),
    field(high.id),
    field(low.ik),
    field(high.ik),
    field(low.sk),
    field(high.sk),
  ]);
  const salt = roomKey?.key ?? Buffer.alloc(0);
  const okm = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.concat([transcript, field('keys')]), 72));
  const pairCheck = Buffer.from(hkdfSync('sha256', ikm, Buffer.alloc(0), Buffer.concat([transcript, field('pair-check')]), CHECK_BYTES));
  ikm.fill(0);
  const lowToHigh: DirectionKey = { key: createSecretKey(okm.subarray(0, 32)), check: Buffer.from(okm.subarray(64, 68)) };
  const highToLow: DirectionKey = { key: createSecretKey(okm.subarray(32, 64)), check: Buffer.from(okm.subarray(68, 72)) };
  okm.fill(0); // createSecretKey copied the bytes
  return {
    room,
    selfId: self.peerId,
    peerId: peer.peerId,
    send: selfIsLow ? lowToHigh : highToLow,
    recv: selfIsLow ? highToLow : lowToHigh,
    pairCheck,
    selfHint: recipientHint(self.peerId),
    peerHint: recipientHint(peer.peerId),
    peerFingerprint: fingerprint(peer.identityKey),
    roomSecret: roomKey !== undefined,
  };
}
