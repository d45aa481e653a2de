/**
 * The engine's PeerLinkFactory for browsers: BrowserLinks over the page's RTCPeerConnection, with
 * the agent's ICE policy applied to every link.
 */
import type { EngineLogger } from '../../engine/log.js';
import type { PeerLink, PeerLinkFactory, PeerLinkOptions } from '../../engine/peer-link.js';
import { BrowserLink } from './browser-link.js';

export interface BrowserLinkFactoryOptions {
  /** `relay`: TURN only (needs a TURN server among the ICE servers). */
  iceTransportPolicy?: 'all' | 'relay';
  log: EngineLogger;
  /** The RTCPeerConnection class; the global one by default. */
  peerConnection?: typeof RTCPeerConnection;
}

export class BrowserLinkFactory implements PeerLinkFactory {
  constructor(private readonly options: BrowserLinkFactoryOptions) {}

  /** Whether this page can make links at all (a browser without WebRTC relays everything). */
  static available(peerConnection: unknown = (globalThis as { RTCPeerConnection?: unknown }).RTCPeerConnection): boolean {
    return typeof peerConnection === 'function';
  }

  create(link: PeerLinkOptions): PeerLink {
    return new BrowserLink({ ...link, ...this.options });
  }
}
