/**
 * The API the engine uses: one {@link E2eeSession} per agent process (its identity plus a fresh
 * session key), and from it one {@link PeerCipher} per (room, peer) that seals and opens that
 * peer's DATA and UNRELIABLE frame payloads.
 *
 * Nonce safety is structural: keys depend on this process's session key, so they are new for every
 * E2eeSession; the session hands out exactly one PeerCipher per key (cached, never evicted: a few
 * hundred bytes per peer session seen), and the cipher refuses to seal any nonce twice. Reliable
 * resends must resend the sealed bytes kept by the reliable layer, never re-seal them.
 *
 * Sync or async, and how errors come back: a PeerCipher's seal/open returns a Uint8Array when its
 * AEAD is synchronous (Node's nodeAead) and a Promise when it is not (webCryptoAead). Every check
 * that needs no AEAD runs at call time and **throws** (a bad header, nonce reuse, the E2EE_* codes
 * of the cleartext prefix, a replay already in the window); a returned Promise **rejects** only
 * with what the AEAD decides: E2EE_FORGED for a failed tag, E2EE_REPLAY when an overlapping open of
 * the same counter won. Nonces — the DATA (epoch, seq) guard and the UNRELIABLE counter — are
 * reserved synchronously at call time, so two seals in a row get distinct nonces in call order
 * even while the first is still in flight.
 */
import { ErrorCode, RtcAgentError } from '../../errors.js';
import { DATA_HEADER_BYTES, FrameFlag, FrameKind } from '../../protocol/frames.js';
import { toBase64 } from '../bytes.js';
import { webCryptoAead, type Aead } from './aead.js';
import { generateKeyPair, parsePublicKey, type Identity, type KeyPair } from './identity.js';
import { derivePairKeys, type PairKeys } from './pairwise.js';
import { ReplayWindow } from './replay-window.js';
import type { RoomKey } from './room-key.js';
import { MAX_UNRELIABLE_COUNTER, openPayload, sealPayload, type DataHeader, type MaybePromise, type UnreliableHeader } from './seal.js';

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

function nonceReuse(message: string): RtcAgentError {
  return new RtcAgentError(ErrorCode.INTERNAL, `refusing to reuse a nonce: ${message}`);
}

/** Seals and opens frame payloads exchanged with one peer in one room (see the file comment for sync/async). */
export class PeerCipher {
  /** epoch -> highest DATA seq sealed (or being sealed) in it. */
  readonly #sealedEpochs = new Map<number, number>();
  #nextCounter = 0;
  readonly #replay: ReplayWindow;

  constructor(
    readonly keys: PairKeys,
    /** The peer's identity key (base64) these keys were derived with; remember it / its fingerprint. */
    readonly peerIdentityKey: string,
    replayWindow?: number,
  ) {
    this.#replay = new ReplayWindow(replayWindow);
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
   * (the reliable sender numbers them that way); anything else would reuse a nonce and throws INTERNAL.
   */
  sealData(header: DataHeader, plaintext: Uint8Array, extraAad?: Uint8Array): MaybePromise<Uint8Array> {
    return this.#sealData(header, plaintext, extraAad, 0);
  }

  /**
   * {@link sealData} straight into a whole DATA frame: DATA_HEADER_BYTES of zeros for the caller's
   * header (protocol/frames.ts writeDataHeader), then the sealed payload — one copy fewer per frame.
   */
  sealDataFrame(header: DataHeader, plaintext: Uint8Array): MaybePromise<Uint8Array> {
    return this.#sealData(header, plaintext, undefined, DATA_HEADER_BYTES);
  }

  #sealData(header: DataHeader, plaintext: Uint8Array, extraAad: Uint8Array | undefined, headroom: number): MaybePromise<Uint8Array> {
    if ((header.flags & FrameFlag.Encrypted) === 0) throw new RtcAgentError(ErrorCode.INTERNAL, 'sealing a frame whose flags lack FrameFlag.Encrypted');
    const last = this.#sealedEpochs.get(header.epoch);
    if (last !== undefined && header.seq <= last) {
      throw nonceReuse(
        `epoch ${header.epoch} already sealed up to seq ${last}, asked for seq ${header.seq} (resend the kept bytes; a new sequence space needs a new epoch)`,
      );
    }
    // Recorded before this returns, even when the AEAD's answer is still pending (and kept if that
    // answer is a failure): a seq is never offered twice.
    const sealed = sealPayload(this.keys, { kind: FrameKind.Data, header }, plaintext, extraAad, headroom);
    this.#sealedEpochs.set(header.epoch, header.seq);
    return sealed;
  }

  /** Opens a DATA frame (e.g. the decoded frame itself). Duplicates are the reliable layer's to drop. */
  openData(frame: DataHeader & { payload: Uint8Array }, extraAad?: Uint8Array): MaybePromise<Uint8Array> {
    return openPayload(this.keys, FrameKind.Data, frame, frame.payload, { extraAad });
  }

  /** Seals an UNRELIABLE frame's payload under the next counter of this cipher. */
  sealUnreliable(header: UnreliableHeader, plaintext: Uint8Array, extraAad?: Uint8Array): MaybePromise<Uint8Array> {
    if (this.#nextCounter > MAX_UNRELIABLE_COUNTER) throw nonceReuse('unreliable nonce counter exhausted');
    const sealed = sealPayload(this.keys, { kind: FrameKind.Unreliable, header, counter: this.#nextCounter }, plaintext, extraAad);
    this.#nextCounter++;
    return sealed;
  }

  /**
   * Authenticates an ACK: a seal of nothing, under the UNRELIABLE counter space, with the acked
   * (epoch, ack) as extra AAD — so a hub cannot make up an ack (claim a delivery), and an ack can
   * pass neither for an UNRELIABLE frame nor for another ack (each counter opens once).
   */
  sealAck(epoch: number, ack: number): MaybePromise<Uint8Array> {
    return this.sealUnreliable({ flags: FrameFlag.Encrypted, epoch, timestamp: 0 }, EMPTY, ackAad(epoch, ack));
  }

  /** Checks an ACK's `auth`; the value is empty plaintext, what matters is that it opened. */
  openAck(epoch: number, ack: number, auth: Uint8Array): MaybePromise<Uint8Array> {
    return this.openUnreliable({ flags: FrameFlag.Encrypted, epoch, timestamp: 0, payload: auth }, ackAad(epoch, ack));
  }

  /** Opens an UNRELIABLE frame; a replayed (or too old) one fails with E2EE_REPLAY. */
  openUnreliable(frame: UnreliableHeader & { payload: Uint8Array }, extraAad?: Uint8Array): MaybePromise<Uint8Array> {
    return openPayload(this.keys, FrameKind.Unreliable, frame, frame.payload, { replay: this.#replay, extraAad });
  }
}

export interface CipherRequest {
  room: string;
  /** From deriveRoomKey(room, secret, scrypt); omit for no room secret. */
  roomKey?: RoomKey | undefined;
  /** This agent's peer id in the room (from Join's result). */
  selfId: string;
  peerId: string;
  /** The peer's keys: from {@link peerE2eeKeys}(participant.capabilities). */
  peerKeys: PeerE2eeKeys;
}

export interface E2eeSessionOptions {
  /** The AES-256-GCM implementation; default {@link webCryptoAead}. Node passes nodeAead (src/node). */
  aead?: Aead;
  /** Replay window of each cipher's UNRELIABLE counters (a multiple of 32; default DEFAULT_REPLAY_WINDOW). */
  replayWindow?: number;
}

/** One per agent process: the identity, a fresh session key, and the cipher of every peer. */
export class E2eeSession {
  readonly #ciphers = new Map<string, Promise<PeerCipher>>();

  private constructor(
    readonly identity: Identity,
    private readonly session: KeyPair,
    readonly aead: Aead,
    private readonly replayWindow: number | undefined,
  ) {}

  /** A session for `identity` with a fresh (non-extractable) session key. */
  static async create(identity: Identity, options: E2eeSessionOptions = {}): Promise<E2eeSession> {
    return new E2eeSession(identity, await generateKeyPair(), options.aead ?? webCryptoAead, options.replayWindow);
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
   * same object (so its nonce guards see every seal), even for calls made while the first
   * derivation runs. A peer that restarts announces a new session key and so gets a new cipher.
   * Rejects with E2EE_BAD_PUBLIC_KEY for unusable keys (and forgets the failure).
   */
  cipherFor(req: CipherRequest): Promise<PeerCipher> {
    // The room key by content: two derivations of one secret must share one cipher (and its guards).
    const roomKeyId = req.roomKey === undefined ? '' : toBase64(req.roomKey.key);
    const id = JSON.stringify([req.room, roomKeyId, req.selfId, req.peerId, req.peerKeys.identityKey, req.peerKeys.sessionKey]);
    let cipher = this.#ciphers.get(id);
    if (cipher === undefined) {
      const input = {
        room: req.room,
        roomKey: req.roomKey,
        self: { peerId: req.selfId, identity: this.identity, session: this.session },
        peer: { peerId: req.peerId, identityKey: req.peerKeys.identityKey, sessionKey: req.peerKeys.sessionKey },
      };
      cipher = derivePairKeys(input, this.aead).then((keys) => new PeerCipher(keys, req.peerKeys.identityKey, this.replayWindow));
      this.#ciphers.set(id, cipher);
      cipher.catch(() => this.#ciphers.delete(id));
    }
    return cipher;
  }
}

const EMPTY = new Uint8Array(0);

/** The extra AAD of an ACK's seal: a label, then the acked epoch and cumulative ack. */
function ackAad(epoch: number, ack: number): Uint8Array {
  const out = new Uint8Array(3 + 8);
  out.set([0x61, 0x63, 0x6b]); // "ack"
  const v = new DataView(out.buffer);
  v.setUint32(3, epoch >>> 0);
  v.setUint32(7, ack >>> 0);
  return out;
}
