/**
 * Where the control socket lives and how it is claimed: a private directory (0700), a socket only
 * its owner may open (0600), stale sockets replaced, live ones refused. The socket's permissions
 * are the unix-socket mode's only access control, so they are checked, not assumed. In TCP mode,
 * each daemon's generated token gets its own file in that directory, named by its address.
 */
import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ErrorCode, RtcAgentError } from '../errors.js';

/** File name of the control socket inside its directory. */
export const DAEMON_SOCKET_NAME = 'daemon.sock';
/** How long the "is someone listening on this socket?" probe may take before we call it stale. */
export const DEFAULT_SOCKET_PROBE_MS = 1_000;

/** A failure to claim the control address; `code` is `EADDRINUSE` when another daemon holds it. */
export class DaemonAddressError extends Error {
  override readonly name = 'DaemonAddressError';
  constructor(
    message: string,
    readonly code: 'EADDRINUSE' | 'ENOTSOCK' | 'EACCES',
  ) {
    super(message);
  }
}

function uid(): number | string {
  return typeof process.getuid === 'function' ? process.getuid() : (process.env.USERNAME ?? 'user');
}

/**
 * The default directory of the control socket: `$XDG_RUNTIME_DIR/rtc-agent` (a per-user tmpfs on
 * systemd machines), else `<os.tmpdir()>/rtc-agent-<uid>`.
 */
export function defaultDaemonDir(env: NodeJS.ProcessEnv = process.env): string {
  const runtime = env.XDG_RUNTIME_DIR?.trim();
  if (runtime) return join(runtime, 'rtc-agent');
  return join(tmpdir(), `rtc-agent-${uid()}`);
}

/** The default control socket path; see {@link defaultDaemonDir}. */
export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(defaultDaemonDir(env), DAEMON_SOCKET_NAME);
}

/**
 * File name of the generated bearer token of the daemon listening on `host:port` (TCP mode), e.g.
 * `daemon-127.0.0.1-7070.token`. One file per address, so daemons on other ports never overwrite
 * each other's token, and only the daemon holding the port writes (or removes) its file. The host
 * is taken as written (`localhost` stays `localhost`), lowercased, with `:` of IPv6 as `_`.
 */
export function tokenFileName(host: string, port: number): string {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase().replace(/[^a-z0-9.-]/g, '_');
  return `daemon-${h}-${port}.token`;
}

/** Where the daemon on `host:port` writes its generated token: {@link tokenFileName} in {@link defaultDaemonDir}. */
export function daemonTokenPath(host: string, port: number, env: NodeJS.ProcessEnv = process.env): string {
  return join(defaultDaemonDir(env), tokenFileName(host, port));
}

/**
 * Makes the socket's directory if missing (0700). A directory we made, or the default one, must be
 * ours and private: other users could otherwise replace our socket with theirs.
 */
export async function ensurePrivateDir(dir: string, options: { enforce: boolean }): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (!options.enforce || process.platform === 'win32') return;
  const s = await stat(dir);
  const me = process.getuid?.();
  if (me !== undefined && s.uid !== me) {
    throw new DaemonAddressError(`${dir} belongs to another user (uid ${s.uid}); choose another path with --socket`, 'EACCES');
  }
  if ((s.mode & 0o077) !== 0) await chmod(dir, 0o700);
}

/** Resolves true if something accepts connections on the unix socket `path` (or on TCP `host:port`). */
export function socketIsLive(path: string | { host: string; port: number }, ms = DEFAULT_SOCKET_PROBE_MS): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = typeof path === 'string' ? connect({ path }) : connect({ host: path.host, port: path.port });
    const done = (live: boolean): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(live);
    };
    // A listener that does not accept within the probe time is hung, but it is still someone's.
    const timer = setTimeout(() => done(true), ms);
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/**
 * Prepares `path` for listening: makes its directory, removes a stale socket (no one listening),
 * refuses a live one or a file that is not a socket.
 */
export async function claimSocketPath(path: string, options: { enforceDir: boolean }): Promise<void> {
  await ensurePrivateDir(dirname(path), { enforce: options.enforceDir });
  let s;
  try {
    s = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!s.isSocket()) throw new DaemonAddressError(`${path} exists and is not a socket; remove it or choose another path with --socket`, 'ENOTSOCK');
  if (await socketIsLive(path)) throw new DaemonAddressError(`another daemon is running at ${path}`, 'EADDRINUSE');
  await rm(path, { force: true });
}

/** Loopback host names and addresses a TCP control listener may bind to. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(?:\.\d{1,3}){3}$/.test(h);
}

/** Parses `HOST:PORT` (IPv6 in brackets) for `--listen`; refuses anything but loopback. */
export function parseListenAddress(value: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new RtcAgentError(ErrorCode.CONFIG, `--listen '${value}': expected HOST:PORT, e.g. 127.0.0.1:7070 (port 0 picks a free one)`);
  const host = m[1]!.replace(/^\[|\]$/g, '');
  if (!isLoopbackHost(host)) {
    throw new RtcAgentError(ErrorCode.CONFIG, `--listen '${value}': the control API only listens on loopback (127.0.0.1, ::1, localhost); use a unix socket or an SSH tunnel to reach it remotely`);
  }
  return { host, port };
}

/** A fresh bearer token: 32 random bytes, base64url. */
export function generateToken(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Writes a token file only its owner can read (0600), making its directory private if needed. A
 * file already there (a daemon killed on this address left it) is replaced, not reused.
 */
export async function writeTokenFile(path: string, token: string): Promise<void> {
  await ensurePrivateDir(dirname(path), { enforce: true });
  await rm(path, { force: true });
  await writeFile(path, `${token}\n`, { mode: 0o600, flag: 'wx' });
}

/** Reads a token file (first line, trimmed); errors name the file, never its content. */
export async function readTokenFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new RtcAgentError(ErrorCode.CONFIG, `cannot read token file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  const token = text.split(/\r?\n/, 1)[0]!.trim();
  if (token === '') throw new RtcAgentError(ErrorCode.CONFIG, `token file ${path} is empty`);
  return token;
}
