/**
 * One setup of a NativeLink pair (rtc-agent's P2P link over node-datachannel, dist/): two links in
 * this process wired to each other (no hub), ICE on 127.0.0.1 only, signals handed over after
 * `delayMs` (0 = the next turn) standing in for the hub. Timed from start() to both links open;
 * closed afterwards either way. Used by dtls-role and setup-success.
 */
import { withTimeout } from '../lib/async.js';
import type { NativeLink as NativeLinkClass } from '../../src/transport/native/index.js';
import type { AvailableNativeBinding, Logger } from './dist.js';

export type NativeLinkModule = { NativeLink: typeof NativeLinkClass };

export interface LinkSetup {
  ms: number | null;
  error?: string;
}

export async function loadNativeLink(distDir: URL = new URL('../../dist/', import.meta.url)): Promise<NativeLinkModule> {
  return (await import(new URL('transport/native/index.js', distDir).href)) as NativeLinkModule;
}

export async function nativeLinkSetup(
  mod: NativeLinkModule,
  binding: AvailableNativeBinding,
  log: Logger,
  o: { answerAsDtlsServer: boolean; delayMs: number; sessionId: string; timeoutMs: number },
): Promise<LinkSetup> {
  const make = (role: 'offerer' | 'answerer'): NativeLinkClass =>
    new mod.NativeLink({
      binding,
      role,
      sessionId: o.sessionId,
      iceServers: [],
      bindAddress: '127.0.0.1',
      iceTransportPolicy: 'all',
      answerAsDtlsServer: o.answerAsDtlsServer,
      log,
    });
  const offerer = make('offerer');
  const answerer = make('answerer');
  const wire = (from: NativeLinkClass, to: NativeLinkClass): void => {
    from.on('signal', (signal) => {
      if (o.delayMs > 0) setTimeout(() => to.handleSignal(signal), o.delayMs);
      else setImmediate(() => to.handleSignal(signal));
    });
  };
  wire(offerer, answerer);
  wire(answerer, offerer);
  const opened = (link: NativeLinkClass): Promise<void> =>
    new Promise((resolve, reject) => {
      link.once('open', () => resolve());
      link.once('close', (reason) => reject(new Error(reason)));
    });
  const both = Promise.all([opened(offerer), opened(answerer)]);
  const t0 = performance.now();
  answerer.start();
  offerer.start();
  try {
    await withTimeout(both, o.timeoutMs, `link setup ${o.sessionId}`);
    return { ms: performance.now() - t0 };
  } catch (err) {
    return { ms: null, error: (err as Error).message };
  } finally {
    offerer.close();
    answerer.close();
  }
}

/**
 * `pairs` NativeLink pairs in this process set up all at once and kept open until the last one is:
 * the floor under a mesh of n agents (n(n-1)/2 pairs) on this machine — the same links and
 * handshakes, with no hub, no signalling latency and no agent processes. Failed pairs are not
 * retried (counted instead).
 */
export async function nativeLinkMesh(
  mod: NativeLinkModule,
  binding: AvailableNativeBinding,
  log: Logger,
  o: { pairs: number; timeoutMs: number },
): Promise<{ ms: number | null; opened: number; failed: number }> {
  const links: NativeLinkClass[] = [];
  const make = (role: 'offerer' | 'answerer', sessionId: string): NativeLinkClass => {
    const link = new mod.NativeLink({ binding, role, sessionId, iceServers: [], bindAddress: '127.0.0.1', iceTransportPolicy: 'all', answerAsDtlsServer: true, log });
    links.push(link);
    return link;
  };
  let opened = 0;
  let failed = 0;
  const t0 = performance.now();
  const setups = Array.from({ length: o.pairs }, (_, i) => {
    const offerer = make('offerer', `floor-${i}`);
    const answerer = make('answerer', `floor-${i}`);
    offerer.on('signal', (s) => setImmediate(() => answerer.handleSignal(s)));
    answerer.on('signal', (s) => setImmediate(() => offerer.handleSignal(s)));
    const open = (link: NativeLinkClass): Promise<void> =>
      new Promise((resolve, reject) => {
        link.once('open', () => resolve());
        link.once('close', (reason) => reject(new Error(reason)));
      });
    const both = Promise.all([open(offerer), open(answerer)]).then(
      () => void opened++,
      () => void failed++,
    );
    answerer.start();
    offerer.start();
    return both;
  });
  try {
    await withTimeout(Promise.all(setups), o.timeoutMs, `${o.pairs} link setups`);
    return { ms: failed === 0 ? performance.now() - t0 : null, opened, failed };
  } catch {
    return { ms: null, opened, failed: o.pairs - opened };
  } finally {
    for (const link of links) link.close();
  }
}
