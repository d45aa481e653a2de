/**
 * Chat's own hub, and taking it over. With no hub at its loopback URL, a chat hosts one there; when
 * the hosting chat quits (or dies), every other chat on the machine loses the hub, and each tries to
 * bind the same address until one succeeds (the others get EADDRINUSE) or its agent is reconnected
 * to whichever did. The agents' own reconnects then find the new hub at the same URL.
 */
import type { Agent } from '../../agent/index.js';
import type { Hub } from '../../hub/server.js';
import type { Logger } from '../../log/logger.js';

/** How often a chat that lost its hub tries to host it, while its agent is reconnecting. */
export const DEFAULT_TAKEOVER_RETRY_MS = 300;

/** A URL this machine can host: plain http on a loopback address. */
export function isHostableUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' && (u.hostname === 'localhost' || /^127\./.test(u.hostname));
  } catch {
    return false;
  }
}

export class ChatHost {
  private hub: Hub | undefined;
  private closed = false;
  private stopWatching: (() => void) | undefined;

  constructor(
    private readonly url: string,
    private readonly log: Logger,
  ) {}

  get hosting(): boolean {
    return this.hub !== undefined;
  }

  /** Starts a hub at the URL's address; false if something else holds it (another chat won). */
  async tryHost(): Promise<boolean> {
    if (this.hub || this.closed) return this.hub !== undefined;
    const { startHub } = await import('../../hub/server.js');
    const u = new URL(this.url);
    try {
      this.hub = await startHub({ host: u.hostname === 'localhost' ? '127.0.0.1' : u.hostname, port: Number(u.port || 80), path: u.pathname, logger: this.log.child({ component: 'hub' }) });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') return false;
      throw err;
    }
    if (this.closed) {
      await this.hub.close();
      this.hub = undefined;
      return false;
    }
    return true;
  }

  /**
   * While the agent reconnects (its hub went away), tries to host the hub every
   * {@link DEFAULT_TAKEOVER_RETRY_MS} until it does, or the agent is back on someone else's, or it
   * gave up. `onHosting` is told when this chat took over.
   */
  watch(agent: Agent, onHosting: () => void, onError: (err: Error) => void): void {
    let timer: NodeJS.Timeout | undefined;
    const attempt = async (): Promise<void> => {
      timer = undefined;
      if (this.closed || this.hub || agent.hubState !== 'reconnecting') return;
      try {
        if (await this.tryHost()) {
          onHosting();
          return;
        }
      } catch (err) {
        onError(err as Error);
        return;
      }
      // Jitter, so chats that lost the hub together do not all knock at the same moment.
      timer = setTimeout(() => void attempt(), DEFAULT_TAKEOVER_RETRY_MS + Math.random() * DEFAULT_TAKEOVER_RETRY_MS);
    };
    const onHub = (state: string): void => {
      if (state === 'reconnecting' && timer === undefined) void attempt();
    };
    agent.on('hub', onHub);
    this.stopWatching = () => {
      agent.off('hub', onHub);
      clearTimeout(timer);
    };
  }

  /** Stops watching and closes the hub this chat hosts (its clients get a Close and reconnect). Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    this.stopWatching?.();
    const hub = this.hub;
    this.hub = undefined;
    await hub?.close();
  }
}
