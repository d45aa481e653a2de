/**
 * The P2P side of one peer session as a state machine (peer-path.ts): who offers (the lower peer
 * id, so a pair negotiates exactly once), the ICE timeout, retry with backoff, restarts asked for
 * by either side, and links replaced by a new negotiation. Every state change goes through
 * {@link P2PNegotiator.transition}, which tells the session (its data path may have changed).
 */
import type { IceServer, SignalPayload } from '../protocol/room-contract.js';
import { randomId } from './bytes.js';
import { DEFAULT_P2P_RETRY_BASE_MS, DEFAULT_P2P_RETRY_MAX_MS, DEFAULT_P2P_SETUP_STALL_MS, P2P_FAST_RETRIES } from './constants.js';
import type { EngineLogger } from './log.js';
import type { LinkChannel, PeerLink, PeerLinkFactory } from './peer-link.js';
import type { P2PState } from './peer-path.js';
import { unref } from './timers.js';

/** What the negotiator needs from its peer session. */
export interface NegotiatorHost {
  readonly isOfferer: boolean;
  /** Both sides can do P2P and the session is not closed. */
  p2pPossible(): boolean;
  /** Sends a signal to the peer through the hub (best effort). */
  signal(signal: SignalPayload): void;
  /** The state changed (the data path may have). */
  changed(reason: string): void;
  linkOpened(): void;
  linkFailed(): void;
  message(data: Uint8Array, channel: LinkChannel): void;
  bufferedLow(): void;
}

export class P2PNegotiator {
  private stateValue: P2PState;
  private retryAttempt = 0;
  /** Handshakes that failed after ICE had connected, since the last link that opened. */
  private fastRetries = 0;

  constructor(
    private readonly host: NegotiatorHost,
    private readonly links: PeerLinkFactory | null,
    private readonly iceServers: IceServer[],
    private readonly iceTimeoutMs: number,
    private readonly log: EngineLogger,
  ) {
    this.stateValue = host.p2pPossible() ? { kind: 'idle' } : { kind: 'unavailable' };
  }

  get state(): P2PState {
    return this.stateValue;
  }

  /** The open link, if any. */
  get openLink(): PeerLink | undefined {
    return this.stateValue.kind === 'open' ? this.stateValue.link : undefined;
  }

  private get link(): PeerLink | undefined {
    const s = this.stateValue;
    return s.kind === 'connecting' || s.kind === 'open' ? s.link : undefined;
  }

  /** The one place the state changes. */
  transition(next: P2PState, reason: string): void {
    const previous = this.stateValue;
    if (previous.kind === 'connecting' || previous.kind === 'waiting-retry') clearTimeout(previous.timer);
    this.stateValue = next;
    this.host.changed(reason);
  }

  /** The offerer offers when idle; the answerer waits for an offer. */
  maybeStart(): void {
    if (this.stateValue.kind !== 'idle' || !this.host.isOfferer || !this.host.p2pPossible()) return;
    this.open('offerer', randomId(6));
  }

  /** The peer can do P2P now (it re-announced itself). */
  becameNative(): void {
    if (this.stateValue.kind !== 'unavailable' || !this.host.p2pPossible()) return;
    this.transition({ kind: 'idle' }, 'peer can do P2P now');
    this.maybeStart();
  }

  private open(role: 'offerer' | 'answerer', sessionId: string): void {
    if (!this.links) return;
    let link: PeerLink;
    try {
      link = this.links.create({ role, sessionId, iceServers: this.iceServers });
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not create a peer connection; staying on relay');
      this.scheduleRetry('could not create a peer connection');
      return;
    }
    const current = (): boolean => this.link === link;
    let iceUp = false;
    let stall: ReturnType<typeof setTimeout> | undefined;
    link.on('signal', (signal) => {
      if (current()) this.host.signal(signal);
    });
    link.on('iceConnected', () => {
      if (!current() || this.stateValue.kind !== 'connecting') return;
      iceUp = true;
      // The peer is reachable: what is left (DTLS, SCTP) takes milliseconds here and ~1.5 s on a
      // 300 ms-RTT path. Past the bound the handshake is stuck; a fresh connection is faster.
      stall = setTimeout(() => {
        if (current() && this.stateValue.kind === 'connecting') link.close(`ICE connected but DTLS/SCTP not done within ${DEFAULT_P2P_SETUP_STALL_MS} ms`);
      }, DEFAULT_P2P_SETUP_STALL_MS);
      unref(stall);
    });
    link.on('open', () => {
      if (stall) clearTimeout(stall);
      if (!current()) return;
      this.retryAttempt = 0;
      this.fastRetries = 0;
      this.log.info({ role }, 'P2P link open');
      this.transition({ kind: 'open', link }, 'p2p link opened');
      this.host.linkOpened();
    });
    link.on('message', (data, channel) => {
      if (current()) this.host.message(data, channel);
    });
    link.on('bufferedLow', () => this.host.bufferedLow());
    link.on('close', (why) => {
      if (stall) clearTimeout(stall);
      if (!current()) return;
      const wasOpen = this.stateValue.kind === 'open';
      this.host.linkFailed();
      this.log.info({ reason: why, wasOpen, iceUp }, 'P2P link closed');
      const reason = wasOpen ? `p2p link failed: ${why}` : `p2p link did not open: ${why}`;
      // A handshake that failed (or stuck) after ICE had connected is worth retrying at once, on a
      // fresh connection: libdatachannel fails about 1 DTLS handshake in 100-300 under load
      // (native-notes.md, "DTLS handshake failures"), and waiting the backoff made meshes slow.
      const fast = !wasOpen && iceUp && this.fastRetries < P2P_FAST_RETRIES;
      if (fast) this.fastRetries++;
      if (this.host.isOfferer) {
        if (fast) {
          this.transition({ kind: 'idle' }, reason);
          this.maybeStart();
        } else this.scheduleRetry(reason);
      } else {
        this.transition(this.resting(), reason);
        // Tell the offerer which negotiation failed: it may not have noticed yet.
        if (wasOpen) this.host.signal({ type: 'restart' });
        else if (fast) this.host.signal({ type: 'restart', sessionId: link.sessionId });
      }
    });
    const timer = setTimeout(() => {
      if (this.stateValue.kind === 'connecting' && this.stateValue.link === link) {
        this.log.info({ timeoutMs: this.iceTimeoutMs }, 'P2P link did not open in time; using relay');
        link.close(`not open within ${this.iceTimeoutMs} ms`);
      }
    }, this.iceTimeoutMs);
    unref(timer);
    this.transition({ kind: 'connecting', link, since: Date.now(), timer }, role === 'offerer' ? 'offering p2p' : 'answering p2p');
    if (role === 'offerer') {
      try {
        link.start();
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'could not start P2P negotiation');
        link.close('could not start negotiation');
      }
    }
  }

  /** Where a session rests without a link. */
  private resting(): P2PState {
    return this.host.p2pPossible() ? { kind: 'idle' } : { kind: 'unavailable' };
  }

  private scheduleRetry(reason: string): void {
    if (!this.host.p2pPossible()) {
      this.transition(this.resting(), reason);
      return;
    }
    const delay = Math.min(DEFAULT_P2P_RETRY_MAX_MS, DEFAULT_P2P_RETRY_BASE_MS * 2 ** this.retryAttempt);
    this.retryAttempt++;
    this.log.debug({ delay, attempt: this.retryAttempt }, 'P2P retry scheduled');
    const timer = setTimeout(() => {
      if (this.stateValue.kind !== 'waiting-retry' || this.stateValue.timer !== timer) return;
      this.transition({ kind: 'idle' }, 'retrying p2p');
      this.maybeStart();
    }, delay);
    unref(timer);
    this.transition({ kind: 'waiting-retry', at: Date.now() + delay, timer }, reason);
  }

  /** Closes the current link (or cancels a pending retry) without the retry/restart its close would bring. */
  private drop(reason: string): void {
    const link = this.link;
    if (!link && this.stateValue.kind !== 'waiting-retry') return;
    this.transition(this.resting(), reason);
    link?.close(reason);
  }

  /** Drops the current link (the relay takes over at once) and negotiates a new one now. */
  restart(): void {
    if (!this.host.p2pPossible()) return;
    this.drop('p2p restart requested');
    this.retryAttempt = 0;
    if (this.host.isOfferer) this.maybeStart();
    else this.host.signal({ type: 'restart' });
  }

  /**
   * The session re-admits a peer we had given up on. It may still hold the link we closed (it was
   * frozen): as the offerer we offer anew anyway; as the answerer, ask the offerer for a new one.
   */
  resumed(): void {
    if (this.host.p2pPossible() && !this.host.isOfferer) this.host.signal({ type: 'restart' });
  }

  /** A description, candidate, restart or bye from the peer. */
  handleSignal(signal: SignalPayload): void {
    switch (signal.type) {
      case 'description': {
        if (signal.sdpType === 'offer') {
          if (this.host.isOfferer && this.link) return; // we offer in this pair; a stray offer is ignored
          if (!this.host.p2pPossible()) return;
          if (!this.link || this.link.sessionId !== signal.sessionId) {
            // A new negotiation replaces the old link quietly (no "restart" back: that would loop).
            this.drop('peer started a new negotiation');
            this.open('answerer', signal.sessionId ?? randomId(6));
          }
        }
        this.link?.handleSignal(signal);
        return;
      }
      case 'candidate':
        this.link?.handleSignal(signal);
        return;
      case 'restart':
        // The answerer lost a link we may not have noticed yet: negotiate afresh, now. A link still
        // connecting is already the fresh negotiation the answerer asks for — unless the answerer
        // names that very negotiation as the one that failed.
        if (!this.host.isOfferer) return;
        if (this.stateValue.kind === 'connecting' && (signal.sessionId === undefined || signal.sessionId !== this.stateValue.link.sessionId)) return;
        this.retryAttempt = 0;
        this.drop('peer asked for a new P2P link');
        this.maybeStart();
        return;
      case 'bye':
        this.drop('peer said bye');
        return;
      default:
        return;
    }
  }

  /** Ends P2P for good (the session closes). */
  close(reason: string): void {
    const link = this.link;
    this.transition({ kind: 'closed' }, reason);
    link?.close(reason);
  }
}
