/**
 * Chat asks before a file lands on disk: each offer is shown with `/accept` and `/reject`, and one
 * nobody answers is refused after {@link DEFAULT_FILE_DECISION_MS} (the sender hears "refused").
 */
import type { FileOffer } from '../../agent/index.js';
import { cleanForTerminal, formatBytes } from '../terminal.js';

/**
 * How long an offer waits for /accept. Below the sender's confirmation timeout (sendTimeoutMs,
 * 30 s by default), so the sender hears our "no" rather than giving up on its own.
 */
export const DEFAULT_FILE_DECISION_MS = 20_000;

interface Pending {
  n: number;
  offer: FileOffer;
  decide: (yes: boolean) => void;
}

export class FileOffers {
  private readonly pending: Pending[] = [];
  private next = 1;

  constructor(
    private readonly print: (line: string) => void,
    private readonly decisionMs = DEFAULT_FILE_DECISION_MS,
  ) {}

  /** The agent's acceptFile: shows the offer and resolves with the user's answer. */
  ask(offer: FileOffer): Promise<boolean> {
    return new Promise((resolve) => {
      const n = this.next++;
      const timer = setTimeout(() => {
        if (!this.take(n)) return;
        this.print(`* ${this.describe(offer)} refused: no /accept within ${Math.round(this.decisionMs / 1000)} s`);
        resolve(false);
      }, this.decisionMs);
      timer.unref();
      this.pending.push({
        n,
        offer,
        decide: (yes) => {
          clearTimeout(timer);
          resolve(yes);
        },
      });
      const which = this.pending.length > 1 ? ` ${n}` : '';
      this.print(`* ${cleanForTerminal(offer.fromName)} offers ${cleanForTerminal(offer.name)} (${formatBytes(offer.size)}): /accept${which} to take it, /reject${which} to refuse`);
    });
  }

  /** `/accept [n]` or `/reject [n]`: the numbered offer, else the oldest. Returns what to print. */
  answer(yes: boolean, which: string | undefined): string {
    const n = which === undefined ? this.pending[0]?.n : Number(which);
    const entry = n === undefined || !Number.isInteger(n) ? undefined : this.take(n);
    if (!entry) return this.pending.length === 0 ? '! no file offer is waiting' : `! no offer ${which}; waiting: ${this.pending.map((p) => p.n).join(', ')}`;
    entry.decide(yes);
    return yes ? `* accepting ${this.describe(entry.offer)}` : `* refused ${this.describe(entry.offer)}`;
  }

  /** Refuses every offer still waiting (chat is quitting). */
  close(): void {
    for (const entry of this.pending.splice(0)) entry.decide(false);
  }

  private take(n: number): Pending | undefined {
    const i = this.pending.findIndex((p) => p.n === n);
    return i === -1 ? undefined : this.pending.splice(i, 1)[0];
  }

  private describe(offer: FileOffer): string {
    return `${cleanForTerminal(offer.name)} from ${cleanForTerminal(offer.fromName)}`;
  }
}
