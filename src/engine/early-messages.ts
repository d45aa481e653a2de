/**
 * Messages a P2P link receives before it is open. A link is open once both of its channels are;
 * the peer may already be sending on one of them (the answerer's channels arrive open, and its
 * first frame can overtake the offerer's open event for the other channel). Dropping such a
 * message stalls it until the sender's P2P resend (seconds), or loses it when the sender closes
 * first, so links hold them and hand them out, in order, right after `open`.
 */
import { DEFAULT_SEND_WINDOW_BYTES } from './constants.js';
import type { LinkChannel } from './peer-link.js';

/**
 * Twice the engine's send window: a peer that honours the window never comes near it with
 * reliable frames (it needs our acks to send more, and a held frame is acked only once
 * delivered). Past it a link drops unreliable messages, as a lost datagram would be, and fails on
 * a reliable one: that peer is not an agent.
 */
export const DEFAULT_EARLY_MESSAGES_MAX_BYTES = 2 * DEFAULT_SEND_WINDOW_BYTES;

export class EarlyMessages {
  #held: { data: Uint8Array; channel: LinkChannel }[] = [];
  #bytes = 0;

  constructor(readonly maxBytes: number = DEFAULT_EARLY_MESSAGES_MAX_BYTES) {}

  /**
   * Keeps `data` for {@link release}. Past the bound it keeps nothing more: an unreliable message
   * is dropped (true, as if lost on the way), a reliable one returns false and the link must fail
   * with {@link overflowReason}.
   */
  hold(data: Uint8Array, channel: LinkChannel): boolean {
    if (this.#bytes + data.byteLength > this.maxBytes) return channel === 'unreliable';
    this.#bytes += data.byteLength;
    this.#held.push({ data, channel });
    return true;
  }

  /** Why a link fails when {@link hold} refused a reliable message. */
  get overflowReason(): string {
    return `the peer sent more than ${this.maxBytes} bytes before the link opened`;
  }

  get count(): number {
    return this.#held.length;
  }

  /**
   * Hands every held message to `deliver` in arrival order and forgets them; stops (dropping the
   * rest) as soon as `deliver` returns false, e.g. because a listener closed the link.
   */
  release(deliver: (data: Uint8Array, channel: LinkChannel) => boolean): void {
    const held = this.#held;
    this.clear();
    for (const { data, channel } of held) if (!deliver(data, channel)) return;
  }

  clear(): void {
    this.#held = [];
    this.#bytes = 0;
  }
}
