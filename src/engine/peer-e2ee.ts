/**
 * The E2EE policy towards one peer. With E2EE on, every DATA/UNRELIABLE payload to and from the
 * peer is sealed end to end: nothing is ever sent to a peer that cannot open it (one without E2EE,
 * or with unusable keys), and nothing unsealed or unopenable from it reaches the application (or
 * the reliable layer: a forged frame must not advance sequence numbers). With E2EE off, a peer
 * that announces E2EE keys gets nothing (it would drop plaintext) and its sealed frames are dropped.
 *
 * The pairwise cipher is derived asynchronously (WebCrypto) when the peer appears; sends wait for
 * it. Sealing and opening may be synchronous (Node's AEAD) or not (WebCrypto): callers handle a
 * value or a promise (see {@link MaybePromise}).
 */
import { ErrorCode, RtcAgentError } from '../errors.js';
import { FrameFlag, FrameKind, NackReason, type AckFrame, type DataFrame, type UnreliableFrame } from '../protocol/frames.js';
import type { Participant } from '../protocol/room-contract.js';
import { isPromise, type MaybePromise } from './maybe-promise.js';
import type { DataHeaderFields } from './reliable.js';

export { isPromise, type MaybePromise } from './maybe-promise.js';

/** What the session needs of a pairwise cipher (src/engine/crypto's PeerCipher). */
export interface FrameCipher {
  readonly peerFingerprint: string;
  /** A whole DATA frame: DATA_HEADER_BYTES left for the header, then the sealed payload. */
  sealDataFrame(header: DataHeaderFields, plaintext: Uint8Array): MaybePromise<Uint8Array>;
  openData(frame: DataFrame): MaybePromise<Uint8Array>;
  sealUnreliable(header: Pick<UnreliableFrame, 'flags' | 'epoch' | 'timestamp'>, plaintext: Uint8Array): MaybePromise<Uint8Array>;
  openUnreliable(frame: UnreliableFrame): MaybePromise<Uint8Array>;
  sealAck(epoch: number, ack: number): MaybePromise<Uint8Array>;
  openAck(epoch: number, ack: number, auth: Uint8Array): MaybePromise<Uint8Array>;
}

/** A frame that must not reach the application, and what to tell its sender. */
export interface Dropped {
  dropped: true;
  error: RtcAgentError;
  reason: NackReason;
}

export function isDropped(value: Uint8Array | Dropped): value is Dropped {
  return (value as Dropped).dropped === true;
}

/** What a receiver's open failure tells the sender (NACK). */
const NACK_REASON_OF: Partial<Record<string, NackReason>> = {
  [ErrorCode.E2EE_ROOM_SECRET_MISMATCH]: NackReason.RoomSecretMismatch,
  [ErrorCode.E2EE_KEY_MISMATCH]: NackReason.KeyMismatch,
  [ErrorCode.E2EE_WRONG_RECIPIENT]: NackReason.WrongRecipient,
  [ErrorCode.E2EE_FORGED]: NackReason.Forged,
  [ErrorCode.E2EE_PLAINTEXT]: NackReason.PlaintextRefused,
};

/** The error code and wording a sender reports for a receiver's NACK. */
export const NACK_MEANING: Record<NackReason, { code: ErrorCode; reason: string }> = {
  [NackReason.Unknown]: { code: ErrorCode.INTERNAL, reason: 'refused it for a reason this agent does not know (a newer version?)' },
  [NackReason.PlaintextRefused]: { code: ErrorCode.E2EE_PLAINTEXT, reason: 'requires end-to-end encryption and refused an unencrypted message' },
  [NackReason.SealedUnreadable]: { code: ErrorCode.E2EE_PLAINTEXT, reason: 'does not do end-to-end encryption and cannot read encrypted messages' },
  [NackReason.RoomSecretMismatch]: { code: ErrorCode.E2EE_ROOM_SECRET_MISMATCH, reason: 'uses a different room secret; give both the same roomSecret' },
  [NackReason.KeyMismatch]: { code: ErrorCode.E2EE_KEY_MISMATCH, reason: 'sees other E2EE keys for this pair (a substituted key, or stale keys); compare fingerprints' },
  [NackReason.WrongRecipient]: { code: ErrorCode.E2EE_WRONG_RECIPIENT, reason: 'got a message sealed for someone else (misrouted)' },
  [NackReason.Forged]: { code: ErrorCode.E2EE_FORGED, reason: 'could not authenticate a message (altered on the way?)' },
};

/** The agent's E2EE as a room uses it: ciphers for its peers. */
export interface RoomE2ee {
  /** Bytes a sealed DATA payload adds (chunks leave room for it). */
  readonly dataOverheadBytes: number;
  /**
   * The cipher for a peer; null when the peer announces no E2EE keys. Rejects with
   * E2EE_BAD_PUBLIC_KEY for unusable keys.
   */
  cipherFor(peer: Participant): Promise<FrameCipher | null>;
}

export type PeerE2eeState = 'off' | 'peer-has-none' | 'deriving' | 'ready' | 'error';

/** Why a frame was dropped, said once per peer and kind (the first one is the news). */
type Warned = 'plaintext-in' | 'sealed-in';

export class PeerE2ee {
  private cipher: FrameCipher | null = null;
  private stateValue: PeerE2eeState;
  private ready: Promise<void> | null = null;
  private errorText: string | undefined;
  private readonly warned = new Set<Warned>();
  /** Frames dropped because they were not sealed, or did not open. */
  dropped = 0;

  constructor(
    private readonly e2ee: RoomE2ee | undefined,
    private participant: Participant,
    private readonly onError: (err: RtcAgentError) => void,
    /** The peer's fingerprint became known (trust on first use is the agent's business). */
    private readonly onFingerprint: (participant: Participant, fingerprint: string) => void,
  ) {
    this.stateValue = e2ee ? 'deriving' : 'off';
    this.derive();
  }

  get state(): PeerE2eeState {
    return this.stateValue;
  }

  /** Bytes a sealed DATA payload adds (0 without E2EE). */
  get overheadBytes(): number {
    return this.e2ee?.dataOverheadBytes ?? 0;
  }

  get enabled(): boolean {
    return this.e2ee !== undefined;
  }

  get fingerprint(): string | undefined {
    return this.cipher?.peerFingerprint;
  }

  /** The peer announces E2EE keys, and so refuses plaintext. */
  get peerRequiresE2ee(): boolean {
    const key = this.participant.capabilities.e2eePublicKey;
    return typeof key === 'string' && key.length > 0;
  }

  /** Messages can go to this peer (or will, once the keys are derived). */
  get canSend(): boolean {
    if (!this.e2ee) return !this.peerRequiresE2ee;
    return this.stateValue === 'ready' || this.stateValue === 'deriving';
  }

  /** Why nothing can go to the peer, when that is so. */
  get cannotSendReason(): string | undefined {
    const who = `${this.participant.name} (${this.participant.peerId})`;
    if (!this.e2ee) return this.peerRequiresE2ee ? `${who} requires end-to-end encryption (turn on --e2ee)` : undefined;
    if (this.stateValue === 'peer-has-none') return `${who} does not support end-to-end encryption`;
    if (this.stateValue === 'error') return `${who} has unusable E2EE keys: ${this.errorText ?? 'unknown'}`;
    return undefined;
  }

  /** The peer re-announced itself; new keys mean a new cipher. */
  update(participant: Participant): void {
    const keysOf = (p: Participant): string => JSON.stringify([p.capabilities.e2eePublicKey, p.capabilities.e2eeSessionKey]);
    const changed = keysOf(participant) !== keysOf(this.participant);
    this.participant = participant;
    if (changed && this.e2ee) {
      this.cipher = null;
      this.stateValue = 'deriving';
      this.derive();
    }
  }

  private derive(): void {
    const e2ee = this.e2ee;
    if (!e2ee) return;
    const participant = this.participant;
    const derivation = e2ee.cipherFor(participant).then(
      (cipher) => {
        if (this.participant !== participant) return; // superseded by update()
        this.cipher = cipher;
        this.stateValue = cipher ? 'ready' : 'peer-has-none';
        if (cipher) this.onFingerprint(participant, cipher.peerFingerprint);
      },
      (err: unknown) => {
        if (this.participant !== participant) return;
        this.stateValue = 'error';
        this.errorText = (err as Error).message;
        this.onError(err instanceof RtcAgentError ? err : new RtcAgentError(ErrorCode.E2EE_BAD_PUBLIC_KEY, (err as Error).message));
      },
    );
    this.ready = derivation;
    void derivation.then(() => {
      if (this.ready === derivation) this.ready = null;
    });
  }

  /**
   * The cipher to seal with: null without E2EE; a promise while deriving. Throws E2EE_PLAINTEXT when
   * nothing may go to this peer (we never fall back to plaintext).
   */
  cipherForSending(): FrameCipher | null | Promise<FrameCipher | null> {
    const who = `peer ${this.participant.name} (${this.participant.peerId})`;
    if (!this.e2ee) {
      if (this.peerRequiresE2ee) throw new RtcAgentError(ErrorCode.E2EE_PLAINTEXT, `${who} requires end-to-end encryption; turn it on (--e2ee) to talk to it`);
      return null;
    }
    if (this.cipher) return this.cipher;
    if (this.stateValue === 'deriving' && this.ready) return this.ready.then(() => this.cipherForSending());
    if (this.stateValue === 'error') throw new RtcAgentError(ErrorCode.E2EE_BAD_PUBLIC_KEY, `${who} has unusable E2EE keys (${this.errorText ?? 'unknown'}); nothing is sent to it`);
    throw new RtcAgentError(ErrorCode.E2EE_PLAINTEXT, `${who} does not support end-to-end encryption; refusing to send it plaintext`);
  }

  /**
   * The plaintext of a DATA/UNRELIABLE frame, or a {@link Dropped} when it must be dropped (the
   * error is reported here: once per kind for plaintext/sealed mismatches, each time for frames that
   * fail to open). A promise when opening (or deriving the keys) is asynchronous.
   */
  open(frame: DataFrame | UnreliableFrame): MaybePromise<Uint8Array | Dropped> {
    const sealed = (frame.flags & FrameFlag.Encrypted) !== 0;
    if (!this.e2ee) {
      if (!sealed) return frame.payload;
      return this.drop('sealed-in', NackReason.SealedUnreadable, () => new RtcAgentError(ErrorCode.E2EE_PLAINTEXT, `peer ${this.participant.name} sends end-to-end encrypted messages; turn on E2EE (--e2ee) to read them`));
    }
    if (!sealed) {
      return this.drop('plaintext-in', NackReason.PlaintextRefused, () => new RtcAgentError(ErrorCode.E2EE_PLAINTEXT, `dropped unencrypted messages from ${this.participant.name}: this agent requires E2EE`));
    }
    if (!this.cipher && this.stateValue === 'deriving' && this.ready) return this.ready.then(() => this.open(frame));
    const cipher = this.cipher;
    if (!cipher) return this.failed(new RtcAgentError(ErrorCode.E2EE_KEY_MISMATCH, `no E2EE keys for ${this.participant.name} to open its message`));
    try {
      const out = frame.kind === FrameKind.Unreliable ? cipher.openUnreliable(frame) : cipher.openData(frame);
      return isPromise(out) ? out.catch((err: unknown) => this.failed(err)) : out;
    } catch (err) {
      return this.failed(err);
    }
  }

  /**
   * The `auth` for an ACK of (epoch, ack) when acks must be authenticated (E2EE with this peer);
   * null otherwise (a plain ACK).
   */
  sealAck(epoch: number, ack: number): MaybePromise<Uint8Array> | null {
    if (!this.e2ee || !this.cipher) return null;
    try {
      return this.cipher.sealAck(epoch, ack);
    } catch {
      return null;
    }
  }

  /**
   * Whether an ACK may be believed. Without E2EE, always; with it, only when its `auth` opens: a
   * hub could otherwise claim deliveries that never happened.
   */
  trustAck(frame: AckFrame): MaybePromise<boolean> {
    if (!this.e2ee) return true;
    const cipher = this.cipher;
    if (!cipher || !frame.auth) return false;
    try {
      const out = cipher.openAck(frame.epoch, frame.ack, frame.auth);
      return isPromise(out) ? out.then(() => true, () => false) : true;
    } catch {
      return false;
    }
  }

  private failed(err: unknown): Dropped {
    this.dropped++;
    const error = err instanceof RtcAgentError ? err : new RtcAgentError(ErrorCode.E2EE_FORGED, (err as Error).message);
    this.onError(new RtcAgentError(error.code, `from ${this.participant.name}: ${error.message}`));
    return { dropped: true, error, reason: NACK_REASON_OF[error.code] ?? NackReason.Unknown };
  }

  private drop(kind: Warned, reason: NackReason, error: () => RtcAgentError): Dropped {
    this.dropped++;
    const err = error();
    if (!this.warned.has(kind)) {
      this.warned.add(kind);
      this.onError(err);
    }
    return { dropped: true, error: err, reason };
  }
}
