/**
 * Debian's coturn (`turnserver`) on 127.0.0.1 with static long-term credentials, for the TURN
 * bench. Flags and log parsing are shared with the tests (interop/support/coturn.ts).
 * turnserver prints no URL, so it is not a startServerChild server: ready when it answers a STUN
 * binding request; tracked by lib/child.ts so the run's abort paths kill it too.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sleep, withTimeout } from '../lib/async.js';
import { trackChild } from '../lib/child.js';
import { coturnArgs, coturnVersion, freePort, relayedBytes } from '../../interop/support/coturn.js';

export { coturnVersion };

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

const TAIL_BYTES = 16 * 1024;
type StunBinding = (server: { host: string; port: number }, options?: { timeoutMs?: number }) => Promise<unknown>;

export async function startCoturn(username = 'rtc', password = 'relay-secret', startTimeoutMs = 10_000): Promise<Coturn> {
  const probe = coturnVersion();
  if ('missing' in probe) throw new Error(probe.missing);
  // The agent's own STUN client (dist/) for the readiness probe.
  const { stunBinding } = (await import(new URL('../../dist/util/stun-client.js', import.meta.url).href)) as { stunBinding: StunBinding };
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rtc-agent-bench-coturn-'));
  const child = spawn('turnserver', coturnArgs(port, username, password, dir), { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = trackChild(child);
  let tail = '';
  let partial = '';
  let relayed = 0;
  const onData = (d: Buffer): void => {
    const text = d.toString();
    tail = (tail + text).slice(-TAIL_BYTES);
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) relayed += relayedBytes(line);
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
