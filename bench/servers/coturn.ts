/**
 * Debian's coturn (`turnserver`) on 127.0.0.1 with static long-term credentials, for the TURN
 * bench. Same flags as test/helpers/coturn.ts (relay on loopback only, loopback peers allowed).
 * turnserver prints no URL, so it is not a startServerChild server: ready when it answers a STUN
 * binding request; tracked by lib/child.ts so the run's abort paths kill it too.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { sleep, withTimeout } from '../lib/async.js';
import { trackChild } from '../lib/child.js';

export interface Coturn {
  url: string;
  username: string;
  password: string;
  pid: number;
  version: string;
  /** Bytes coturn reports having relayed (sum of rb and sb of its "peer usage" log lines so far). */
  relayedBytes(): number;
  logTail(): string;
  stop(graceMs?: number): Promise<void>;
}

/** `turnserver --version`, or null when it is not installed. */
export function coturnVersion(): { version: string } | { missing: string } {
  const r = spawnSync('turnserver', ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error) return { missing: `\`turnserver\` is not on PATH (${(r.error as NodeJS.ErrnoException).code ?? r.error.message}); install Debian's coturn` };
  if (r.status !== 0) return { missing: `\`turnserver --version\` exited ${r.status}: ${(r.stderr || r.stdout).trim().slice(0, 200)}` };
  return { version: (r.stdout || r.stderr).trim().split('\n')[0] ?? '?' };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const TAIL_BYTES = 16 * 1024;
type StunBinding = (server: { host: string; port: number }, options?: { timeoutMs?: number }) => Promise<unknown>;

export async function startCoturn(username = 'rtc', password = 'relay-secret', startTimeoutMs = 10_000): Promise<Coturn> {
  const probe = coturnVersion();
  if ('missing' in probe) throw new Error(probe.missing);
  // The agent's own STUN client (dist/) for the readiness probe.
  const { stunBinding } = (await import(new URL('../../dist/util/stun-client.js', import.meta.url).href)) as { stunBinding: StunBinding };
  const port = await freePort();
  const relayBase = 40000 + (port % 20000);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rtc-agent-bench-coturn-'));
  const child = spawn(
    'turnserver',
    [
      '-n',
      '--listening-ip=127.0.0.1',
      '--relay-ip=127.0.0.1',
      `--listening-port=${port}`,
      `--min-port=${relayBase}`,
      `--max-port=${relayBase + 200}`,
      `--user=${username}:${password}`,
      '--realm=rtc-agent.test',
      '--lt-cred-mech',
      '--fingerprint',
      '--no-tls',
      '--no-dtls',
      '--no-cli',
      // Peers are on this machine, and coturn refuses loopback peers unless told otherwise.
      '--allow-loopback-peers',
      '--no-multicast-peers',
      `--userdb=${path.join(dir, 'turndb')}`,
      `--pidfile=${path.join(dir, 'turn.pid')}`,
      '--log-file=stdout',
      '--simple-log',
      '--verbose',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = trackChild(child);
  let tail = '';
  let partial = '';
  let relayed = 0;
  const onData = (d: Buffer): void => {
    const text = d.toString();
    tail = (tail + text).slice(-TAIL_BYTES);
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const m = /peer usage: .*?rb=(\d+), sp=\d+, sb=(\d+)/.exec(line);
      if (m) relayed += Number(m[1]) + Number(m[2]);
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  let spawnError: Error | null = null;
  child.once('error', (err) => (spawnError = err));

  const stop = async (graceMs = 5_000): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      try {
        await withTimeout(exited, graceMs, `turnserver (pid ${child.pid}) to exit`);
      } catch {
        child.kill('SIGKILL');
        await withTimeout(exited, 2_000, `turnserver (pid ${child.pid}) to die after SIGKILL`).catch(() => undefined);
      }
    }
    await rm(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    if (spawnError) {
      await stop();
      throw new Error(`turnserver failed to spawn: ${String(spawnError)}`);
    }
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`turnserver exited (code ${child.exitCode}, signal ${child.signalCode}) before answering STUN: ${tail.slice(-2000)}`);
    }
    const ok = await stunBinding({ host: '127.0.0.1', port }, { timeoutMs: 300 }).then(
      () => true,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`turnserver not answering STUN on 127.0.0.1:${port} within ${startTimeoutMs} ms: ${tail.slice(-2000)}`);
    }
    await sleep(50);
  }
  return {
    url: `turn:127.0.0.1:${port}`,
    username,
    password,
    pid: child.pid ?? -1,
    version: probe.version,
    relayedBytes: () => relayed,
    logTail: () => tail,
    stop,
  };
}
