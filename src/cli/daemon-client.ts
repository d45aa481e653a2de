/**
 * What the daemon's CLI clients (send, peers, status, events, stop) share: the --socket/--url/--token
 * flags, finding the daemon (and, for --url, the token file that daemon wrote for its address),
 * JSON requests over node:http (unix socket or loopback TCP), and the "no daemon running" case,
 * which gets its own exit code.
 */
import { existsSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { Command, Option } from 'commander';
import { daemonTokenPath, defaultDaemonDir, defaultSocketPath, readTokenFile } from '../daemon/paths.js';
import { ErrorCode, RtcAgentError, parseErrorCode } from '../errors.js';
import type { CliContext } from './context.js';
import { ExitCode } from './exit-codes.js';

/** How long a client waits for the daemon to answer a request (not the event stream). */
export const DEFAULT_CLIENT_TIMEOUT_MS = 60_000;

export interface ClientFlags {
  socket?: string;
  url?: string;
  token?: string;
  tokenFile?: string;
}

/** Where the daemon listens and how to authenticate. */
export type DaemonAddress = { socketPath: string; url?: undefined; token?: undefined } | { url: string; token: string | undefined; socketPath?: undefined };

/** The daemon is not running at the address: nothing listens (or the socket file is missing). */
export class DaemonNotRunningError extends Error {
  override readonly name = 'DaemonNotRunningError';
}

/** Adds --socket, --url, --token and --token-file to a client command. */
export function addClientFlags(cmd: Command): Command {
  return cmd
    .addOption(new Option('--socket <path>', `daemon control socket (default ${defaultSocketPath()})`).env('RTC_AGENT_DAEMON_SOCKET'))
    .addOption(new Option('--url <url>', 'daemon control URL when it listens on TCP, e.g. http://127.0.0.1:7070').env('RTC_AGENT_DAEMON_URL'))
    .addOption(new Option('--token <token>', 'bearer token for --url (prefer the env var or --token-file)').env('RTC_AGENT_DAEMON_TOKEN'))
    .option('--token-file <file>', `file holding the bearer token (default: the one the daemon at --url wrote, ${defaultDaemonDir()}/daemon-HOST-PORT.token, if it exists)`);
}

/** Resolves the address: a flag beats an env var; --socket beats --url; else the default socket. */
export async function resolveAddress(cmd: Command, flags: ClientFlags): Promise<DaemonAddress> {
  const fromCli = (name: string): boolean => cmd.getOptionValueSource(name) === 'cli';
  if (fromCli('socket') && fromCli('url')) throw new RtcAgentError(ErrorCode.CONFIG, 'give either --socket or --url, not both');
  const useUrl = fromCli('url') || (!fromCli('socket') && flags.socket === undefined && flags.url !== undefined);
  if (!useUrl || flags.url === undefined) return { socketPath: flags.socket ?? defaultSocketPath() };
  let url: URL;
  try {
    url = new URL(flags.url);
  } catch {
    throw new RtcAgentError(ErrorCode.CONFIG, `--url '${flags.url}' is not a URL (e.g. http://127.0.0.1:7070)`);
  }
  if (url.protocol !== 'http:') throw new RtcAgentError(ErrorCode.CONFIG, `--url '${flags.url}': the control API speaks plain http on loopback`);
  let token = flags.token;
  if (token === undefined && flags.tokenFile !== undefined) token = await readTokenFile(flags.tokenFile);
  if (token === undefined) {
    // The file the daemon at exactly this address wrote; never another daemon's (it would be refused).
    const own = daemonTokenPath(url.hostname, Number(url.port || 80));
    if (existsSync(own)) token = await readTokenFile(own);
  }
  return { url: url.origin, token };
}

export function describeAddress(addr: DaemonAddress): string {
  return addr.socketPath ?? addr.url;
}

export interface DaemonResponse {
  status: number;
  body: unknown;
}

function notRunning(addr: DaemonAddress, err: NodeJS.ErrnoException): Error {
  if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
    return new DaemonNotRunningError(`no daemon is running at ${describeAddress(addr)} (start one with: rtc-agent daemon --room ROOM)`);
  }
  return err;
}

/** Opens a request; resolves with the response (any status). Rejects DaemonNotRunningError if nothing listens. */
export function open(addr: DaemonAddress, method: string, path: string, body?: unknown, options: { timeoutMs?: number } = {}): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (text !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(text));
    }
    if (addr.url !== undefined && addr.token !== undefined) headers.Authorization = `Bearer ${addr.token}`;
    const req =
      addr.socketPath !== undefined
        ? httpRequest({ socketPath: addr.socketPath, path, method, headers, agent: false }, resolve)
        : httpRequest(new URL(path, addr.url), { method, headers, agent: false }, resolve);
    req.on('error', (err: NodeJS.ErrnoException) => reject(notRunning(addr, err)));
    if (options.timeoutMs !== undefined) {
      req.setTimeout(options.timeoutMs, () => req.destroy(new RtcAgentError(ErrorCode.TIMEOUT, `the daemon at ${describeAddress(addr)} did not answer within ${options.timeoutMs} ms`)));
    }
    req.end(text);
  });
}

/** A JSON request; error replies (`{error:{code,message}}`) are thrown as RtcAgentErrors. */
export async function call(addr: DaemonAddress, method: string, path: string, body?: unknown, timeoutMs = DEFAULT_CLIENT_TIMEOUT_MS): Promise<any> {
  const res = await open(addr, method, path, body, { timeoutMs });
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  let parsed: any;
  try {
    parsed = text === '' ? null : JSON.parse(text);
  } catch {
    parsed = null;
  }
  if ((res.statusCode ?? 500) >= 400) {
    const code = parseErrorCode(String(parsed?.error?.code ?? '')) ?? ErrorCode.INTERNAL;
    const message = String(parsed?.error?.message ?? `HTTP ${res.statusCode}`);
    throw new RtcAgentError(code, message, { details: { status: res.statusCode } });
  }
  return parsed;
}

/**
 * Runs a client action: a missing daemon becomes a one-line message and exit code
 * {@link ExitCode.DAEMON_NOT_RUNNING}; other errors go to main's handler.
 */
export async function runClient(ctx: CliContext, action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (err) {
    if (!(err instanceof DaemonNotRunningError)) throw err;
    ctx.stderr.write(`rtc-agent: ${err.message}\n`);
    process.exitCode = ExitCode.DAEMON_NOT_RUNNING;
  }
}
