/**
 * Whether what a command sent was delivered: acknowledged by every peer it was for, and refused by
 * none. Used by `pipe`, `send` (through the daemon's POST /send) and `send-file`, whose exit code
 * must mean "delivered". A refusal is either known here (a peer E2EE rules keep us from sending to:
 * its `canSend` is false) or told by the peer end to end (`delivery-refused`).
 */
import type { DeliveryRefused, PeerInfo, Room } from '../agent/index.js';

/** One peer that refused what it was sent, and why (its error code and words). */
export interface Refusal {
  peerId: string;
  name: string;
  code: string;
  reason: string;
}

export interface DeliveryVerdict {
  /** Everything was acknowledged by the peers it was for, nobody refused, and somebody was there. */
  delivered: boolean;
  /** Messages sent, and how many peers were meant to get at least one. */
  sent: number;
  recipients: number;
  refused: Refusal[];
  /** Peers that still had unacknowledged data at the deadline. */
  unacknowledged: { peerId: string; name: string }[];
}

/** Watches one room while a command sends; {@link settle} gives the verdict. */
export class DeliveryWatch {
  private readonly refusals = new Map<string, Refusal>();
  private readonly recipients = new Set<string>();
  private sent = 0;
  private readonly onRefused = (r: DeliveryRefused): void => {
    if (!this.refusals.has(r.peerId)) this.refusals.set(r.peerId, { peerId: r.peerId, name: r.name, code: r.code, reason: r.reason });
    this.wake?.();
  };
  private wake: (() => void) | undefined;

  constructor(private readonly room: Room) {
    room.on('delivery-refused', this.onRefused);
  }

  /**
   * Call right before each send (to one peer, or everyone listed now). Peers the agent cannot send
   * to (E2EE on one side only, unusable keys) get nothing: each counts as a refusal.
   */
  beforeSend(to?: string): void {
    this.sent++;
    const targets = to === undefined ? this.room.peers() : [this.room.peer(to)].filter((p): p is PeerInfo => p !== undefined);
    for (const p of targets) {
      this.recipients.add(p.peerId);
      if (!p.canSend && !this.refusals.has(p.peerId)) {
        this.refusals.set(p.peerId, { peerId: p.peerId, name: p.name, code: 'RTC_ERR_E2EE_PLAINTEXT', reason: p.cannotSendReason ?? `${p.name} cannot be sent to` });
      }
    }
  }

  /** A file transfer to a peer failed on the sending side (`file-failed`, with the receiver's code). */
  fileFailed(peerId: string, name: string, code: string, reason: string): void {
    this.recipients.add(peerId);
    if (!this.refusals.has(peerId)) this.refusals.set(peerId, { peerId, name, code, reason });
  }

  /** A file to this peer went out (a recipient, even if it later fails). */
  fileSentTo(peerId: string): void {
    this.recipients.add(peerId);
  }

  /**
   * Waits until every peer acknowledged what was sent (at most `timeoutMs`), or every recipient
   * refused; then stops watching and says what happened.
   */
  async settle(timeoutMs: number): Promise<DeliveryVerdict> {
    const everyoneRefused = new Promise<void>((resolve) => {
      this.wake = () => {
        if (this.recipients.size > 0 && [...this.recipients].every((id) => this.refusals.has(id))) resolve();
      };
      this.wake();
    });
    let acked = false;
    try {
      acked = await Promise.race([this.room.flush(timeoutMs), everyoneRefused.then(() => false)]);
    } finally {
      this.close();
    }
    const unacknowledged = acked
      ? []
      : this.room
          .peers()
          .filter((p) => this.recipients.has(p.peerId) && !this.refusals.has(p.peerId) && p.unackedBytes > 0)
          .map((p) => ({ peerId: p.peerId, name: p.name }));
    const refused = [...this.refusals.values()];
    return {
      delivered: refused.length === 0 && unacknowledged.length === 0 && (this.sent === 0 || this.recipients.size > 0),
      sent: this.sent,
      recipients: this.recipients.size,
      refused,
      unacknowledged,
    };
  }

  /** Stops listening to the room. Idempotent. */
  close(): void {
    this.room.off('delivery-refused', this.onRefused);
    this.wake = undefined;
  }
}

/** The verdict in one line for stderr, or undefined when everything was delivered. */
export function describeVerdict(v: DeliveryVerdict, room: string, what = 'message(s)'): string | undefined {
  if (v.delivered) return undefined;
  const parts: string[] = [];
  // Each reason names its peer ("bob uses a different room secret…").
  for (const r of v.refused) parts.push(`${r.reason} (${r.code})`);
  if (v.unacknowledged.length > 0) parts.push(`not acknowledged by ${v.unacknowledged.map((p) => p.name).join(', ')} in time`);
  if (parts.length === 0 && v.recipients === 0) parts.push(`nobody was in '${room}' to receive it (--wait-peers N waits for receivers)`);
  return `${v.sent} ${what} not delivered: ${parts.join('; ')}`;
}
