/**
 * Debian's coturn (`turnserver`) for loopback tests and benches: the flags (relay on 127.0.0.1
 * only, loopback peers allowed, static long-term credentials), the install probe, and the relayed
 * byte count read from its "peer usage" log lines. Shared by test/helpers/coturn.ts and
 * bench/servers/coturn.ts, which start and stop the process their own way.
 */
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** `turnserver --version`, or why it cannot run. */
export function coturnVersion(): { version: string } | { missing: string } {
  const r = spawnSync('turnserver', ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error) return { missing: `\`turnserver\` is not on PATH (${(r.error as NodeJS.ErrnoException).code ?? r.error.message}); install Debian's coturn` };
  if (r.status !== 0) return { missing: `\`turnserver --version\` exited ${r.status}: ${(r.stderr || r.stdout).trim().slice(0, 200)}` };
  return { version: (r.stdout || r.stderr).trim().split('\n')[0] ?? '?' };
}

/** A free TCP/UDP port number on 127.0.0.1 (for coturn's listening port). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** turnserver's command line: listening on `port`, state files in `dir`. */
export function coturnArgs(port: number, username: string, password: string, dir: string): string[] {
  const relayBase = 40000 + (port % 20000);
  return [
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
  ];
}

/** Bytes coturn relayed between allocations and their peers, from its "peer usage" log lines. */
export function relayedBytes(log: string): number {
  let total = 0;
  for (const m of log.matchAll(/peer usage: .*?rb=(\d+), sp=\d+, sb=(\d+)/g)) total += Number(m[1]) + Number(m[2]);
  return total;
}
