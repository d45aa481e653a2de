/**
 * Starts a server in its own Node process and reads its URL from the first stdout line. Servers
 * under test get a process (and so a core) of their own, the same way for every subject, so the
 * clients in the bench process never share an event loop with the server they measure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { withTimeout } from './async.js';

export interface ServerChild {
  url: string;
  pid: number;
  /** Last stderr output of the child, for error reports. */
  stderrTail(): string;
  /** Asks the child to exit (SIGTERM, so --cpu-prof can write its profile), then SIGKILLs after a grace period. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartServerOptions {
  /** Extra node flags for the child, e.g. ['--cpu-prof', '--cpu-prof-dir=...']. */
  nodeArgs?: string[];
  args?: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  startTimeoutMs?: number;
}

const STDERR_TAIL_BYTES = 8 * 1024;
const tsxLoader = import.meta.resolve('tsx');

/** Every child we started, so an abort path can still kill them (by pid, never by name). */
const live = new Set<ChildProcess>();

export async function startServerChild(scriptPath: string, options: StartServerOptions = {}): Promise<ServerChild> {
  const script = scriptPath.startsWith('file:') ? fileURLToPath(scriptPath) : scriptPath;
  return startCommandChild(process.execPath, [...(options.nodeArgs ?? []), '--import', tsxLoader, script, ...(options.args ?? [])], script, options);
}

/**
 * Same contract for a server that is not a Node script (e.g. `dotnet some.dll`): own process, URL
 * on the first stdout line, stdin kept as a pipe (the server should exit when it closes), SIGTERM
 * then SIGKILL on stop. `label` names it in errors. `options.nodeArgs`/`args` are ignored here.
 */
export async function startCommandChild(command: string, argv: string[], label: string, options: StartServerOptions = {}): Promise<ServerChild> {
  const script = label;
  const child = spawn(command, argv, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    // stdin stays a pipe: the child exits when it closes, so a crashed bench leaves no orphan server.
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exited = trackChild(child);

  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_TAIL_BYTES);
  });

  const firstLine = new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => {
      // Keep draining stdout so a chatty child never blocks on a full pipe.
      lines.on('line', () => undefined);
      resolve(line.trim());
    });
    child.once('exit', (code, signal) =>
      reject(new Error(`server ${script} exited (code ${code}, signal ${signal}) before printing its URL:\n${stderr}`)),
    );
    child.once('error', reject);
  });

  let url: string;
  try {
    url = await withTimeout(firstLine, options.startTimeoutMs ?? 20_000, `server ${script} to print its URL`);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  if (!/^(https?|wss?):\/\/127\.0\.0\.1:\d+/.test(url)) {
    child.kill('SIGKILL');
    throw new Error(`server ${script} printed ${JSON.stringify(url)} instead of a 127.0.0.1 URL:\n${stderr}`);
  }

  return {
    url,
    pid: child.pid ?? -1,
    stderrTail: () => stderr,
    async stop(graceMs = 5_000): Promise<void> {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      try {
        await withTimeout(exited, graceMs, `server ${script} (pid ${child.pid}) to exit`);
      } catch {
        child.kill('SIGKILL');
        await withTimeout(exited, 2_000, `server ${script} (pid ${child.pid}) to die after SIGKILL`).catch(() => undefined);
      }
    },
  };
}

/**
 * Registers a child the bench spawned itself (e.g. turnserver, which prints no URL) so the abort
 * paths kill it too; resolves when it exits.
 */
export function trackChild(child: ChildProcess): Promise<void> {
  live.add(child);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
    // A spawn failure (e.g. ENOENT) emits 'error' and never 'exit'.
    child.once('error', () => {
      if (child.pid === undefined) resolve();
    });
  });
  void exited.then(() => live.delete(child));
  return exited;
}

/** Last-resort cleanup for abort paths. */
export function killAllServerChildren(): void {
  for (const child of live) child.kill('SIGKILL');
}

/**
 * For server scripts: exit cleanly on SIGTERM/SIGINT or when the parent closes our stdin (parent
 * gone). A clean exit is what lets `node --cpu-prof` write its profile.
 */
export function exitWhenParentSays(close: () => Promise<void>): void {
  let closing = false;
  const shutdown = (): void => {
    if (closing) return;
    closing = true;
    const hardStop = setTimeout(() => process.exit(0), 3_000);
    hardStop.unref();
    close()
      .catch((err: unknown) => console.error('close failed:', err))
      .finally(() => process.exit(0));
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  process.stdin.on('end', shutdown);
  process.stdin.on('error', shutdown);
  process.stdin.resume();
}
