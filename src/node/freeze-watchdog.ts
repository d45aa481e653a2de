/**
 * Ends a process whose JavaScript thread has stopped for good. libdatachannel can deadlock in
 * native code on a TURN-relayed DTLS setup (native-notes.md, "TURN: a DTLS setup that deadlocks
 * the process"); the next call into the binding then blocks the event loop forever, so no timer,
 * signal handler or `close()` runs again. A bot under a supervisor, a CI job or a test run is
 * better off dead with a message than hung: a worker thread, which keeps running, watches a
 * counter the main thread bumps and kills the process (SIGKILL, the only signal that needs no
 * JavaScript) once it has not moved for `freezeMs`.
 *
 * A process that is stopped as a whole (SIGSTOP, a suspended VM) stops the worker too; the worker
 * notices the gap in its own ticks and does not count it as a freeze.
 */
import { Worker } from 'node:worker_threads';

/** Far above any GC pause or a loaded machine's hiccup; a native deadlock never ends. */
export const DEFAULT_FREEZE_KILL_MS = 60_000;
/** How often the main thread proves it is alive. */
const BEAT_INTERVAL_MS = 250;
/** How often the worker looks; a tick much later than this means the whole process was stopped. */
const CHECK_INTERVAL_MS = 500;

export interface FreezeWatchdogOptions {
  /** Frozen this long, the process is killed; default DEFAULT_FREEZE_KILL_MS. */
  freezeMs?: number;
  /** Written to stderr, followed by the current label, just before the kill. */
  message: string;
  /** A file to append one line to (the label) before the kill, for a supervisor to read. */
  appendTo?: string;
}

export interface FreezeWatchdog {
  /** What the process is doing now; part of the message if it freezes. */
  setLabel(label: string): void;
  /** Stops watching; idempotent. */
  close(): void;
}

// Plain CommonJS: the worker runs from a string, so it needs no file on disk and no loader.
const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const beat = new Int32Array(workerData.beat);
let label = '';
let last = Atomics.load(beat, 0);
let frozenMs = 0;
let lastTick = Date.now();
parentPort.on('message', (m) => { label = String(m); });
setInterval(() => {
  const now = Date.now();
  const gap = now - lastTick;
  lastTick = now;
  const value = Atomics.load(beat, 0);
  if (value !== last) { last = value; frozenMs = 0; return; }
  // A late tick: this thread was stopped too (SIGSTOP of the process), which is no freeze.
  if (gap > 4 * ${CHECK_INTERVAL_MS}) { frozenMs = 0; return; }
  frozenMs += gap;
  if (frozenMs < workerData.freezeMs) return;
  const line = workerData.message + (label ? ' [' + label + ']' : '');
  try { fs.writeSync(2, line + '\\n'); } catch {}
  if (workerData.appendTo) { try { fs.appendFileSync(workerData.appendTo, JSON.stringify({ pid: process.pid, label }) + '\\n'); } catch {} }
  process.kill(process.pid, 'SIGKILL');
}, ${CHECK_INTERVAL_MS});
`;

export function startFreezeWatchdog(options: FreezeWatchdogOptions): FreezeWatchdog {
  const beat = new Int32Array(new SharedArrayBuffer(4));
  const timer = setInterval(() => Atomics.add(beat, 0, 1), BEAT_INTERVAL_MS);
  timer.unref();
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { beat: beat.buffer, freezeMs: options.freezeMs ?? DEFAULT_FREEZE_KILL_MS, message: options.message, appendTo: options.appendTo },
    // Its own small heap: it holds a counter and a string.
    resourceLimits: { maxOldGenerationSizeMb: 8 },
    stdout: false,
    stderr: false,
  });
  // Never the reason the process stays up.
  worker.unref();
  worker.on('error', () => undefined);
  let closed = false;
  return {
    setLabel(label) {
      if (!closed) worker.postMessage(label);
    },
    close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      void worker.terminate();
    },
  };
}
