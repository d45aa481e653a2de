/** Helpers for daemon tests: the real CLI in child processes, raw HTTP over the control socket. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';
import { waitUntil } from '../helpers/wait.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = join(ROOT, 'bin/rtc-agent.js');

/** The environment children get: no RTC_AGENT_* from the shell, loopback ICE, quiet logs. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RTC_AGENT_') && k !== 'XDG_RUNTIME_DIR'));
  return { ...clean, RTC_AGENT_ICE_BIND_ADDRESS: '127.0.0.1', RTC_AGENT_LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'info', ...extra };
}

/** A private temp dir (0700, as mkdtemp makes it), removed after the test. */
export function useTmpDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rtc-daemon-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface Proc {
  child: ChildProcess;
  /** The first stdout line (the daemon's control address). */
  firstLine: Promise<string>;
  stdout(): string;
  stderr(): string;
  exit: Promise<number | null>;
  /** Resolves when stdout has a line matching `match`. */
  line(match: (line: string) => boolean, ms?: number): Promise<string>;
}

/** Runs `rtc-agent …` (or another command) as a child that is killed when the test ends. */
export function spawnProc(command: string, args: string[], env: NodeJS.ProcessEnv = childEnv(), stdin: 'ignore' | 'pipe' = 'ignore'): Proc {
  const child = spawn(command, args, { cwd: ROOT, env, stdio: [stdin, 'pipe', 'pipe'] });
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  const lines: string[] = [];
  const waiters: (() => void)[] = [];
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  createInterface({ input: child.stdout! }).on('line', (l) => {
    lines.push(l);
    for (const w of waiters.splice(0)) w();
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const line = async (match: (l: string) => boolean, ms = 15_000): Promise<string> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = lines.find(match);
      if (found !== undefined) return found;
      if (child.exitCode !== null) throw new Error(`${args.join(' ')} exited ${child.exitCode} first; stdout: ${out.slice(-1000)} stderr: ${err.slice(-1500)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching line within ${ms} ms; stdout: ${out.slice(-1500)} stderr: ${err.slice(-1500)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
        void exit.then(() => resolve());
      });
    }
  };
  const firstLine = line(() => true);
  firstLine.catch(() => undefined);
  return { child, firstLine, stdout: () => out, stderr: () => err, exit, line };
}

export function spawnCli(args: string[], env?: NodeJS.ProcessEnv, stdin: 'ignore' | 'pipe' = 'ignore'): Proc {
  return spawnProc(process.execPath, [BIN, ...args], env, stdin);
}

/** Runs a CLI command to completion (bounded); stdin text optional. */
export async function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; input?: string; ms?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawnCli(args, options.env, options.input === undefined ? 'ignore' : 'pipe');
  if (options.input !== undefined) proc.child.stdin!.end(options.input);
  const ms = options.ms ?? 15_000;
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    proc.exit,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`rtc-agent ${args.join(' ')} did not exit within ${ms} ms; stderr: ${proc.stderr()}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
  return { code, stdout: proc.stdout(), stderr: proc.stderr() };
}

/** Starts `rtc-agent daemon` on a socket in a fresh temp dir; resolves once it printed its address. */
export async function startDaemonProc(hubUrl: string, extra: string[] = [], env?: NodeJS.ProcessEnv): Promise<Proc & { socket: string; dir: string }> {
  const dir = useTmpDir();
  const socket = join(dir, 'd.sock');
  const proc = spawnCli(['daemon', '--hub', hubUrl, '--socket', socket, '--ice-bind-address', '127.0.0.1', '--name', 'daemon', ...extra], env);
  const first = await proc.firstLine;
  if (first !== socket) throw new Error(`daemon printed ${first}, expected ${socket}`);
  return { ...proc, socket, dir };
}

export interface Target {
  socketPath?: string;
  url?: string;
  token?: string;
}

function open(target: Target, method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const h: Record<string, string> = { ...headers };
    if (target.token !== undefined) h.Authorization = `Bearer ${target.token}`;
    if (body !== undefined) h['Content-Type'] ??= 'application/json';
    const req =
      target.socketPath !== undefined
        ? request({ socketPath: target.socketPath, path, method, headers: h, agent: false }, resolve)
        : request(new URL(path, target.url), { method, headers: h, agent: false }, resolve);
    req.on('error', reject);
    req.setTimeout(20_000, () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.end(body);
  });
}

/** One request; the reply parsed as JSON when it is JSON. */
export async function http(target: Target | string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; text: string; headers: IncomingMessage['headers'] }> {
  const t = typeof target === 'string' ? { socketPath: target } : target;
  const raw = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  const res = await open(t, method, path, raw, headers);
  let text = '';
  for await (const chunk of res) text += String(chunk);
  let parsed: any = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  return { status: res.statusCode ?? 0, body: parsed, text, headers: res.headers };
}

export interface EventReader {
  res: IncomingMessage;
  events: any[];
  /** Resolves with the first event (seen so far or later) matching `match`. */
  next(match: (e: any) => boolean, ms?: number): Promise<any>;
  ended: Promise<void>;
}

/** Opens GET /events and collects the NDJSON lines; resolves once the `ready` line arrived. */
export async function readEvents(target: Target | string, query = ''): Promise<EventReader> {
  const t = typeof target === 'string' ? { socketPath: target } : target;
  const res = await open(t, 'GET', `/events${query}`);
  res.on('error', () => undefined); // a dropped stream ends with 'aborted'; `ended` reports it
  onTestFinished(() => {
    res.destroy();
  });
  const events: any[] = [];
  const waiters: (() => void)[] = [];
  const ended = new Promise<void>((resolve) => {
    res.once('end', resolve);
    res.once('close', resolve);
    res.once('error', () => resolve());
    res.socket.once('close', () => resolve());
  });
  const rl = createInterface({ input: res });
  rl.on('error', () => undefined); // readline re-emits the stream's 'aborted'
  rl.on('line', (line) => {
    events.push(JSON.parse(line));
    for (const w of waiters.splice(0)) w();
  });
  const next = async (match: (e: any) => boolean, ms = 15_000): Promise<any> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = events.find(match);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`event not seen within ${ms} ms; got: ${JSON.stringify(events).slice(-2000)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  };
  await next((e) => e.type === 'ready', 10_000);
  return { res, events, next, ended };
}

export { within } from '../helpers/wait.js';

/** {@link waitUntil} for a check that returns a value (not undefined) once it holds. */
export async function eventually<T>(check: () => Promise<T | undefined>, ms: number, what: string): Promise<T> {
  const box = await waitUntil(async () => {
    const value = await check();
    return value === undefined ? undefined : { value };
  }, { timeoutMs: ms, what });
  return box.value;
}
