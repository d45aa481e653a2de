/** What the CLI tests share: the built CLI in child processes, a clean environment, free ports. */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';
import { waitUntil } from '../helpers/wait.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = `${ROOT}bin/rtc-agent.js`;

/** Env for child commands: no RTC_AGENT_* from the shell, ICE on loopback, no color settings. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RTC_AGENT_') && k !== 'NO_COLOR' && k !== 'FORCE_COLOR'));
  return { ...env, RTC_AGENT_ICE_BIND_ADDRESS: '127.0.0.1', ...extra };
}

/** A loopback port nothing listens on (it was free a moment ago). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface Cli {
  child: ChildProcess;
  lines: string[];
  exit: Promise<number | string | null>;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first stdout line matching, failing after `ms` (or when the child exits first). */
  waitFor(match: (line: string) => boolean, ms?: number): Promise<string>;
}

/** Runs `rtc-agent …`; killed when the test ends. `exit` is the code, or `SIGNAL: stderr tail`. */
export function cli(args: string[], options: { env?: NodeJS.ProcessEnv; stdin?: 'pipe' | 'ignore' } = {}): Cli {
  const child = spawn(process.execPath, [BIN, ...args], { env: options.env ?? cleanEnv(), cwd: ROOT, stdio: [options.stdin ?? 'pipe', 'pipe', 'pipe'] });
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines: string[] = [];
  const waiters: (() => void)[] = [];
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  createInterface({ input: child.stdout! }).on('line', (l) => {
    lines.push(l);
    for (const w of waiters.splice(0)) w();
  });
  const exit = new Promise<number | string | null>((resolve) => child.once('close', (code, signal) => resolve(code ?? `${signal}: ${err.slice(-1500)}`)));
  let exited = false;
  void exit.then(() => {
    exited = true;
    for (const w of waiters.splice(0)) w();
  });
  return {
    child,
    lines,
    exit,
    stdout: () => out,
    stderr: () => err,
    async waitFor(match, ms = 20_000) {
      const deadline = performance.now() + ms;
      for (;;) {
        const hit = lines.find(match);
        if (hit !== undefined) return hit;
        if (exited) throw new Error(`rtc-agent ${args.join(' ')} exited first; stdout ${JSON.stringify(lines)}; stderr ${err.slice(-1500)}`);
        const left = deadline - performance.now();
        if (left <= 0) throw new Error(`no matching line within ${ms} ms; stdout ${JSON.stringify(lines)}; stderr ${err.slice(-1500)}`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
    },
  };
}

/** Runs `rtc-agent …` to the end (stdin from `input`, else closed). */
export async function run(args: string[], options: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<{ code: number | string | null; stdout: string; stderr: string }> {
  const c = cli(args, { env: options.env ?? cleanEnv() });
  c.child.stdin!.end(options.input ?? '');
  const code = await c.exit;
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export const hasTmux = spawnSync('tmux', ['-V']).status === 0;
/** Said by each file whose terminal tests are skipped, so the run shows why. */
export const NO_TMUX = 'terminal tests skipped: tmux is not installed (apt-get install tmux; .ci/run does)';

/** A real terminal (a detached tmux session) running a command, read as a person would read it. */
export class Terminal {
  private constructor(readonly name: string) {}

  static open(name: string, command: string, env: NodeJS.ProcessEnv = cleanEnv()): Terminal {
    // A tmux server that is already running gives new sessions its own environment, not the
    // client's: so the command gets exactly `env` through env -i.
    const vars = Object.entries(env).flatMap(([k, v]) => (v === undefined || k === 'TMUX' ? [] : [shellQuote(`${k}=${v}`)]));
    const wrapped = `env -i ${vars.join(' ')} sh -c ${shellQuote(command)}`;
    // remain-on-exit: the pane stays after the command ends, so its last words can still be read
    // (a chat that prints a line and exits at once used to take its screen with it).
    execFileSync('tmux', ['new-session', '-d', '-s', name, '-x', '160', '-y', '45', wrapped, ';', 'set-option', '-w', '-t', name, 'remain-on-exit', 'on'], { env, cwd: ROOT });
    const t = new Terminal(name);
    onTestFinished(() => {
      spawnSync('tmux', ['kill-session', '-t', name]);
    });
    return t;
  }

  type(text: string): void {
    execFileSync('tmux', ['send-keys', '-t', this.name, '-l', text]);
    execFileSync('tmux', ['send-keys', '-t', this.name, 'Enter']);
  }

  /** Sends a key by its tmux name (C-c, C-d). */
  key(name: string): void {
    execFileSync('tmux', ['send-keys', '-t', this.name, name]);
  }

  /**
   * What the screen shows; with `escapes`, the color and style sequences too. Once the command has
   * ended, with the scrollback: tmux's "Pane is dead" line scrolls the top line off.
   */
  screen(escapes = false): string {
    const history = this.ended() ? ['-S', '-'] : [];
    return execFileSync('tmux', ['capture-pane', '-p', ...(escapes ? ['-e'] : []), ...history, '-t', this.name]).toString();
  }

  /** Waits until the screen matches (polling the terminal, as a person looking at it would). */
  async waitFor(pattern: RegExp, ms = 15_000): Promise<string> {
    let screen = '';
    try {
      return await waitUntil(() => ((screen = this.screen()), pattern.test(screen) ? screen : undefined), { what: `terminal ${this.name} to show ${pattern}`, timeoutMs: ms, intervalMs: 100 });
    } catch (err) {
      throw new Error(`${(err as Error).message.replace(/ \(last value.*$/s, '')}; it shows:\n${screen}`);
    }
  }

  /** True while the command runs (its pane stays after it ends, see open()). */
  alive(): boolean {
    return spawnSync('tmux', ['has-session', '-t', this.name]).status === 0 && !this.ended();
  }

  private ended(): boolean {
    const r = spawnSync('tmux', ['display-message', '-p', '-t', this.name, '#{pane_dead}']);
    return r.status !== 0 || r.stdout.toString().trim() === '1';
  }
}
