/**
 * Building and starting interop/aspnet-hub, shared by its interop test and the aspnet-relay bench:
 * the dotnet environment (nothing may outlive a run), the SDK probe, the cached Release build and
 * the command line that starts the hub on 127.0.0.1 port 0 (its first stdout line is the URL).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ASPNET_DIR = fileURLToPath(new URL('../aspnet-hub/', import.meta.url));
export const ASPNET_DLL = join(ASPNET_DIR, 'bin', 'Release', 'net10.0', 'RtcAgent.AspNetHub.dll');
/** A first build takes ~8 s here; leave room for a slow, loaded CI machine. */
export const ASPNET_BUILD_TIMEOUT_MS = 180_000;

/** No MSBuild server, node reuse or compiler server: the build must leave nothing running. */
export const DOTNET_ENV: NodeJS.ProcessEnv = {
  ...process.env,
  DOTNET_CLI_TELEMETRY_OPTOUT: '1',
  DOTNET_NOLOGO: '1',
  DOTNET_SKIP_FIRST_TIME_EXPERIENCE: '1',
  DOTNET_CLI_USE_MSBUILD_SERVER: '0',
  MSBUILDDISABLENODEREUSE: '1',
  UseSharedCompilation: 'false',
};

/** `dotnet --version`, or why there is no usable SDK. */
export function probeDotnet(): { version: string } | { missing: string } {
  const probe = spawnSync('dotnet', ['--version'], { encoding: 'utf8', env: DOTNET_ENV, timeout: 30_000 });
  if (probe.error) return { missing: `\`dotnet\` is not on PATH (${(probe.error as NodeJS.ErrnoException).code ?? probe.error.message})` };
  if (probe.status !== 0) return { missing: `\`dotnet --version\` failed (no .NET SDK?): ${(probe.stderr || probe.stdout).trim().slice(0, 200)}` };
  return { version: probe.stdout.trim() };
}

/** Newest modification time of the project's sources (not bin/ or obj/). */
function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'bin' || entry.name === 'obj') continue;
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** The cached DLL is newer than every source: no build needed. */
export function aspNetHubUpToDate(): boolean {
  try {
    return statSync(ASPNET_DLL).mtimeMs >= newestSource(ASPNET_DIR);
  } catch {
    return false;
  }
}

/** Held (a directory: mkdir is atomic) by the one process building; the others wait for it. */
const BUILD_LOCK = join(ASPNET_DIR, 'obj', '.rtc-agent-build.lock');
/** How often a process that found the lock taken looks again (a build takes seconds). */
const BUILD_LOCK_POLL_MS = 250;

/**
 * Builds the hub unless the cached build is up to date. Test files run in parallel (vitest), and
 * two `dotnet build`s in one project directory break each other: one process builds under a
 * lock, the others wait for it and then use its build. A lock older than the build timeout is
 * taken for one a killed run left behind.
 */
export async function ensureAspNetHubBuilt(onChild?: (child: ChildProcess) => void): Promise<void> {
  mkdirSync(join(ASPNET_DIR, 'obj'), { recursive: true });
  const deadline = Date.now() + 2 * ASPNET_BUILD_TIMEOUT_MS;
  while (!aspNetHubUpToDate()) {
    try {
      mkdirSync(BUILD_LOCK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (Date.now() - lockAgeFrom() > ASPNET_BUILD_TIMEOUT_MS) rmSync(BUILD_LOCK, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error('another process has been building interop/aspnet-hub for too long');
      else await sleep(BUILD_LOCK_POLL_MS);
      continue;
    }
    try {
      if (!aspNetHubUpToDate()) await buildAspNetHub(onChild);
    } finally {
      rmSync(BUILD_LOCK, { recursive: true, force: true });
    }
  }
}

/** When the build lock was taken (ms); now if it just went away. */
function lockAgeFrom(): number {
  try {
    return statSync(BUILD_LOCK).mtimeMs;
  } catch {
    return Date.now();
  }
}

/** `dotnet build -c Release` with a deadline; `onChild` lets a caller track the process. */
export function buildAspNetHub(onChild?: (child: ChildProcess) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const args = ['build', '-c', 'Release', '-nodeReuse:false', '-p:UseSharedCompilation=false', '--nologo', '-v:q'];
    const child = spawn('dotnet', args, { cwd: ASPNET_DIR, env: DOTNET_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    onChild?.(child);
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-8000)));
    child.stderr.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-8000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), ASPNET_BUILD_TIMEOUT_MS - 5_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) {
        // MSBuild leaves an up-to-date DLL untouched (e.g. after a README edit): mark it fresh so the
        // next run skips the build.
        const now = new Date();
        utimesSync(ASPNET_DLL, now, now);
        resolve();
      } else reject(new Error(`dotnet build failed (${signal ?? `exit ${code}`}):\n${output.slice(-4000)}`));
    });
  });
}

/** Arguments for `dotnet` that start the built hub on 127.0.0.1 port 0; it exits when stdin closes. */
export function aspNetHubArgs(extra: string[] = []): string[] {
  return [ASPNET_DLL, '--urls', 'http://127.0.0.1:0', '--StopWhenStdinCloses', 'true', '--Logging:LogLevel:Default', 'Warning', ...extra];
}
