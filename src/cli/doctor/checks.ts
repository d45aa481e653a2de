/**
 * The checks of `rtc-agent doctor`: Node version, the native binding, the hub (a real Join/Leave
 * over the official SignalR client), STUN servers (Binding request) and the TURN server (Allocate
 * with long-term credentials, then freed). Each check returns rows and never throws.
 */
import { randomBytes } from 'node:crypto';
import type { AgentSettings } from '../../config/agent-settings.js';
import { ErrorCode, RtcAgentError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import { HubClient, IGNORE_ROOM } from '../../signaling/hub-client.js';
import { loadNativeBinding } from '../../transport/native/binding.js';
import { explainHubFailure } from '../hub-diagnosis.js';
import { StunError, parseIceUrl, stunBinding, turnAllocate, type TransportAddress } from '../../util/stun-client.js';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface CheckRow {
  check: string;
  status: CheckStatus;
  detail: string;
  /** How long the check's network round trips took, when it made any. */
  ms?: number;
  /** The error code of a failed check (the hub's decides doctor's exit code). */
  code?: string;
}

const MIN_NODE = [20, 19] as const;

export function checkNode(version = process.versions.node): CheckRow {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const good = major > MIN_NODE[0] || (major === MIN_NODE[0] && minor >= MIN_NODE[1]);
  return {
    check: 'node',
    status: good ? 'ok' : 'fail',
    detail: good ? `v${version} (${process.platform}-${process.arch})` : `v${version}: rtc-agent needs Node ${MIN_NODE.join('.')}+`,
  };
}

export async function checkNative(settings: Pick<AgentSettings, 'tryNative'>): Promise<CheckRow> {
  const status = await loadNativeBinding();
  const off = settings.tryNative ? '' : ' (but the tryNative setting is false: agents will not use it)';
  if (status.available) return { check: 'native binding', status: settings.tryNative ? 'ok' : 'warn', detail: `${status.version}, ${status.platformPackage}${off}` };
  // The agent still works (every link relayed), so this is a warning, not a failure.
  return { check: 'native binding', status: 'warn', detail: status.reason };
}

/** Connects with the official client, joins and leaves a throwaway room, and times it. */
export async function checkHub(settings: Pick<AgentSettings, 'hubUrl' | 'accessToken'>, timeoutMs: number, log: Logger): Promise<CheckRow> {
  const check = 'hub';
  const options: ConstructorParameters<typeof HubClient>[0] = { hubUrl: settings.hubUrl, maxReconnectAttempts: 0, reconnectIntervalMs: 1_000, log };
  if (settings.accessToken !== undefined) options.accessToken = settings.accessToken;
  const client = new HubClient(options);
  const started = performance.now();
  try {
    await client.connect(AbortSignal.timeout(timeoutMs));
    const connectMs = performance.now() - started;
    const room = `doctor-${randomBytes(4).toString('hex')}`;
    const joinStarted = performance.now();
    const joined = await withTimeout(client.join(room, { agentKey: randomBytes(18).toString('base64url'), name: 'rtc-agent-doctor', capabilities: { native: false } }, IGNORE_ROOM), timeoutMs, 'Join');
    await withTimeout(joined.room.leave(), timeoutMs, 'Leave');
    const roundTrip = performance.now() - joinStarted;
    return {
      check,
      status: 'ok',
      detail: `${client.url}: connected in ${ms(connectMs)}, Join+Leave ${ms(roundTrip)} (room ${room}, ${joined.result.iceServers.length} ICE servers offered)`,
      ms: round(performance.now() - started),
    };
  } catch (err) {
    const explained = await explainHubFailure(err, settings.hubUrl);
    const e = explained instanceof RtcAgentError ? explained : new RtcAgentError(ErrorCode.INTERNAL, String(explained));
    const hint = e.code === ErrorCode.UNAUTHORIZED || e.code === ErrorCode.FORBIDDEN ? ' (check --token / RTC_AGENT_ACCESS_TOKEN)' : '';
    return { check, status: 'fail', detail: `${e.code}: ${e.message}${hint}`, code: e.code };
  } finally {
    await client.close();
  }
}

function withTimeout<T>(p: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RtcAgentError(ErrorCode.TIMEOUT, `${what} not answered within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export async function checkStun(settings: Pick<AgentSettings, 'stunServers'>, timeoutMs: number): Promise<CheckRow[]> {
  if (settings.stunServers.length === 0) return [{ check: 'stun', status: 'skip', detail: 'none configured (host candidates only; fine on a LAN)' }];
  return Promise.all(
    settings.stunServers.map(async (url): Promise<CheckRow> => {
      const check = `stun ${url}`;
      try {
        const target = parseIceUrl(url);
        if (target.scheme === 'stuns' || target.transport === 'tcp') return { check, status: 'warn', detail: 'not checked: only STUN over UDP is probed' };
        const r = await stunBinding(target, { timeoutMs });
        return { check, status: 'ok', detail: `mapped address ${addr(r.mapped)} in ${ms(r.rttMs)}${r.software ? ` (${r.software})` : ''}`, ms: round(r.rttMs) };
      } catch (err) {
        return { check, status: 'fail', detail: describeStunError(err, timeoutMs) };
      }
    }),
  );
}

export async function checkTurn(settings: Pick<AgentSettings, 'turnUrl' | 'turnUsername' | 'turnPassword'>, timeoutMs: number): Promise<CheckRow> {
  const url = settings.turnUrl;
  if (url === undefined) return { check: 'turn', status: 'skip', detail: 'none configured' };
  const check = `turn ${url}`;
  try {
    const target = parseIceUrl(url);
    if (target.scheme === 'turns' || target.transport === 'tcp') return { check, status: 'warn', detail: 'not checked: only TURN over UDP is probed' };
    const creds: { username?: string; password?: string } = {};
    if (settings.turnUsername !== undefined) creds.username = settings.turnUsername;
    if (settings.turnPassword !== undefined) creds.password = settings.turnPassword;
    const r = await turnAllocate(target, creds, { timeoutMs });
    switch (r.outcome) {
      case 'allocated':
        return {
          check,
          status: 'ok',
          detail: `allocated relay ${r.relayed ? addr(r.relayed) : '?'}${r.realm ? ` (realm ${r.realm})` : ''} in ${ms(r.rttMs)}; ${r.freed ? 'freed again' : 'could not free it (expires by itself)'}`,
          ms: round(r.rttMs),
        };
      case 'auth-required':
        return { check, status: 'warn', detail: `reachable; asks for credentials (realm ${r.realm ?? '?'}) but turnUsername/turnPassword are not set`, ms: round(r.rttMs) };
      case 'refused':
        return {
          check,
          status: 'fail',
          detail: r.code === 401 ? `credentials refused (401 ${r.reason})` : `allocation refused: ${r.code} ${r.reason}`,
          ms: round(r.rttMs),
        };
    }
  } catch (err) {
    return { check, status: 'fail', detail: describeStunError(err, timeoutMs) };
  }
}

function describeStunError(err: unknown, timeoutMs: number): string {
  if (err instanceof StunError && err.kind === 'timeout') return `${err.message} within ${timeoutMs} ms (blocked UDP, wrong host or port?)`;
  return err instanceof Error ? err.message : String(err);
}

function addr(a: TransportAddress): string {
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

function ms(x: number): string {
  return `${round(x)} ms`;
}
