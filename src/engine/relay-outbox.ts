/**
 * The relay path to one peer: frames are bundled (several per hub invocation) and sent with the
 * hub's Relay method. Relay is best effort at this layer; the reliable layer resends what the hub
 * lost (e.g. during a hub restart).
 */
import { BUNDLE_ENTRY_OVERHEAD_BYTES, encodeBundle } from '../protocol/frames.js';
import { DEFAULT_RELAY_IN_FLIGHT } from './constants.js';

export type RelaySend = (bundle: Uint8Array) => Promise<void>;

export class RelayOutbox {
  private queue: Uint8Array[] = [];
  private head = 0;
  private queued = 0;
  private inFlight = 0;
  private scheduled = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly send: RelaySend,
    /**
     * Largest bundle in raw bytes, read at every pump: the hub's limit may change when a rejoin
     * lands on another hub.
     */
    private readonly maxBundleBytes: () => number,
    private readonly onError: (err: unknown) => void,
    private readonly maxInFlight = DEFAULT_RELAY_IN_FLIGHT,
  ) {}

  push(frame: Uint8Array): void {
    this.queue.push(frame);
    this.queued += frame.length;
    if (this.scheduled) return;
    this.scheduled = true;
    // Bundle whatever this turn produces.
    queueMicrotask(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  /** Bytes waiting to go. */
  get pendingBytes(): number {
    return this.queued;
  }

  get busy(): boolean {
    return this.inFlight > 0 || this.head < this.queue.length;
  }

  /** Resolves when nothing is queued or in flight. */
  whenIdle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    const max = this.maxBundleBytes();
    while (this.inFlight < this.maxInFlight && this.head < this.queue.length) {
      const bundle: Uint8Array[] = [];
      let size = 0;
      while (this.head < this.queue.length) {
        const next = this.queue[this.head] as Uint8Array;
        const add = next.length + BUNDLE_ENTRY_OVERHEAD_BYTES;
        if (bundle.length > 0 && size + add > max) break;
        bundle.push(next);
        size += add;
        this.head++;
        this.queued -= next.length;
      }
      if (this.head === this.queue.length) {
        this.queue = [];
        this.head = 0;
      }
      this.inFlight++;
      this.send(encodeBundle(bundle))
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
    this.head = 0;
    this.queued = 0;
  }
}
