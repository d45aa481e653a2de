/**
 * Why a hub could not be reached, in words that say what to do. The SignalR client reports every
 * network failure as "fetch failed" (the cause is lost inside it), so once connecting failed the
 * CLI asks fetch() itself, once per hub and briefly, and names the cause: refused, DNS, TLS, a
 * port fetch() blocks, a timeout.
 */
import { ErrorCode, RtcAgentError } from '../errors.js';
import { fetchBlockedReason } from '../signaling/hub-client.js';

/** How long the probe of one hub may take: it only runs after connecting already failed. */
export const DEFAULT_HUB_PROBE_MS = 3_000;

const TLS_TRUST_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function hostPort(u: URL): string {
  return `${u.hostname}:${u.port || (u.protocol === 'https:' ? '443' : '80')}`;
}

/** What a failed fetch() to `url` says about reaching it, or undefined when something answered. */
export async function probeHub(url: string, timeoutMs = DEFAULT_HUB_PROBE_MS): Promise<string | undefined> {
  const blocked = fetchBlockedReason(url);
  if (blocked) return blocked;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  const negotiate = new URL(`${u.pathname.replace(/\/+$/, '')}/negotiate?negotiateVersion=1`, u);
  try {
    const res = await fetch(negotiate, { method: 'POST', signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    return undefined;
  } catch (err) {
    return describeFetchFailure(u, err, timeoutMs);
  }
}

function describeFetchFailure(u: URL, err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: NodeJS.ErrnoException };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') {
    return `no answer from ${hostPort(u)} within ${timeoutMs / 1000} s (a wrong address, or a firewall dropping packets?)`;
  }
  const code = e.cause?.code ?? '';
  const port = u.port || (u.protocol === 'https:' ? '443' : '80');
  switch (code) {
    case 'ECONNREFUSED':
      return `nothing is listening on ${hostPort(u)}: start a hub there (rtc-agent hub --host ${u.hostname} --port ${port}), or use rtc-agent chat, which hosts one on this machine`;
    case 'ENOTFOUND':
      return `cannot resolve the host name '${u.hostname}' (DNS): check it`;
    case 'EAI_AGAIN':
      return `the DNS lookup of '${u.hostname}' failed for now (EAI_AGAIN): check the network`;
    case 'ECONNRESET':
      return `${hostPort(u)} accepted the connection and then reset it: is a hub running there, and no proxy in between?`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `no route to ${hostPort(u)} (${code}): check the address and the network`;
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return `connecting to ${hostPort(u)} timed out (a wrong address, or a firewall dropping packets?)`;
  }
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'EPROTO') {
    return `TLS with ${hostPort(u)} failed (${code}): the hub there seems to speak plain HTTP; use http://${hostPort(u)}${u.pathname}`;
  }
  if (TLS_TRUST_CODES.has(code)) {
    return `the TLS certificate of ${hostPort(u)} is not trusted (${code}): fix the certificate, or give its CA with NODE_EXTRA_CA_CERTS=ca.pem`;
  }
  if (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS')) return `TLS with ${hostPort(u)} failed (${code})`;
  const reason = e.cause?.message ?? e.message;
  return code === '' ? reason : `${reason} (${code})`;
}

/**
 * Replaces a "cannot reach hub" error whose cause SignalR hid ("fetch failed", a timeout) by one
 * naming the cause and the fix for each hub. Other errors come back unchanged.
 */
export async function explainHubFailure(err: unknown, hubUrls: readonly string[]): Promise<unknown> {
  if (!(err instanceof RtcAgentError) || err.code !== ErrorCode.HUB_UNREACHABLE) return err;
  if (err.details?.status !== undefined || err.details?.blockedPort === true) return err;
  if (!/fetch failed|no connection within|timed? ?out|ECONN|ENOTFOUND/i.test(err.message)) return err;
  const reasons = await Promise.all(hubUrls.map(async (url) => [url, await probeHub(url)] as const));
  const explained = reasons.filter(([, why]) => why !== undefined);
  if (explained.length === 0) return err;
  const text = explained.map(([url, why]) => `cannot reach hub ${url}: ${why}`).join('; ');
  return new RtcAgentError(ErrorCode.HUB_UNREACHABLE, text, { cause: err, details: err.details });
}
