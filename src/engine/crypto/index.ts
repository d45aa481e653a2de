/**
 * End-to-end encryption of frame payloads, one copy for Node and browsers, on WebCrypto (see
 * pairwise.ts and seal.ts for the construction, aead.ts for the one primitive a platform swaps).
 * Typical use by the engine:
 *
 *   const identity = await platform.loadIdentity();              // or generateIdentity()
 *   const e2ee = await E2eeSession.create(identity, { aead });     // once per process; Node: nodeAead
 *   Join(room, { capabilities: { native, ...e2ee.capabilities() } });
 *   const roomKey = secret ? await deriveRoomKey(room, secret, platform.scrypt) : undefined;
 *   const keys = peerE2eeKeys(participant.capabilities);           // undefined: peer has no E2EE
 *   const cipher = await e2ee.cipherFor({ room, roomKey, selfId, peerId, peerKeys: keys });
 *   switch (knownPeers.check(identityName, cipher.peerFingerprint)) { ... }  // 'changed' -> warn loudly
 *   payload = await cipher.sealData({ flags: flags | FrameFlag.Encrypted, epoch, seq, timestamp }, plaintext);
 *   plaintext = await cipher.openData(decodedFrame);              // RtcAgentError(E2EE_*)
 *
 * (`await` where the AEAD is async; with nodeAead the values come back directly: peer-cipher.ts.)
 */
export { GCM_TAG_BYTES, webCryptoAead, type Aead, type AeadKey } from './aead.js';
export {
  X25519_KEY_BYTES,
  exportIdentity,
  fingerprint,
  fingerprintsEqual,
  generateIdentity,
  generateKeyPair,
  importIdentity,
  normalizeFingerprint,
  parsePublicKey,
  type ExportedIdentity,
  type Identity,
  type KeyOptions,
  type KeyPair,
} from './identity.js';
export { MemoryKnownPeers, identityChangedError, type KnownPeer, type KnownPeers, type TrustState } from './known-peers.js';
export { CHECK_BYTES, E2EE_LABEL, derivePairKeys, recipientHint, type DirectionKey, type PairInput, type PairKeys } from './pairwise.js';
export {
  E2EE_IDENTITY_CAPABILITY,
  E2EE_SESSION_CAPABILITY,
  E2eeSession,
  PeerCipher,
  peerE2eeKeys,
  type CipherRequest,
  type E2eeSessionOptions,
  type PeerE2eeKeys,
} from './peer-cipher.js';
export { DEFAULT_REPLAY_WINDOW, ReplayWindow, type ReplayVerdict } from './replay-window.js';
export { ROOM_KEY_BYTES, ROOM_KEY_SCRYPT, deriveRoomKey, type RoomKey, type ScryptFunction, type ScryptParams } from './room-key.js';
export {
  DATA_SEAL_OVERHEAD_BYTES,
  MAX_UNRELIABLE_COUNTER,
  SEAL_VERSION,
  UNRELIABLE_SEAL_OVERHEAD_BYTES,
  nonceFor,
  openPayload,
  peekCounter,
  sealPayload,
  type DataHeader,
  type MaybePromise,
  type SealTarget,
  type UnreliableHeader,
} from './seal.js';
export type { WebCryptoKey } from './subtle.js';
