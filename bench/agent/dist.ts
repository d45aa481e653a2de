/**
 * The built rtc-agent (dist/), loaded at run time like bench/servers/hub-server.ts does, so the bench
 * measures what ships. Typed from src/ (type-only imports are erased), so the bench typechecks
 * even before a build; a missing build fails here with a clear message.
 *
 * `loadDist(dir)` loads another build's dist directory instead (`--previous`, e.g. the last commit
 * before the engine, built in a temp dir): its public API is the same, its internal layout may not
 * be, so the frame constants are looked up in each known layout.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type * as Api from '../../src/index.js';
import type * as NativeApi from '../../src/transport/native/index.js';

export type RtcAgentApi = typeof Api;
export type RtcNativeApi = Pick<typeof NativeApi, 'acquireNative' | 'releaseNative' | 'loadNativeBinding'>;
export type { Agent, AgentOptions, Room, ReceivedMessage, FileReceived, FileSent, Logger } from '../../src/index.js';
export type { AvailableNativeBinding, NativeDataChannel, NativePeerConnection } from '../../src/transport/native/index.js';

/** This checkout's build. */
export const DIST_DIR = fileURLToPath(new URL('../../dist/', import.meta.url));

export interface Dist {
  /** Absolute path of the dist directory this was loaded from. */
  dir: string;
  api: RtcAgentApi;
  native: RtcNativeApi;
  /** The agent's framing: DATA frame header and E2EE seal overhead, in bytes (from dist/). */
  frame: { dataHeaderBytes: number; sealOverheadBytes: number; chunkBytes: number };
}

/** Where each constant lives: today's engine layout first, then the pre-engine one (src/room, src/crypto). */
const FRAME_MODULES = {
  dataHeaderBytes: { name: 'DATA_HEADER_BYTES', files: ['protocol/frames.js'] },
  sealOverheadBytes: { name: 'DATA_SEAL_OVERHEAD_BYTES', files: ['engine/crypto/seal.js', 'crypto/seal.js'] },
  chunkBytes: { name: 'DEFAULT_CHUNK_BYTES', files: ['engine/constants.js', 'room/peer-session.js'] },
} as const;

const loaded = new Map<string, Promise<Dist>>();

async function frameConstant(dir: string, spec: { name: string; files: readonly string[] }): Promise<number> {
  for (const file of spec.files) {
    const full = path.join(dir, file);
    if (!existsSync(full)) continue;
    const mod = (await import(pathToFileURL(full).href)) as Record<string, unknown>;
    const value = mod[spec.name];
    if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  }
  throw new Error(`no ${spec.name} in ${spec.files.map((f) => path.join(dir, f)).join(' or ')}`);
}

/** Loads a build once per process (default: this checkout's dist/). */
export function loadDist(dir: string = DIST_DIR): Promise<Dist> {
  const abs = path.resolve(dir);
  let p = loaded.get(abs);
  if (!p) {
    p = (async () => {
      const index = path.join(abs, 'index.js');
      try {
        if (!existsSync(index)) throw new Error('no index.js there');
        const api = (await import(pathToFileURL(index).href)) as RtcAgentApi;
        const native = (await import(pathToFileURL(path.join(abs, 'transport/native/index.js')).href)) as RtcNativeApi;
        if (typeof api.createAgent !== 'function' || typeof native.acquireNative !== 'function') throw new Error('missing createAgent/acquireNative exports');
        const frame = {
          dataHeaderBytes: await frameConstant(abs, FRAME_MODULES.dataHeaderBytes),
          sealOverheadBytes: await frameConstant(abs, FRAME_MODULES.sealOverheadBytes),
          chunkBytes: await frameConstant(abs, FRAME_MODULES.chunkBytes),
        };
        return { dir: abs, api, native, frame };
      } catch (err) {
        const hint = abs === path.resolve(DIST_DIR) ? 'run npm run build' : 'build that checkout with npx tsc -p tsconfig.json';
        throw new Error(`cannot load the build in ${abs} (${hint}): ${err instanceof Error ? err.message : String(err)}`);
      }
    })();
    loaded.set(abs, p);
  }
  return p;
}
