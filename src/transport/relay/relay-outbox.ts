/**
 * The relay path to one peer: frames are bundled (several per hub invocation) and sent with the
 * hub's Relay method. Relay is best effort at this layer; the room's reliable layer resends what
 * the hub lost (e.g. during a hub restart).
 */
import { encodeBundle, BUNDLE_ENTRY_OVERHEAD_BYTES } from '../../protocol/frames.js';

/** Concurrent Relay invocations per peer: enough to keep the pipe full, few enough to feel backpressure. */
export const DEFAULT_RELAY_IN_FLIGHT = 4;

export type RelaySend = (payloadBase64: string) => Promise<void>;

export class RelayOutbox {
  private queue: Uint8Array[] = [];
  private queued = 0;
  private inFlight = 0;
  private scheduled = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly send: RelaySend,
    /** Largest bundle in raw bytes (before base64), derived from the hub's message limit. */
    private readonly maxBundleBytes: number,
    private readonly onError: (err: unknown) => void,
    private readonly maxInFlight = DEFAULT_RELAY_IN_FLIGHT,
  ) {}

  push(frame: Uint8Array): void {
    this.queue.push(frame);
    this.queued += frame.length;
    if (!this.scheduled) {
      this.scheduled = true;
      // Bundle whatever this turn produces.
      queueMicrotask(() => {
        this.scheduled = false;
        this.pump();
      });
    }
  }

  /** Bytes waiting to go, plus bundles on their way. */
  get pendingBytes(): number {
    return this.queued;
  }

  get busy(): boolean {
    return this.inFlight > 0 || this.queue.length > 0;
  }

  /** Resolves when nothing is queued or in flight. */
  whenIdle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const bundle: Uint8Array[] = [];
      let size = 0;
      while (this.queue.length > 0) {
        const next = this.queue[0] as Uint8Array;
        const add = next.length + BUNDLE_ENTRY_OVERHEAD_BYTES;
        if (bundle.length > 0 && size + add > this.maxBundleBytes) break;
        bundle.push(next);
        size += add;
        this.queue.shift();
        this.queued -= next.length;
      }
      this.inFlight++;
      const payload = Buffer.from(encodeBundle(bundle)).toString('base64');
      this.send(payload)
        .catch((err: unknown) => this.onError(err))
        .finally(() => {
          this.inFlight--;
          this.pump();
          if (!this.busy) for (const w of this.idleWaiters.splice(0)) w();
        });
    }
  }

  /** Forgets queued frames (the reliable layer still has them). */
  clear(): void {
    this.queue = [];
    this.queued = 0;
  }
}
