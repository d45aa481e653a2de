/** Debian's coturn on loopback, with static long-term credentials, for TURN tests. */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { stunBinding } from '../../src/util/stun-client.js';
import { coturnArgs, coturnVersion, freePort } from '../../interop/support/coturn.js';

export const hasCoturn = !('missing' in coturnVersion());

export interface Coturn {
  url: string;
  username: string;
  password: string;
  log(): string;
}

/** Starts turnserver on 127.0.0.1 (relaying on loopback only); stopped when the test ends. */
export async function startCoturn(username = 'rtc', password = 'relay-secret'): Promise<Coturn> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'coturn-'));
  const child = spawn('turnserver', coturnArgs(port, username, password, dir), { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr.on('data', (d: Buffer) => (log += d.toString()));
  onTestFinished(async () => {
    child.kill('SIGTERM');
    await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)));
  });
  // Ready when it answers a STUN binding request (each probe times out on its own).
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`turnserver exited ${child.exitCode}: ${log.slice(-2000)}`);
    const ok = await stunBinding({ host: '127.0.0.1', port }, { timeoutMs: 300 }).then(
      () => true,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`turnserver not ready in 10 s: ${log.slice(-2000)}`);
  }
  return { url: `turn:127.0.0.1:${port}`, username, password, log: () => log };
}
