/**
 * The P2P side of a peer session as one state type (not a combination of fields), and the data
 * path that follows from it: `p2p` when a link is open, otherwise `relay` (or `none` when the relay
 * is not allowed). Every change goes through PeerSession's one `transition()`.
 */
import type { PeerLink } from './peer-link.js';

export type P2PState =
  /** This agent or the peer cannot do P2P (no native binding / RTCPeerConnection): relay only. */
  | { kind: 'unavailable' }
  /** No link: the offerer is about to offer, or the answerer waits for an offer. */
  | { kind: 'idle' }
  /** A link is negotiating; the relay carries the traffic meanwhile. */
  | { kind: 'connecting'; link: PeerLink; since: number; timer: ReturnType<typeof setTimeout> }
  | { kind: 'open'; link: PeerLink }
  /** The last attempt failed; the offerer tries again at `at` (backoff). */
  | { kind: 'waiting-retry'; at: number; timer: ReturnType<typeof setTimeout> }
  /** The session ended. */
  | { kind: 'closed' };

/** What carries a peer's traffic now. */
export type PeerPath = 'p2p' | 'relay' | 'none';

/** The P2P state as peers() reports it. */
export type P2PView = 'none' | 'connecting' | 'open' | 'waiting-retry';

export function p2pView(state: P2PState): P2PView {
  switch (state.kind) {
    case 'connecting':
    case 'open':
    case 'waiting-retry':
      return state.kind;
    default:
      return 'none';
  }
}
