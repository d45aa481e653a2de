/**
 * Bench workers: a Node child process (tsx, IPC channel) that serves named calls from the bench
 * process, so a measurement can run in a process of its own (one build's agents per process,
 * a process whose RSS is the number, a process that must exit by itself) while the parent
 * interleaves rounds and collects results. Every call has a deadline; a worker exits when its
 * parent goes away (IPC disconnect), and is tracked so the run's abort paths kill it.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { withTimeout } from './async.js';
import { trackChild } from './child.js';
import { RESULTS_DIR } from './report.js';

interface CallMessage {
  kind: 'call';
  id: number;
  method: string;
  params: unknown;
}
interface ReplyMessage {
  kind: 'reply';
  id: number;
  ok: boolean;
  value?: unknown;
  error?: string;
}
interface EventMessage {
  kind: 'event';
  name: string;
  data: unknown;
}
type WorkerMessage = ReplyMessage | EventMessage | { kind: 'ready' };

const STDERR_TAIL_BYTES = 8 * 1024;
/** A worker that never says it is ready (tsx compile, a failing import) is killed after this. */
const DEFAULT_START_TIMEOUT_MS = 30_000;
const DEFAULT_CALL_TIMEOUT_MS = 120_000;
const tsxLoader = import.meta.resolve('tsx');

/**
 * Worker scripts bundled once per run (esbuild, packages left external): a plain `node` child then
 * starts in about half the time and memory of one under the tsx loader, which counts when a bench
 * starts 32 of them. The bundle lives in bench/results/, two levels below the repo like
 * bench/agent/, so `new URL('../../dist/', import.meta.url)` inside it still finds the build.
 */
const bundles = new Map<string, Promise<string>>();
function bundled(script: string): Promise<string> {
  let p = bundles.get(script);
  if (!p) {
    const out = path.join(RESULTS_DIR, `.worker-${path.basename(script, '.ts')}-${process.pid}.mjs`);
    p = (async () => {
      mkdirSync(RESULTS_DIR, { recursive: true });
      await build({ entryPoints: [script], outfile: out, bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', sourcemap: 'inline', logLevel: 'silent' });
      process.once('exit', () => {
        try {
          unlinkSync(out);
        } catch {
          // already gone
        }
      });
      return out;
    })();
    bundles.set(script, p);
  }
  return p;
}

export interface WorkerHandle {
  readonly pid: number;
  readonly label: string;
  call<T>(method: string, params?: unknown, timeoutMs?: number): Promise<T>;
  /** Events the worker emits with `emit(name, data)`. */
  onEvent(listener: (name: string, data: unknown) => void): void;
  /** Resolves when the process has exited (whoever ended it). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  stderrTail(): string;
  /** Asks it to close (its `close` handler runs), then SIGKILL after `graceMs`. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartWorkerOptions {
  args?: string[];
  nodeArgs?: string[];
  env?: NodeJS.ProcessEnv;
  startTimeoutMs?: number;
  /** Prefix for the worker's stderr lines, which are passed on to ours; null keeps them quiet (tail only). */
  stderrPrefix?: string | null;
  /** false: run the .ts under the tsx loader instead of a bundle (e.g. to debug with live sources). */
  bundle?: boolean;
}

export async function startWorker(scriptPath: string, label: string, options: StartWorkerOptions = {}): Promise<WorkerHandle> {
  const source = scriptPath.startsWith('file:') ? fileURLToPath(scriptPath) : scriptPath;
  const useBundle = options.bundle !== false;
  const script = useBundle ? await bundled(source) : source;
  const child: ChildProcess = fork(script, options.args ?? [], {
    execArgv: [...(options.nodeArgs ?? []), ...(useBundle ? ['--enable-source-maps'] : ['--import', tsxLoader])],
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    // Typed arrays and Maps cross intact (samples, payload sizes).
    serialization: 'advanced',
  });
  void trackChild(child);
  let stderr = '';
  const prefix = options.stderrPrefix === undefined ? `[${label}] ` : options.stderrPrefix;
  let partial = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_TAIL_BYTES);
    if (prefix === null) return;
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) process.stderr.write(`${prefix}${line}\n`);
  });
  // stdout is the worker's own business (child processes of its own may print there); keep it drained.
  child.stdout!.resume();

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal, at: performance.timeOrigin + performance.now() }));
    child.once('error', () => {
      if (child.pid === undefined) resolve({ code: null, signal: null, at: performance.timeOrigin + performance.now() });
    });
  });
  let nextId = 1;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  const listeners: ((name: string, data: unknown) => void)[] = [];
  let ready!: () => void;
  const readyP = new Promise<void>((resolve) => (ready = resolve));
  child.on('message', (raw) => {
    const msg = raw as WorkerMessage;
    if (msg.kind === 'ready') ready();
    else if (msg.kind === 'event') for (const l of listeners) l(msg.name, msg.data);
    else if (msg.kind === 'reply') {
      const p = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.ok) p?.resolve(msg.value);
      else p?.reject(new Error(`${label}: ${msg.error ?? 'failed'}`));
    }
  });
  void exited.then(({ code, signal }) => {
    for (const p of pending.values()) p.reject(new Error(`${label} (pid ${child.pid}) exited (code ${code}, signal ${signal}) during a call:\n${stderr.slice(-1500)}`));
    pending.clear();
  });

  const startTimeout = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  try {
    await withTimeout(Promise.race([readyP, exited.then(({ code, signal }) => Promise.reject(new Error(`exited (code ${code}, signal ${signal}) before it was ready:\n${stderr}`)))]), startTimeout, `${label} to start`);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${label}: ${(err as Error).message}`);
  }

  let stopping: Promise<void> | null = null;
  return {
    pid: child.pid ?? -1,
    label,
    exited,
    call<T>(method: string, params?: unknown, timeoutMs = DEFAULT_CALL_TIMEOUT_MS): Promise<T> {
      if (!child.connected) return Promise.reject(new Error(`${label}: not running`));
      const id = nextId++;
      const reply = new Promise<unknown>((resolve, reject) => pending.set(id, { resolve, reject }));
      child.send({ kind: 'call', id, method, params } satisfies CallMessage);
      return withTimeout(reply, timeoutMs, `${label}.${method}`).finally(() => pending.delete(id)) as Promise<T>;
    },
    onEvent(listener) {
      listeners.push(listener);
    },
    stderrTail: () => stderr,
    stop(graceMs = 10_000) {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        // Disconnecting is the "close now" signal (see serveWorker); it also works while a call hangs.
        if (child.connected) child.disconnect();
        try {
          await withTimeout(exited, graceMs, `${label} (pid ${child.pid}) to exit`);
        } catch {
          child.kill('SIGKILL');
          await withTimeout(exited, 2_000, `${label} to die after SIGKILL`).catch(() => undefined);
        }
      })();
      return stopping;
    },
  };
}

export type WorkerMethods = Record<string, (params: never) => unknown>;

/**
 * Worker side: answers the parent's calls with `methods`, runs `close` when the parent disconnects
 * (or dies), then exits. `close` should release everything; the exit is forced 5 s later regardless.
 */
export function serveWorker(methods: WorkerMethods, close: () => Promise<void> = async () => undefined): void {
  if (!process.send) throw new Error('serveWorker: not started with an IPC channel (use startWorker)');
  const send = (m: WorkerMessage): void => {
    if (process.connected) process.send?.(m);
  };
  process.on('message', (raw) => {
    const msg = raw as CallMessage;
    if (msg?.kind !== 'call') return;
    const method = methods[msg.method];
    void (async () => {
      try {
        if (!method) throw new Error(`unknown method ${msg.method}`);
        const value = await method(msg.params as never);
        send({ kind: 'reply', id: msg.id, ok: true, value });
      } catch (err) {
        send({ kind: 'reply', id: msg.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      }
    })();
  });
  let closing = false;
  process.on('disconnect', () => {
    if (closing) return;
    closing = true;
    const hard = setTimeout(() => process.exit(0), 5_000);
    hard.unref();
    close()
      .catch((err: unknown) => process.stderr.write(`close failed: ${String(err)}\n`))
      .finally(() => process.exit(0));
  });
  send({ kind: 'ready' });
}

/** Worker side: an event for the parent's `onEvent` listeners (progress, "all linked", ...). */
export function emit(name: string, data: unknown): void {
  if (process.connected) process.send?.({ kind: 'event', name, data } satisfies EventMessage);
}
