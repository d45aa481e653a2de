/**
 * The baseline: two bare node-datachannel PeerConnections in this process, one reliable ordered
 * DataChannel, ICE on loopback only (bindAddress 127.0.0.1, no STUN), signals handed over directly
 * on a later turn. The sender respects bufferedAmount high/low water marks with the native
 * bufferedAmountLow event, as in NATIVE-FACTS.md. `unreliable: true` makes that one channel unordered
 * with no retransmits (the agent's `rtc-agent/unreliable` settings). Pitfalls handled as documented there: remote
 * candidates are queued until the remote description is set, every callback body is guarded
 * (a throw inside a native callback aborts the process), and onClosed is registered before close.
 */
import { withTimeout } from '../lib/async.js';
import type { AvailableNativeBinding, NativeDataChannel, NativePeerConnection } from './dist.js';
import type { Pipe } from './pipe.js';

/** Sender pauses above this many buffered bytes... */
export const RAW_HIGH_WATER_BYTES = 1024 * 1024;
/** ...and resumes when the native bufferedAmountLow event says it drained to this (the agent's own low mark). */
export const RAW_LOW_WATER_BYTES = 256 * 1024;
/** Safety re-check while paused, in case a low event were missed (never needed in NATIVE-FACTS runs). */
const LOW_POLL_MS = 50;

interface Side {
  pc: NativePeerConnection;
  dc: NativeDataChannel | null;
  remoteSet: boolean;
  pending: { candidate: string; mid: string }[];
}

function guard(body: () => void): void {
  try {
    body();
  } catch (err) {
    process.stderr.write(`raw-nd: error in native callback: ${String(err)}\n`);
  }
}

export interface RawPairOptions {
  /** Unordered, maxRetransmits 0, like the agent's unreliable channel. */
  unreliable?: boolean;
  timeoutMs?: number;
}

export async function openRawPair(binding: AvailableNativeBinding, name: string, options: RawPairOptions = {}): Promise<Pipe> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const config = { iceServers: [], bindAddress: '127.0.0.1', maxMessageSize: 256 * 1024 };
  const a: Side = { pc: new binding.api.PeerConnection(`${name}-a`, config), dc: null, remoteSet: false, pending: [] };
  const b: Side = { pc: new binding.api.PeerConnection(`${name}-b`, config), dc: null, remoteSet: false, pending: [] };
  let failed: ((err: Error) => void) | null = null;

  const wire = (from: Side, to: Side): void => {
    from.pc.onStateChange((state) => guard(() => state === 'failed' && failed?.(new Error(`${name}: peer connection failed`))));
    from.pc.onLocalDescription((sdp, type) =>
      setImmediate(() =>
        guard(() => {
          to.pc.setRemoteDescription(sdp, type as 'offer' | 'answer');
          to.remoteSet = true;
          for (const c of to.pending.splice(0)) to.pc.addRemoteCandidate(c.candidate, c.mid);
        }),
      ),
    );
    from.pc.onLocalCandidate((candidate, mid) =>
      setImmediate(() =>
        guard(() => {
          if (!to.remoteSet) to.pending.push({ candidate, mid });
          else to.pc.addRemoteCandidate(candidate, mid);
        }),
      ),
    );
  };
  wire(a, b);
  wire(b, a);

  const pipe: Pipe & { lowWaiter: (() => void) | null } = {
    name,
    onA: null,
    onB: null,
    lowWaiter: null,
    send(data) {
      const dc = a.dc as NativeDataChannel;
      if (dc.bufferedAmount() <= RAW_HIGH_WATER_BYTES) {
        dc.sendMessageBinary(data);
        return undefined;
      }
      return (async () => {
        while (dc.bufferedAmount() > RAW_HIGH_WATER_BYTES) {
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, LOW_POLL_MS);
            pipe.lowWaiter = () => {
              clearTimeout(t);
              resolve();
            };
          });
        }
        dc.sendMessageBinary(data);
      })();
    },
    sendBack(data) {
      (b.dc as NativeDataChannel).sendMessageBinary(data);
      return undefined;
    },
    async drain(ms) {
      const deadline = Date.now() + ms;
      while ((a.dc?.bufferedAmount() ?? 0) > 0) {
        if (Date.now() > deadline) throw new Error(`${name}: send buffer not drained within ${ms} ms`);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    info: () => ({ highWaterBytes: RAW_HIGH_WATER_BYTES, lowWaterBytes: RAW_LOW_WATER_BYTES, unreliable: options.unreliable === true }),
    async close() {
      for (const side of [a, b]) {
        guard(() => side.dc?.close());
        guard(() => side.pc.close());
      }
    },
  };

  const attach = (side: Side, dc: NativeDataChannel, deliver: (d: Uint8Array) => void): void => {
    side.dc = dc;
    // onClosed first: it lets the binding release the channel at close (NATIVE-FACTS pitfall 4).
    dc.onClosed(() => undefined);
    dc.onMessage((msg) =>
      guard(() => {
        const data = typeof msg === 'string' ? Buffer.from(msg) : msg instanceof ArrayBuffer ? new Uint8Array(msg) : msg;
        deliver(data);
      }),
    );
  };

  const opened = new Promise<void>((resolve, reject) => {
    failed = reject;
    let aOpen = false;
    let bOpen = false;
    const check = (): void => {
      if (aOpen && bOpen) resolve();
    };
    b.pc.onDataChannel((dc) =>
      guard(() => {
        attach(b, dc, (d) => pipe.onB?.(d));
        // The answerer's channel arrives already open (NATIVE-FACTS pitfall 7).
        bOpen = dc.isOpen();
        dc.onOpen(() => {
          bOpen = true;
          check();
        });
        check();
      }),
    );
    const dc = a.pc.createDataChannel('bench', options.unreliable ? { unordered: true, maxRetransmits: 0 } : {});
    attach(a, dc, (d) => pipe.onA?.(d));
    dc.setBufferedAmountLowThreshold(RAW_LOW_WATER_BYTES);
    dc.onBufferedAmountLow(() =>
      guard(() => {
        const w = pipe.lowWaiter;
        pipe.lowWaiter = null;
        w?.();
      }),
    );
    dc.onOpen(() => {
      aOpen = true;
      check();
    });
  });
  try {
    await withTimeout(opened, timeoutMs, `${name}: raw node-datachannel pair to open`);
  } catch (err) {
    await pipe.close();
    throw err;
  }
  return pipe;
}
