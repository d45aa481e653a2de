/**
 * The `--redis` URL: `redis://[[user]:password@]HOST[:PORT][/DB]` (or `rediss://` for TLS).
 * `valkey://` and `valkeys://` are accepted as the same thing, since Valkey speaks the protocol.
 * Checked once, at startup, with an error that says what is wrong; the password never appears in
 * an error or a log line.
 */
import { ErrorCode, RtcAgentError } from '../../errors.js';

/** Redis's own default port. */
export const DEFAULT_REDIS_PORT = 6379;

export interface RedisTarget {
  /** What node-redis is given (the scheme mapped to redis/rediss). */
  url: string;
  /** For logs and errors: the URL with any password replaced by `***`. */
  redacted: string;
  host: string;
  port: number;
  database: number;
  tls: boolean;
}

const SCHEMES: Record<string, 'redis:' | 'rediss:'> = { 'redis:': 'redis:', 'rediss:': 'rediss:', 'valkey:': 'redis:', 'valkeys:': 'rediss:' };

function bad(why: string, shown: string): RtcAgentError {
  return new RtcAgentError(ErrorCode.CONFIG, `hub setting 'redis.url' ${why} (expected redis://HOST:PORT[/DB]), got ${JSON.stringify(shown)}`, {
    details: { setting: 'redis.url' },
  });
}

/** Replaces the password of a URL-looking string, even one that does not parse. */
export function redactRedisUrl(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@/]*@/i, '$1***@');
}

export function parseRedisUrl(value: string): RedisTarget {
  const shown = redactRedisUrl(value.slice(0, 200));
  if (typeof value !== 'string' || value.trim() === '') throw bad('is empty', shown);
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw bad('is not a URL', shown);
  }
  const scheme = SCHEMES[url.protocol];
  if (!scheme) throw bad(`has scheme '${url.protocol.replace(/:$/, '')}', not redis or rediss`, shown);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!host) throw bad('has no host', shown);
  const port = url.port === '' ? DEFAULT_REDIS_PORT : Number(url.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad('has a bad port', shown);
  const path = url.pathname.replace(/^\//, '');
  let database = 0;
  if (path !== '') {
    if (!/^\d{1,9}$/.test(path)) throw bad(`has path '/${path}', which is not a database number`, shown);
    database = Number(path);
  }
  if (url.search !== '' || url.hash !== '') throw bad('has a query or fragment; give settings as flags', shown);
  const auth = url.username || url.password ? `${url.username}${url.password ? `:${url.password}` : ''}@` : '';
  const normalized = `${scheme}//${auth}${url.host}/${database}`;
  return {
    url: normalized,
    redacted: redactRedisUrl(normalized),
    host,
    port,
    database,
    tls: scheme === 'rediss:',
  };
}
