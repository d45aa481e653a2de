/**
 * The built rtc-agent (dist/), loaded at run time like bench/servers/hub-server.ts does, so the bench
 * measures what ships. Typed from src/ (type-only imports are erased), so the bench typechecks
 * even before a build; a missing build fails here with a clear message.
 */
import type * as Api from '../../src/index.js';
import type * as NativeApi from '../../src/transport/native/index.js';

export type RtcAgentApi = typeof Api;
export type RtcNativeApi = Pick<typeof NativeApi, 'acquireNative' | 'releaseNative' | 'loadNativeBinding'>;
export type { Agent, AgentOptions, Room, ReceivedMessage, FileReceived, FileSent, Logger } from '../../src/index.js';
export type { AvailableNativeBinding, NativeDataChannel, NativePeerConnection } from '../../src/transport/native/index.js';

const distIndex = new URL('../../dist/index.js', import.meta.url);
const distNative = new URL('../../dist/transport/native/index.js', import.meta.url);

export interface Dist {
  api: RtcAgentApi;
  native: RtcNativeApi;
  /** The agent's framing: DATA frame header and E2EE seal overhead, in bytes (from dist/). */
  frame: { dataHeaderBytes: number; sealOverheadBytes: number; chunkBytes: number };
}

let loaded: Promise<Dist> | undefined;

export function loadDist(): Promise<Dist> {
  loaded ??= (async () => {
    try {
      const api = (await import(distIndex.href)) as RtcAgentApi;
      const native = (await import(distNative.href)) as RtcNativeApi;
      if (typeof api.createAgent !== 'function' || typeof native.acquireNative !== 'function') throw new Error('missing createAgent/acquireNative exports');
      const frames = (await import(new URL('../../dist/protocol/frames.js', import.meta.url).href)) as { DATA_HEADER_BYTES: number };
      const seal = (await import(new URL('../../dist/engine/crypto/seal.js', import.meta.url).href)) as { DATA_SEAL_OVERHEAD_BYTES: number };
      const peer = (await import(new URL('../../dist/engine/constants.js', import.meta.url).href)) as { DEFAULT_CHUNK_BYTES: number };
      const frame = { dataHeaderBytes: frames.DATA_HEADER_BYTES, sealOverheadBytes: seal.DATA_SEAL_OVERHEAD_BYTES, chunkBytes: peer.DEFAULT_CHUNK_BYTES };
      if (!Object.values(frame).every((v) => Number.isInteger(v) && v >= 0)) throw new Error(`unexpected frame constants ${JSON.stringify(frame)}`);
      return { api, native, frame };
    } catch (err) {
      throw new Error(`cannot load ${distIndex.pathname} (run npm run build): ${String(err)}`);
    }
  })();
  return loaded;
}
