/**
 * The one module that loads node-datachannel (libdatachannel's Node binding); see
 * native-notes.md#loading-and-platform-packages. Everything else gets the binding through
 * {@link loadNativeBinding} and never imports the package, which test/unit/architecture.test.ts
 * enforces. Also owns the binding's process-wide state: the `cleanup()` refcount and the log route.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { readFileSync, existsSync } from 'node:fs';
// Type-only: erased at compile time (verbatimModuleSyntax), so it cannot fail to load.
import type { DataChannel, DataChannelInitConfig, LogLevel, PeerConnection, RtcConfig } from 'node-datachannel';
import type { Logger } from '../../log/logger.js';

/** The DataChannel methods rtc-agent uses. */
export type NativeDataChannel = Pick<
  DataChannel,
  | 'getLabel'
  | 'close'
  | 'sendMessageBinary'
  | 'isOpen'
  | 'bufferedAmount'
  | 'maxMessageSize'
  | 'setBufferedAmountLowThreshold'
  | 'onOpen'
  | 'onClosed'
  | 'onError'
  | 'onBufferedAmountLow'
  | 'onMessage'
>;

/** The PeerConnection methods rtc-agent uses. */
export interface NativePeerConnection
  extends Pick<
    PeerConnection,
    | 'close'
    | 'setRemoteDescription'
    | 'remoteDescription'
    | 'localDescription'
    | 'addRemoteCandidate'
    | 'state'
    | 'onLocalDescription'
    | 'onLocalCandidate'
    | 'onStateChange'
    | 'onIceStateChange'
    | 'onGatheringStateChange'
    | 'bytesSent'
    | 'bytesReceived'
    | 'rtt'
    | 'getSelectedCandidatePair'
  > {
  createDataChannel(label: string, config?: DataChannelInitConfig): NativeDataChannel;
  onDataChannel(cb: (dc: NativeDataChannel) => void): void;
}

export type NativeRtcConfig = RtcConfig;
export type NativeLogLevel = LogLevel;

/** The typed subset of node-datachannel that rtc-agent calls. */
export interface NativeApi {
  PeerConnection: new (peerName: string, config: NativeRtcConfig) => NativePeerConnection;
  /** Closes EVERY PeerConnection and DataChannel in the process; see {@link releaseNative}. */
  cleanup(): void;
  /** The callback is required in practice (native-notes.md#initlogger-needs-its-callback). */
  initLogger(level: NativeLogLevel, cb: (level: NativeLogLevel, message: string) => void): void;
  getLibraryVersion?: () => string;
}

export type NativeBindingStatus =
  | {
      available: true;
      /** e.g. `libdatachannel 0.24.5, node-datachannel 0.33.4`. */
      version: string;
      libraryVersion: string | undefined;
      packageVersion: string | undefined;
      /** The prebuilt platform package that should hold the addon, e.g. `@node-datachannel/linux-x64-gnu`. */
      platformPackage: string;
      api: NativeApi;
    }
  | { available: false; reason: string; platformPackage: string };

export type AvailableNativeBinding = Extract<NativeBindingStatus, { available: true }>;

let loading: Promise<NativeBindingStatus> | undefined;

/**
 * Loads node-datachannel once per process and reports whether native P2P is possible. Never
 * rejects: a missing platform package, a wrong ABI or a blocked import all come back as
 * `{ available: false, reason }`, so the agent can fall back to the relay.
 */
export function loadNativeBinding(): Promise<NativeBindingStatus> {
  loading ??= load();
  return loading;
}

async function load(): Promise<NativeBindingStatus> {
  const platformPackage = expectedPlatformPackage();
  let mod: Record<string, unknown>;
  try {
    mod = (await import('node-datachannel')) as unknown as Record<string, unknown>;
  } catch (err) {
    return { available: false, platformPackage, reason: describeLoadFailure(platformPackage, err) };
  }
  const api = (mod.default ?? mod) as Partial<NativeApi>;
  if (typeof api.PeerConnection !== 'function' || typeof api.cleanup !== 'function' || typeof api.initLogger !== 'function') {
    return {
      available: false,
      platformPackage,
      reason: `node-datachannel loaded but lacks PeerConnection/cleanup/initLogger (an incompatible version?); native P2P is off and every link is relayed`,
    };
  }
  let libraryVersion: string | undefined;
  try {
    libraryVersion = api.getLibraryVersion?.();
  } catch {
    libraryVersion = undefined;
  }
  const packageVersion = readPackageVersion();
  const version = `libdatachannel ${libraryVersion ?? 'unknown'}, node-datachannel ${packageVersion ?? 'unknown'}`;
  return { available: true, version, libraryVersion, packageVersion, platformPackage, api: api as NativeApi };
}

function describeLoadFailure(platformPackage: string, err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const where = `${process.platform}-${process.arch}${libcSuffix()}, Node ${process.version} (ABI ${process.versions.modules}, N-API ${process.versions.napi})`;
  return (
    `cannot load node-datachannel on ${where}: ${message.split('\n')[0]}. ` +
    `It needs its prebuilt platform package ${platformPackage} (an optionalDependency: reinstall without --omit=optional / --no-optional, ` +
    `on a platform with a prebuilt binary), or a local build. Native P2P is off; every link is relayed.`
  );
}

/** Mirrors node-datachannel's own choice of platform package (dist/esm/lib/node-datachannel.mjs). */
function expectedPlatformPackage(): string {
  const { platform, arch } = process;
  if (platform === 'linux') return `@node-datachannel/linux-${arch}${libcSuffix() === '-musl' ? '-musl' : '-gnu'}`;
  if (platform === 'win32') return `@node-datachannel/win32-${arch}-msvc`;
  return `@node-datachannel/${platform}-${arch}`;
}

function libcSuffix(): string {
  if (process.platform !== 'linux') return '';
  try {
    const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
    return header?.glibcVersionRuntime ? '-gnu' : '-musl';
  } catch {
    return '-gnu';
  }
}

/** node-datachannel's package.json is not in its `exports`, so find it next to the resolved entry. */
function readPackageVersion(): string | undefined {
  try {
    let dir = dirname(createRequire(import.meta.url).resolve('node-datachannel'));
    for (let i = 0; i < 6; i++) {
      const file = join(dir, 'package.json');
      if (existsSync(file)) {
        const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === 'node-datachannel') return pkg.version;
      }
      dir = dirname(dir);
    }
  } catch {
    // Only informational.
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Process-wide lifecycle. node-datachannel's `cleanup()` closes every PeerConnection in the process
// (node-datachannel #108), so several agents in one process share one refcount and only the last
// release calls it. See native-notes.md#cleanup-is-process-global.

let users = 0;
let usersApi: NativeApi | undefined;
let logRouted = false;

export interface AcquireNativeOptions {
  /** Route libdatachannel's own log to this logger (process-global: the last caller wins). */
  log?: Logger;
  /** libdatachannel's level; defaults to `Warning`. Verbose/Debug cost one JS call per line. */
  nativeLogLevel?: NativeLogLevel;
}

/**
 * Registers one user of the binding (an agent). Resolves with the load status; when the binding is
 * unavailable nothing is counted and {@link releaseNative} must not be called for this acquire.
 */
export async function acquireNative(options: AcquireNativeOptions = {}): Promise<NativeBindingStatus> {
  const status = await loadNativeBinding();
  if (!status.available) return status;
  users++;
  usersApi = status.api;
  if (options.log) routeNativeLog(status.api, options.log, options.nativeLogLevel ?? 'Warning');
  return status;
}

/**
 * Drops one user. The last release calls the binding's global `cleanup()`, which closes anything
 * still open and releases the native threads, so the process can exit at once. Returns whether
 * cleanup ran. A release without a matching acquire is ignored.
 */
export function releaseNative(): boolean {
  if (users === 0 || !usersApi) return false;
  users--;
  if (users > 0) return false;
  // cleanup() closes natively but resets the JS callbacks first, so links would never hear of it:
  // close them here, so each still emits its one `close` (native-notes.md#cleanup-is-process-global).
  for (const hook of [...cleanupHooks]) {
    try {
      hook();
    } catch {
      // A hook's failure must not keep the binding's threads alive.
    }
  }
  cleanupHooks.clear();
  try {
    usersApi.cleanup();
  } finally {
    // cleanup() also drops the log callback; a later acquire may route it again.
    logRouted = false;
  }
  return true;
}

const cleanupHooks = new Set<() => void>();

/** Runs `hook` just before the binding's global cleanup(); returns the unregister function. */
export function onNativeCleanup(hook: () => void): () => void {
  cleanupHooks.add(hook);
  return () => cleanupHooks.delete(hook);
}

/** How many acquires are outstanding (for diagnostics and tests). */
export function nativeUsers(): number {
  return users;
}

/**
 * libdatachannel's levels, one step quieter: its "errors" are about one connection attempt (a
 * failed DTLS handshake, a socket that would not bind), which the agent handles and reports in its
 * own words (fallback to relay, retry). They stay available at debug/info for whoever digs.
 */
const LEVEL_MAP: Record<NativeLogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = {
  Verbose: 'trace',
  Debug: 'trace',
  Info: 'debug',
  Warning: 'debug',
  Error: 'info',
  Fatal: 'warn',
};

/**
 * Sends libdatachannel's log lines to `log` (child `component: 'libdatachannel'`). `initLogger`
 * throws `Function expected` without its callback even though the typings mark it optional
 * (native-notes.md#initlogger-needs-its-callback). The callback is a native thread-safe function,
 * which holds the event loop open until `cleanup()` runs (see releaseNative).
 */
export function routeNativeLog(api: NativeApi, log: Logger, level: NativeLogLevel = 'Warning'): void {
  const child = log.child({ component: 'libdatachannel' });
  api.initLogger(level, (lineLevel, message) => {
    try {
      child[LEVEL_MAP[lineLevel] ?? 'info'](message);
    } catch {
      // A throw here would abort the process (native-notes.md#candidate-before-description).
    }
  });
  logRouted = true;
}

/** Whether libdatachannel's log currently goes to a pino logger. */
export function nativeLogRouted(): boolean {
  return logRouted;
}
