/**
 * How many incoming file transfers may be in progress at once, per sending peer and in total. Each
 * one holds an open file and a temporary file on disk, so without a bound a peer offering files it
 * never sends could use up the agent's file descriptors (issue 9). One instance per agent, shared by
 * all its rooms; pure (no I/O, no timers).
 */

export interface IncomingFileLimits {
  /** Transfers one peer may have in progress to this agent. */
  maxPerPeer: number;
  /** Transfers in progress from all peers together. */
  maxTotal: number;
}

/** A held slot; `release()` gives it back and may be called any number of times. */
export interface IncomingFileSlot {
  readonly ok: true;
  release(): void;
}

/** Why no slot was given: which limit is full, and its value. */
export interface IncomingFileRefusal {
  readonly ok: false;
  readonly scope: 'peer' | 'total';
  readonly limit: number;
}

export class IncomingFileSlots {
  private readonly perPeer = new Map<string, number>();
  private total = 0;

  constructor(readonly limits: IncomingFileLimits) {}

  /**
   * Takes a slot for a transfer from `peerId`, or says which limit is full. A peer's id is the same
   * in every room it shares with us (it derives from its agent key), so the per-peer bound holds
   * across rooms too.
   */
  acquire(peerId: string): IncomingFileSlot | IncomingFileRefusal {
    const mine = this.perPeer.get(peerId) ?? 0;
    if (mine >= this.limits.maxPerPeer) return { ok: false, scope: 'peer', limit: this.limits.maxPerPeer };
    if (this.total >= this.limits.maxTotal) return { ok: false, scope: 'total', limit: this.limits.maxTotal };
    this.perPeer.set(peerId, mine + 1);
    this.total++;
    let held = true;
    return {
      ok: true,
      release: () => {
        if (!held) return;
        held = false;
        this.total--;
        const left = (this.perPeer.get(peerId) ?? 1) - 1;
        if (left === 0) this.perPeer.delete(peerId);
        else this.perPeer.set(peerId, left);
      },
    };
  }

  /** Slots in use, in total or by one peer. */
  inUse(peerId?: string): number {
    return peerId === undefined ? this.total : (this.perPeer.get(peerId) ?? 0);
  }
}
