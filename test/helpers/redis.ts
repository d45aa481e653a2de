/**
 * A real redis-server (Debian's package; Valkey's valkey-server works too) on a free loopback
 * port, for the cluster tests and the cluster bench: start, stop, kill, restart on the same port.
 * No persistence, so a restart comes back empty, like a Redis that lost its data. No vitest
 * imports, so benches and child processes can use it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { waitUntil, within } from './wait.js';

const CANDIDATES = ['redis-server', 'valkey-server'];

function which(command: string): string | null {
  const found = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' });
  const out = found.stdout.trim();
  return found.status === 0 && out ? out : null;
}

/** Path of the server binary, or null. */
export const REDIS_SERVER_BIN: string | null = CANDIDATES.map(which).find((p) => p !== null) ?? null;

/** Why cluster tests cannot run here, or null when they can. */
export function redisUnavailableReason(): string | null {
  return REDIS_SERVER_BIN ? null : 'redis-server (or valkey-server) is not installed; `apt-get install redis-server` (.ci/run does)';
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** True when something answers PING with PONG on the port. */
export function pingRedis(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let answer = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => {
      answer += d.toString();
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
    });
  });
}

export class RedisServer {
  private child: ChildProcess | null = null;
  private output = '';
  private readonly dir = mkdtempSync(path.join(tmpdir(), 'rtc-redis-'));
  private closed = false;

  private constructor(readonly port: number) {}

  /** Starts a server on a free port (retrying another port if that one got taken meanwhile). */
  static async start(): Promise<RedisServer> {
    if (!REDIS_SERVER_BIN) throw new Error(redisUnavailableReason() ?? 'no redis-server');
    let lastError: unknown;
    for (let attempt = 0; attempt < 5; attempt++) {
      const server = new RedisServer(await freePort());
      try {
        await server.launch();
        return server;
      } catch (err) {
        lastError = err;
        await server.close();
      }
    }
    throw lastError;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** What the server printed (for failure messages). */
  log(): string {
    return this.output.slice(-4000);
  }

  private async launch(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'];
    args.push('--dir', this.dir, '--protected-mode', 'no', '--loglevel', 'warning', '--databases', '16');
    const child = spawn(REDIS_SERVER_BIN as string, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout!.on('data', (d: Buffer) => (this.output = (this.output + d.toString()).slice(-16_000)));
    child.stderr!.on('data', (d: Buffer) => (this.output = (this.output + d.toString()).slice(-16_000)));
    await waitUntil(
      async () => {
        if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode}): ${this.output}`);
        return pingRedis(this.port);
      },
      { what: `redis-server on port ${this.port} to answer PING`, timeoutMs: 10_000, intervalMs: 25 },
    );
  }

  /** Kills the server at once (SIGKILL), as a crash would. */
  async kill(): Promise<void> {
    await this.end('SIGKILL');
  }

  /** Freezes the server (SIGSTOP): connections stay open, nothing is answered. */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  /** Thaws a paused server (SIGCONT). */
  resume(): void {
    this.child?.kill('SIGCONT');
  }

  /** Stops the server (SIGTERM). */
  async stop(): Promise<void> {
    await this.end('SIGTERM');
  }

  private async end(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await within(exited, 10_000, `redis-server (pid ${child.pid}) to exit on ${signal}`).catch(() => child.kill('SIGKILL'));
  }

  /** Starts it again on the same port (empty: nothing is persisted). */
  async start(): Promise<void> {
    if (this.running) return;
    await this.launch();
  }

  /** Kills (SIGKILL) and starts it again on the same port. */
  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }

  /** Stops it for good and removes its directory. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.resume();
    await this.end('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}
