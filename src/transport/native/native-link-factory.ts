/**
 * The engine's PeerLinkFactory for Node: NativeLinks over the loaded node-datachannel binding, with
 * the agent's ICE settings (bind address, port range, relay-only policy) applied to every link.
 */
import type { PeerLink, PeerLinkFactory, PeerLinkOptions } from '../../engine/peer-link.js';
import type { Logger } from '../../log/logger.js';
import type { AvailableNativeBinding } from './binding.js';
import { NativeLink } from './native-link.js';

export interface NativeLinkFactoryOptions {
  binding: AvailableNativeBinding;
  /** Bind ICE to one local address (loopback needs 127.0.0.1: native-notes.md#bindaddress-for-loopback). */
  bindAddress?: string | undefined;
  portRange?: { begin: number; end: number } | undefined;
  iceTransportPolicy: 'all' | 'relay';
  log: Logger;
}

export class NativeLinkFactory implements PeerLinkFactory {
  constructor(private readonly options: NativeLinkFactoryOptions) {}

  create(link: PeerLinkOptions): PeerLink {
    const o = this.options;
    return new NativeLink({
      binding: o.binding,
      role: link.role,
      sessionId: link.sessionId,
      iceServers: link.iceServers,
      iceTransportPolicy: o.iceTransportPolicy,
      log: o.log,
      ...(o.bindAddress !== undefined ? { bindAddress: o.bindAddress } : {}),
      ...(o.portRange !== undefined ? { portRange: o.portRange } : {}),
    });
  }
}
