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
import { FrameFlag, FrameKind, type DataFrame, type UnreliableFrame } from '../protocol/frames.js';
import type { Participant } from '../protocol/room-contract.js';
import type { DataHeaderFields } from './reliable.js';

export type MaybePromise<T> = T | Promise<T>;

export function isPromise<T>(value: MaybePromise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** What the session needs of a pairwise cipher (src/engine/crypto's PeerCipher). */
export interface FrameCipher {
  readonly peerFingerprint: string;
  sealData(header: DataHeaderFields, plaintext: Uint8Array): MaybePromise<Uint8Array>;
  openData(frame: DataFrame): MaybePromise<Uint8Array>;
  sealUnreliable(header: Pick<UnreliableFrame, 'flags' | 'epoch' | 'timestamp'>, plaintext: Uint8Array): MaybePromise<Uint8Array>;
  openUnreliable(frame: UnreliableFrame): MaybePromise<Uint8Array>;
}

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
   * The plaintext of a DATA/UNRELIABLE frame, or undefined when it must be dropped (reported once).
   * A promise when opening (or deriving the keys) is asynchronous.
   */
  open(frame: DataFrame | UnreliableFrame): MaybePromise<Uint8Array | undefined> {
    const sealed = (frame.flags & FrameFlag.Encrypted) !== 0;
    if (!this.e2ee) {
      if (!sealed) return frame.payload;
      this.drop('sealed-in', () => new RtcAgentError(ErrorCode.E2EE_PLAINTEXT, `peer ${this.participant.name} sends end-to-end encrypted messages; turn on E2EE (--e2ee) to read them`));
      return undefined;
    }
    if (!sealed) {
      this.drop('plaintext-in', () => new RtcAgentError(ErrorCode.E2EE_PLAINTEXT, `dropped unencrypted messages from ${this.participant.name}: this agent requires E2EE`));
      return undefined;
    }
    if (!this.cipher && this.stateValue === 'deriving' && this.ready) return this.ready.then(() => this.open(frame));
    const cipher = this.cipher;
    if (!cipher) {
      this.failed(new RtcAgentError(ErrorCode.E2EE_KEY_MISMATCH, `no E2EE keys for ${this.participant.name} to open its message`));
      return undefined;
    }
    try {
      const out = frame.kind === FrameKind.Unreliable ? cipher.openUnreliable(frame) : cipher.openData(frame);
      return isPromise(out) ? out.catch((err: unknown) => this.failed(err)) : out;
    } catch (err) {
      return this.failed(err);
    }
  }

  private failed(err: unknown): undefined {
    this.dropped++;
    const error = err instanceof RtcAgentError ? err : new RtcAgentError(ErrorCode.E2EE_FORGED, (err as Error).message);
    this.onError(new RtcAgentError(error.code, `from ${this.participant.name}: ${error.message}`));
    return undefined;
  }

  private drop(kind: Warned, error: () => RtcAgentError): void {
    this.dropped++;
    if (this.warned.has(kind)) return;
    this.warned.add(kind);
    this.onError(error());
  }
}
