/**
 * One interface over every subject of the agent-paths bench (a raw node-datachannel pair, a pair of
 * agents on P2P or relay), so the throughput and ping-pong measurements are written once. Both
 * ends live in this process: side A sends, side B receives (and echoes for RTT).
 */
export interface Pipe {
  readonly name: string;
  /**
   * A → B, under the subject's own backpressure. Returns undefined when the message was accepted at
   * once, else a promise that resolves when it was (so a raw sender pays no promise per message).
   */
  send(data: Uint8Array): Promise<void> | undefined;
  /** B → A (the echo of a ping-pong). */
  sendBack(data: Uint8Array): Promise<void> | undefined;
  /** Called with every message that arrives at B / at A; swapped per measurement. */
  onB: ((data: Uint8Array) => void) | null;
  onA: ((data: Uint8Array) => void) | null;
  /** Waits until everything A sent has left its queues (raw: bufferedAmount 0; agent: all acked). */
  drain(timeoutMs: number): Promise<void>;
  /** Extra per-subject facts for the JSON (e.g. the agent's own heartbeat RTT). */
  info(): Record<string, unknown>;
  close(): Promise<void>;
}
