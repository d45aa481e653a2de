/**
 * Trust on first use: remembers the identity fingerprint first seen for each peer identity (the
 * agent passes a stable name — a user id or peer id — never something the peer picks per session),
 * and tells a known peer that shows a different key apart, so the agent can warn loudly (use
 * {@link identityChangedError} for the message) instead of silently trusting a possible MITM.
 *
 * TOFU cannot catch an attacker present at first contact, nor a hub that presents a *new* identity
 * name; fingerprints compared out of band (`/verify`) cover those. Persistence is the platform's:
 * Node's FileKnownPeers (src/node/known-peers-file.ts) extends {@link MemoryKnownPeers}.
 */
import { ErrorCode, RtcAgentError } from '../../errors.js';
import { fingerprintsEqual, normalizeFingerprint } from './identity.js';

export type TrustState = 'new' | 'known' | 'changed';

export interface KnownPeer {
  fingerprint: string;
  /** ISO time first remembered (or last re-accepted). */
  since: string;
}

export interface KnownPeers {
  /** 'new' if `identity` was never seen, 'known' if it has this fingerprint, 'changed' if another. */
  check(identity: string, fingerprint: string): TrustState;
  get(identity: string): KnownPeer | undefined;
  /** Remembers (or, after the user accepted a change, replaces) the fingerprint of `identity`. */
  remember(identity: string, fingerprint: string): Promise<void>;
  /** Forgets `identity`; true if it was known. */
  forget(identity: string): Promise<boolean>;
}

/** The loud error for a 'changed' verdict (the agent may log it, emit it, or throw it). */
export function identityChangedError(identity: string, known: string, seen: string): RtcAgentError {
  return new RtcAgentError(
    ErrorCode.IDENTITY_CHANGED,
    `WARNING: the identity key of ${JSON.stringify(identity)} CHANGED: known fingerprint ${known}, now ${seen}. ` +
      'Someone (e.g. the hub) may be intercepting this peer, or it reinstalled. Verify the new fingerprint out of band before trusting it.',
    { details: { identity, known, seen } },
  );
}

/** In-memory known peers (for agents without a state directory, browsers, and tests). */
export class MemoryKnownPeers implements KnownPeers {
  protected readonly peers = new Map<string, KnownPeer>();

  check(identity: string, fingerprint: string): TrustState {
    const known = this.peers.get(identity);
    if (known === undefined) return 'new';
    return fingerprintsEqual(known.fingerprint, fingerprint) ? 'known' : 'changed';
  }

  get(identity: string): KnownPeer | undefined {
    const known = this.peers.get(identity);
    return known === undefined ? undefined : { ...known };
  }

  async remember(identity: string, fingerprint: string): Promise<void> {
    if (normalizeFingerprint(fingerprint).length === 0) throw new RtcAgentError(ErrorCode.INTERNAL, 'empty fingerprint');
    this.peers.set(identity, { fingerprint, since: new Date().toISOString() });
  }

  async forget(identity: string): Promise<boolean> {
    return this.peers.delete(identity);
  }
}
