/**
 * End-to-end encryption of frame payloads (see pairwise.ts and seal.ts for the construction).
 * Typical use by the agent:
 *
 *   const identity = await loadOrCreateIdentity(file);            // or generateIdentity()
 *   const e2ee = new E2eeSession(identity);                         // once per process
 *   Join(room, { capabilities: { native, ...e2ee.capabilities() } });
 *   const roomKey = secret ? await deriveRoomKey(room, secret) : undefined;
 *   const keys = peerE2eeKeys(participant.capabilities);            // undefined: peer has no E2EE
 *   const cipher = e2ee.cipherFor({ room, roomKey, selfId, peerId, peerKeys: keys });
 *   switch (knownPeers.check(identityName, cipher.peerFingerprint)) { ... }  // 'changed' -> warn loudly
 *   payload = cipher.sealData({ flags: flags | FrameFlag.Encrypted, epoch, seq, timestamp }, plaintext);
 *   plaintext = cipher.openData(decodedFrame);                     // throws RtcAgentError(E2EE_*)
 */
export {
  X25519_KEY_BYTES,
  fingerprint,
  fingerprintsEqual,
  generateIdentity,
  generateKeyPair,
  importPublicKey,
  loadOrCreateIdentity,
  normalizeFingerprint,
  parsePublicKey,
  publicKeyBase64,
  type Identity,
  type KeyPair,
} from './identity.js';
export { FileKnownPeers, MemoryKnownPeers, identityChangedError, type KnownPeer, type KnownPeers, type TrustState } from './known-peers.js';
export { CHECK_BYTES, E2EE_LABEL, derivePairKeys, recipientHint, type DirectionKey, type PairInput, type PairKeys } from './pairwise.js';
export {
  E2EE_IDENTITY_CAPABILITY,
  E2EE_SESSION_CAPABILITY,
  E2eeSession,
  PeerCipher,
  peerE2eeKeys,
  type CipherRequest,
  type PeerE2eeKeys,
} from './peer-cipher.js';
export { DEFAULT_REPLAY_WINDOW, ReplayWindow, type ReplayVerdict } from './replay-window.js';
export { ROOM_KEY_SCRYPT, deriveRoomKey, type RoomKey } from './room-key.js';
export {
  DATA_SEAL_OVERHEAD_BYTES,
  GCM_TAG_BYTES,
  MAX_UNRELIABLE_COUNTER,
  SEAL_VERSION,
  UNRELIABLE_SEAL_OVERHEAD_BYTES,
  nonceFor,
  openPayload,
  peekCounter,
  sealPayload,
  type DataHeader,
  type SealTarget,
  type UnreliableHeader,
} from './seal.js';
