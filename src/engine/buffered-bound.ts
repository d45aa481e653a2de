/**
 * Whether a link's reliable channel holds more than a mark, asking the link (a native call per
 * message on Node) only when it might: the channel's buffer grows only by what we send, so while
 * what it held when last asked plus what went in since stays under the mark, the answer is no.
 */
import type { PeerLink } from './peer-link.js';

export class BufferedBound {
  private link: PeerLink | null = null;
  /** At least what `link`'s reliable channel holds now. */
  private bound = 0;

  /** `bytes` went onto `link`'s reliable channel. */
  sent(link: PeerLink, bytes: number): void {
    if (link === this.link) this.bound += bytes;
  }

  above(link: PeerLink, mark: number): boolean {
    if (link === this.link && this.bound <= mark) return false;
    let buffered: number;
    try {
      buffered = link.bufferedAmount('reliable');
    } catch {
      return false;
    }
    this.link = link;
    this.bound = buffered;
    return buffered > mark;
  }
}
