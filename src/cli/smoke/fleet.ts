/**
 * The smoke test's worker processes: spawns them, keeps what each one reported (peers, paths,
 * messages, round trips), lets the runner wait for a condition over all of them, and always takes
 * them down again (close, then SIGKILL after a grace period).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { WorkerCommand, WorkerEvent } from './protocol.js';

const BIN = fileURLToPath(new URL('../../../bin/rtc-agent.js', import.meta.url));
const STDERR_TAIL = 4_000;

export interface PeerView {
  name: string;
  path: string;
  /** When (runner clock, ms) the path last became the expected one; undefined while it is not. */
  expectedAt: number | undefined;
}

export class Worker {
  readonly child: ChildProcess;
  connected: Extract<WorkerEvent, { ev: 'connected' }> | undefined;
  /** Runner clock when the agent was connected and started to join. */
  joinAt: number | undefined;
  peerId: string | undefined;
  readonly peers = new Map<string, PeerView>();
  /** Sequence numbers received, per sender peer id, in arrival order. */
  readonly received = new Map<string, number[]>();
  readonly rtt = new Map<string, { samples: number[]; agentRttMs?: number }>();
  sent: Extract<WorkerEvent, { ev: 'sent' }> | undefined;
  rttDone = false;
  error: Extract<WorkerEvent, { ev: 'error' }> | undefined;
  readonly warnings: string[] = [];
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** Set at shutdown: peers leaving because the test is over must not change the result. */
  frozen = false;
  readonly exited: Promise<void>;
  private stderr = '';

  constructor(
    readonly index: number,
    readonly name: string,
    private readonly expectedPath: string,
    private readonly clock: () => number,
    onChange: () => void,
    forwardStderr: NodeJS.WritableStream | undefined,
  ) {
    this.child = spawn(process.execPath, [...process.execArgv, BIN, 'smoke', '--worker'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdin!.on('error', () => undefined); // a worker that died cannot take commands; its exit says why
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-STDERR_TAIL);
      forwardStderr?.write(d.toString().replace(/^(?=.)/gm, `[${name}] `));
    });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      let e: WorkerEvent;
      try {
        e = JSON.parse(line) as WorkerEvent;
      } catch {
        return;
      }
      this.onEvent(e);
      onChange();
    });
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        onChange();
        resolve();
      }),
    );
    this.child.once('error', (err) => {
      this.stderr += `\n${err.message}`;
    });
  }

  private onEvent(e: WorkerEvent): void {
    const now = this.clock();
    if (this.frozen && (e.ev === 'peer' || e.ev === 'left' || e.ev === 'path')) return;
    switch (e.ev) {
      case 'connected':
        this.connected = e;
        this.joinAt = now;
        return;
      case 'ready':
        this.peerId = e.peerId;
        return;
      case 'peer':
        this.peers.set(e.peerId, { name: e.name, path: e.path, expectedAt: e.path === this.expectedPath ? now : undefined });
        return;
      case 'left':
        this.peers.delete(e.peerId);
        return;
      case 'path': {
        const p = this.peers.get(e.peerId);
        if (!p) return;
        p.path = e.to;
        p.expectedAt = e.to === this.expectedPath ? now : undefined;
        return;
      }
      case 'msg': {
        const list = this.received.get(e.from) ?? [];
        list.push(e.seq);
        this.received.set(e.from, list);
        return;
      }
      case 'sent':
        this.sent = e;
        return;
      case 'rtt':
        this.rtt.set(e.peerId, e.agentRttMs !== undefined ? { samples: e.samples, agentRttMs: e.agentRttMs } : { samples: e.samples });
        return;
      case 'rtt-done':
        this.rttDone = true;
        return;
      case 'error':
        this.error = e;
        return;
      case 'warn':
        if (this.warnings.length < 20) this.warnings.push(`${e.code}: ${e.message}`);
        return;
      case 'closed':
        return;
    }
  }

  command(cmd: WorkerCommand): void {
    if (this.child.stdin?.writable) this.child.stdin.write(`${JSON.stringify(cmd)}\n`);
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  stderrTail(): string {
    return this.stderr.trim().split('\n').slice(-5).join('\n');
  }
}

export type WaitResult = 'ok' | 'timeout' | 'failed' | 'aborted';

export class Fleet {
  readonly workers: Worker[] = [];
  private waiters = new Set<() => void>();
  readonly started = performance.now();

  constructor(count: number, expectedPath: string, forwardStderr?: NodeJS.WritableStream) {
    for (let i = 1; i <= count; i++) {
      this.workers.push(new Worker(i, `smoke-${i}`, expectedPath, () => this.now(), () => this.changed(), forwardStderr));
    }
  }

  /** ms since the fleet started. */
  now(): number {
    return performance.now() - this.started;
  }

  private changed(): void {
    for (const w of [...this.waiters]) w();
  }

  /** A worker failed: reported a fatal error or exited while it should be running. */
  failure(): Worker | undefined {
    return this.workers.find((w) => w.error !== undefined || w.exit !== undefined);
  }

  /** Resolves when `condition` holds over the workers, one fails, `deadline` (runner clock) passes, or `signal` aborts. */
  waitFor(condition: () => boolean, deadline: number, signal: AbortSignal): Promise<WaitResult> {
    return new Promise((resolve) => {
      const check = (): void => {
        let result: WaitResult | undefined;
        if (signal.aborted) result = 'aborted';
        else if (condition()) result = 'ok';
        else if (this.failure()) result = 'failed';
        else if (this.now() >= deadline) result = 'timeout';
        if (!result) return;
        clearTimeout(timer);
        signal.removeEventListener('abort', check);
        this.waiters.delete(check);
        resolve(result);
      };
      const timer = setTimeout(check, Math.max(0, deadline - this.now()));
      signal.addEventListener('abort', check);
      this.waiters.add(check);
      check();
    });
  }

  broadcast(cmd: WorkerCommand): void {
    for (const w of this.workers) w.command(cmd);
  }

  /** Asks every worker to close, waits up to `graceMs`, then kills what is left. Idempotent. */
  async shutdown(graceMs = 5_000): Promise<void> {
    for (const w of this.workers) w.frozen = true;
    for (const w of this.workers) {
      w.command({ cmd: 'close' });
      w.child.stdin?.end();
    }
    let timer: NodeJS.Timeout | undefined;
    const all = Promise.all(this.workers.map((w) => w.exited));
    await Promise.race([all, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    for (const w of this.workers) if (w.alive) w.child.kill('SIGKILL');
    await all;
  }
}
