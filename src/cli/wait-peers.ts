/**
 * `--wait-peers N`: waits until a room lists N peers, showing "waiting for N peer(s) in 'room'
 * (Ns left)…" on a terminal (redrawn in place each second, cleared when done), so a blank screen
 * never hides what the command is waiting for. Silent when stderr is not a terminal.
 */
import type { Room } from '../agent/index.js';
import { CommandFailed, ExitCode } from './exit-codes.js';

/** How long pipe and send-file wait for their peers by default. */
export const DEFAULT_WAIT_PEERS_MS = 30_000;
/** How often the countdown is redrawn. */
const COUNTDOWN_TICK_MS = 1_000;

export interface WaitPeersOptions {
  timeoutMs: number;
  /** Where the countdown goes (a terminal only). */
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  /** Ends the wait early (a signal): rejects with the signal's reason. */
  signal?: AbortSignal;
  /** The peers that count; everyone by default. */
  matches?: (peer: { peerId: string; name: string }) => boolean;
  /** What the countdown and the timeout say is awaited; "N peer(s)" by default. */
  what?: string;
}

/** Resolves once `room` lists `count` matching peers; fails with exit code 5 at the timeout. */
export function waitForPeers(room: Room, count: number, options: WaitPeersOptions): Promise<void> {
  const matching = (): number => room.peers().filter((p) => options.matches?.(p) ?? true).length;
  if (matching() >= count) return Promise.resolve();
  const what = options.what ?? `${count} peer(s)`;
  const tty = options.stderr.isTTY === true;
  const deadline = performance.now() + options.timeoutMs;
  return new Promise<void>((resolve, reject) => {
    const draw = (): void => {
      const left = Math.max(0, Math.ceil((deadline - performance.now()) / 1000));
      options.stderr.write(`\r\u001b[2Kwaiting for ${what} in '${room.name}' (${left}s left)…`);
    };
    const done = (err?: unknown): void => {
      clearTimeout(timer);
      clearInterval(ticker);
      room.off('peer-joined', check);
      options.signal?.removeEventListener('abort', onAbort);
      if (tty) options.stderr.write('\r\u001b[2K');
      if (err === undefined) resolve();
      else reject(err);
    };
    const check = (): void => {
      if (matching() >= count) done();
    };
    const onAbort = (): void => done(options.signal?.reason);
    const timer = setTimeout(() => {
      const seconds = Math.round(options.timeoutMs / 1000);
      done(new CommandFailed(ExitCode.SIGNALING_TIMEOUT, `gave up after ${seconds} s waiting for ${what} in '${room.name}' (${matching()} there; --wait-timeout sets how long)`));
    }, options.timeoutMs);
    const ticker = setInterval(() => tty && draw(), COUNTDOWN_TICK_MS);
    room.on('peer-joined', check);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) onAbort();
    if (tty) draw();
  });
}
