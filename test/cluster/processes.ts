/**
 * Real `rtc-agent hub --redis` processes (the built dist/ CLI) for the cluster tests that kill a
 * hub with SIGKILL, and a direct Redis client to look at what the cluster stored.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';
import { createClient } from 'redis';
import { within } from '../helpers/wait.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface HubProcess {
  url: string;
  child: ChildProcess;
  stderr(): string;
  /** SIGKILL, and resolves once the process is gone. */
  kill(): Promise<void>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs `rtc-agent hub --port 0 ...args` and resolves with the URL it prints; killed when the test ends. */
export async function spawnHub(args: string[], env: Record<string, string> = {}): Promise<HubProcess> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RTC_AGENT_')));
  const child = spawn(process.execPath, ['bin/rtc-agent.js', 'hub', '--port', '0', '--log-level', 'warn', ...args], {
    cwd: ROOT,
    env: { ...clean, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-20_000)));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exit;
    }
  });
  const firstLine = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    void exit.then(({ code, signal }) => reject(new Error(`hub exited (${code ?? signal}) before printing its URL: ${err}`)));
  });
  const url = await within(firstLine, 20_000, 'the hub process to print its URL');
  return {
    url: url.trim(),
    child,
    stderr: () => err,
    exit,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await within(exit, 10_000, 'the hub process to die');
    },
  };
}

/** Runs the CLI to its end (for startup failures); its exit code and stderr. */
export async function runHubToExit(args: string[], env: Record<string, string> = {}, ms = 30_000): Promise<{ code: number | null; stderr: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RTC_AGENT_')));
  const child = spawn(process.execPath, ['bin/rtc-agent.js', 'hub', '--port', '0', ...args], { cwd: ROOT, env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await within(new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c))), ms, 'the hub command to exit');
  return { code, stderr };
}

/** A plain node-redis client on the test's Redis, closed when the test ends. */
type RawRedis = ReturnType<typeof createRaw>;
const createRaw = (url: string) => createClient({ url });

export async function rawRedis(url: string): Promise<RawRedis> {
  const client = createRaw(url);
  client.on('error', () => undefined);
  await client.connect();
  onTestFinished(() => client.destroy());
  return client;
}
