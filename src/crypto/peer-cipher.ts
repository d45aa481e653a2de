/**
 * The API the agent uses: one {@link E2eeSession} per agent process (its identity plus a fresh
 * session key), and from it one {@link PeerCipher} per (room, peer) that seals and opens that
 * peer's DATA and UNRELIABLE frame payloads.
 *
 * Nonce safety is structural: keys depend on this process's session key, so they are new for every
 * E2eeSession; the session hands out exactly one PeerCipher per key (cached, never evicted: a few
 * hundred bytes per peer session seen), and the cipher refuses to seal any nonce twice. Reliable
 * resends must resend the sealed bytes kept by the reliable layer, never re-seal them.
 */
import { createHash } from 'node:crypto';
import { ErrorCode, RtcAgentError } from '../errors.js';
import { FrameKind } from '../protocol/frames.js';
import { generateKeyPair, parsePublicKey, type Identity, type KeyPair } from './identity.js';
import { derivePairKeys, type PairKeys } from './pairwise.js';
import { ReplayWindow } from './replay-window.js';
import type { RoomKey } from './room-key.js';
import { MAX_UNRELIABLE_COUNTER, openPayload, sealPayload, type DataHeader, type UnreliableHeader } from './seal.js';

/** Capability carrying the identity key (declared in room-contract.ts's Capabilities). */
export const E2EE_IDENTITY_CAPABILITY = 'e2eePublicKey';
/** Capability carrying the per-process session key (base64 X25519), announced beside the identity key. */
export const E2EE_SESSION_CAPABILITY = 'e2eeSessionKey';

/** A peer's announced E2EE keys (validated base64). */
export interface PeerE2eeKeys {
  identityKey: string;
  sessionKey: string;
}

/**
 * Reads a participant's E2EE keys from its (untrusted) capabilities: undefined when it announces
 * none (it does not do E2EE); throws E2EE_BAD_PUBLIC_KEY when they are present but malformed or
 * only one of the two is given.
 */
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

/** Seals and opens frame payloads exchanged with one peer in one room. */
export class PeerCipher {
  /** epoch -> highest DATA seq sealed in it. */
  private readonly sealedEpochs = new Map<number, number>();
  private nextCounter = 0;
  private readonly replay: ReplayWindow;

  constructor(
    readonly keys: PairKeys,
    /** The peer's identity key (base64) these keys were derived with; remember it / its fingerprint. */
    readonly peerIdentityKey: string,
    replayWindow?: number,
  ) {
    this.replay = new ReplayWindow(replayWindow);
  }

  get peerId(): string {
    return this.keys.peerId;
  }

  /** The peer's fingerprint as this side sees it: compare out of band, check with KnownPeers. */
  get peerFingerprint(): string {
    return this.keys.peerFingerprint;
  }

  /**
   * Seals a DATA frame's payload. Within one epoch, seqs must be sealed in increasing order
   * (ReliableSender numbers them that way); anything else would reuse a nonce and throws INTERNAL.
   */
  sealData(header: DataHeader, plaintext: Uint8Array, extraAad?: Uint8Array): Uint8Array {
    const last = this.sealedEpochs.get(header.epoch);
    if (last !== undefined && header.seq <= last) {
      throw new RtcAgentError(
        ErrorCode.INTERNAL,
        `refusing to reuse a nonce: epoch ${header.epoch} already sealed up to seq ${last}, asked for seq ${header.seq} (resend the kept bytes; a new sequence space needs a new epoch)`,
      );
    }
    const sealed = sealPayload(this.keys, { kind: FrameKind.Data, header }, plaintext, extraAad);
    this.sealedEpochs.set(header.epoch, header.seq);
    return sealed;
  }

  /** Opens a DATA frame (e.g. the decoded frame itself). Duplicates are the reliable layer's to drop. */
  openData(frame: DataHeader & { payload: Uint8Array }, extraAad?: Uint8Array): Uint8Array {
    return openPayload(this.keys, FrameKind.Data, frame, frame.payload, extraAad === undefined ? {} : { extraAad });
  }

  /** Seals an UNRELIABLE frame's payload under the next counter of this cipher. */
  sealUnreliable(header: UnreliableHeader, plaintext: Uint8Array, extraAad?: Uint8Array): Uint8Array {
    if (this.nextCounter > MAX_UNRELIABLE_COUNTER) throw new RtcAgentError(ErrorCode.INTERNAL, 'unreliable nonce counter exhausted');
    const sealed = sealPayload(this.keys, { kind: FrameKind.Unreliable, header, counter: this.nextCounter }, plaintext, extraAad);
    this.nextCounter++;
    return sealed;
  }

  /** Opens an UNRELIABLE frame; a replayed (or too old) one throws E2EE_REPLAY. */
  openUnreliable(frame: UnreliableHeader & { payload: Uint8Array }, extraAad?: Uint8Array): Uint8Array {
    return openPayload(this.keys, FrameKind.Unreliable, frame, frame.payload, { replay: this.replay, ...(extraAad === undefined ? {} : { extraAad }) });
  }
}

export interface CipherRequest {
  room: string;
  /** From deriveRoomKey(room, secret); omit for no room secret. */
  roomKey?: RoomKey | undefined;
  /** This agent's peer id in the room (from Join's result). */
  selfId: string;
  peerId: string;
  /** The peer's keys: from {@link peerE2eeKeys}(participant.capabilities). */
  peerKeys: PeerE2eeKeys;
}

/** One per agent process: the identity, a fresh session key, and the cipher of every peer. */
export class E2eeSession {
  private readonly session: KeyPair;
  private readonly ciphers = new Map<string, PeerCipher>();

  constructor(readonly identity: Identity) {
    this.session = generateKeyPair();
  }

  /** This agent's fingerprint (show it for `/verify`). */
  get fingerprint(): string {
    return this.identity.fingerprint;
  }

  /** What to put into Join's `capabilities`. */
  capabilities(): { e2eePublicKey: string; e2eeSessionKey: string } {
    return { [E2EE_IDENTITY_CAPABILITY]: this.identity.publicKey, [E2EE_SESSION_CAPABILITY]: this.session.publicKey } as {
      e2eePublicKey: string;
      e2eeSessionKey: string;
    };
  }

  /**
   * The cipher for one peer, derived on first use and cached: the same inputs always return the
   * same object (so its nonce guards see every seal). A peer that restarts announces a new session
   * key and so gets a new cipher. Throws E2EE_BAD_PUBLIC_KEY for unusable keys.
   */
  cipherFor(req: CipherRequest): PeerCipher {
    const roomKeyId = req.roomKey === undefined ? '' : createHash('sha256').update(req.roomKey.key).digest('hex');
    const id = JSON.stringify([req.room, roomKeyId, req.selfId, req.peerId, req.peerKeys.identityKey, req.peerKeys.sessionKey]);
    let cipher = this.ciphers.get(id);
    if (cipher === undefined) {
      const keys = derivePairKeys({
        room: req.room,
        roomKey: req.roomKey,
        self: { peerId: req.selfId, identity: this.identity, session: this.session },
        peer: { peerId: req.peerId, identityKey: req.peerKeys.identityKey, sessionKey: req.peerKeys.sessionKey },
      });
      cipher = new PeerCipher(keys, req.peerKeys.identityKey);
      this.ciphers.set(id, cipher);
    }
    return cipher;
  }
}
