/** Debian's coturn on loopback, with static long-term credentials, for TURN tests. */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { stunBinding } from '../../src/util/stun-client.js';

export const hasCoturn = spawnSync('turnserver', ['--version']).status === 0;

export interface Coturn {
  url: string;
  username: string;
  password: string;
  log(): string;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts turnserver on 127.0.0.1 (relaying on loopback only); stopped when the test ends. */
export async function startCoturn(username = 'rtc', password = 'relay-secret'): Promise<Coturn> {
  const port = await freePort();
  const relayBase = 40000 + (port % 20000);
  const dir = mkdtempSync(join(tmpdir(), 'coturn-'));
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
      `--userdb=${join(dir, 'turndb')}`,
      `--pidfile=${join(dir, 'turn.pid')}`,
      '--log-file=stdout',
      '--simple-log',
      '--verbose',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
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
