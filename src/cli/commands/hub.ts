import { readFile } from 'node:fs/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_HUB_HOST, DEFAULT_HUB_PATH, DEFAULT_HUB_PORT } from '../../constants.js';
import { ErrorCode, RtcAgentError } from '../../errors.js';
import { ALL_TRANSPORTS, DEFAULT_MAX_CONNECTIONS, DEFAULT_REQUEST_HEAD_TIMEOUT_MS, MIN_JWT_MAX_AGE_MS, type HubOptions, type TransportName } from '../../hub/options.js';
import { parseRedisUrl } from '../../hub/cluster/redis-url.js';
import type { Logger } from '../../log/logger.js';
import { collect, parseDurationMs, parseLogLevel, parsePort, parsePositiveInt } from '../parse.js';
import type { CliContext } from '../context.js';

interface HubFlags {
  host: string;
  port: number;
  path: string;
  jwtSecret?: string;
  jwtPublicKey?: string;
  jwtIssuer?: string;
  jwtAudience?: string;
  jwtMaxAge?: number;
  corsOrigin?: string[];
  transports?: string;
  keepAliveInterval?: number;
  clientTimeout?: number;
  maxMessageBytes?: number;
  maxPeersPerRoom?: number;
  maxRoomsPerConnection?: number;
  rate?: number;
  requestHeadTimeout?: number;
  maxConnections?: number;
  redis?: string;
  redisPrefix?: string;
  logLevel?: string;
}

/**
 * `--jwt-max-age`: a duration with a unit (parse.ts), at least a second: a token's 'iat' counts
 * whole seconds.
 */
export function parseDuration(value: string): number {
  const ms = parseDurationMs(value);
  if (ms < MIN_JWT_MAX_AGE_MS) throw new InvalidArgumentError("must be at least 1s (a token's 'iat' counts whole seconds)");
  return ms;
}

export function makeHubCommand(ctx: CliContext): Command {
  return new Command('hub')
    .addOption(new Option('--host <host>', 'interface to listen on').default(DEFAULT_HUB_HOST).env('RTC_AGENT_HUB_HOST'))
    .addOption(new Option('--port <port>', 'port; 0 picks a free one').default(DEFAULT_HUB_PORT).argParser(parsePort).env('RTC_AGENT_HUB_PORT'))
    .addOption(new Option('--path <path>', 'URL path of the hub').default(DEFAULT_HUB_PATH).env('RTC_AGENT_HUB_PATH'))
    .addOption(new Option('--jwt-secret <secret>', 'require HS256 tokens signed with this secret (prefer the env var)').env('RTC_AGENT_JWT_SECRET'))
    .addOption(new Option('--jwt-public-key <file>', 'require RS256/ES256 tokens verified with this PEM public key').env('RTC_AGENT_JWT_PUBLIC_KEY'))
    .option('--jwt-issuer <iss>', "required 'iss' claim")
    .option('--jwt-audience <aud>', "required 'aud' claim")
    .option('--jwt-max-age <duration>', "tokens need 'iat' and must be younger than this (e.g. 15m); live connections close when it passes", parseDuration)
    .option('--cors-origin <origin>', 'browser origin allowed to connect (repeatable; * for any)', collect)
    .option('--transports <list>', `comma-separated subset of ${ALL_TRANSPORTS.join(',')}`)
    .option('--keep-alive-interval <ms>', 'ping idle clients this often', parsePositiveInt)
    .option('--client-timeout <ms>', 'drop clients silent for this long', parsePositiveInt)
    .option('--max-message-bytes <n>', 'largest message accepted', parsePositiveInt)
    .option('--max-peers-per-room <n>', 'members per room', parsePositiveInt)
    .option('--max-rooms-per-connection <n>', 'rooms one connection may join', parsePositiveInt)
    .option('--rate <n>', 'messages per second per connection', parsePositiveInt)
    .option('--request-head-timeout <ms>', `destroy sockets without a complete request head after this long (default ${DEFAULT_REQUEST_HEAD_TIMEOUT_MS})`, parsePositiveInt)
    .option('--max-connections <n>', `open sockets at most (default ${DEFAULT_MAX_CONNECTIONS}, lowered to fit the open-file limit)`, parsePositiveInt)
    .addOption(new Option('--redis <url>', 'serve rooms together with every hub on this Redis: redis://HOST:PORT[/DB] (docs/cluster.md)').env('RTC_AGENT_HUB_REDIS_URL'))
    .addOption(new Option('--redis-prefix <prefix>', 'key and channel prefix, for several clusters on one Redis (default rtc-agent)').env('RTC_AGENT_HUB_REDIS_PREFIX'))
    .addOption(new Option('--log-level <level>', 'log level').argParser(parseLogLevel).env('RTC_AGENT_LOG_LEVEL'))
    .action(async (flags: HubFlags) => {
      const { startHub } = await import('../../hub/server.js');
      const { FETCH_BLOCKED_PORTS } = await import('../../signaling/hub-client.js');
      const log = await ctx.logger(flags.logLevel);
      const options = await hubOptionsFromFlags(flags, log);
      // It runs, but no fetch()-based client (Node's or a browser's SignalR) will ever reach it.
      if (FETCH_BLOCKED_PORTS.has(flags.port)) {
        ctx.stderr.write(
          `rtc-agent: warning: port ${flags.port} is one that fetch() refuses to connect to (Node's and browsers' SignalR clients, agents included); choose another, e.g. --port 8080\n`,
        );
      }
      const hub = await startHub(options);
      // First line on stdout is the URL, so scripts can `read` it; everything else goes to stderr.
      ctx.stdout.write(`${hub.url}\n`);
      await ctx.untilSignal();
      await hub.close();
    });
}

async function hubOptionsFromFlags(flags: HubFlags, logger: Logger): Promise<HubOptions> {
  const options: HubOptions = { host: flags.host, port: flags.port, path: flags.path, logger, limits: {} };
  if (flags.jwtSecret !== undefined || flags.jwtPublicKey !== undefined) {
    options.auth = {};
    if (flags.jwtSecret !== undefined) options.auth.jwtSecret = flags.jwtSecret;
    if (flags.jwtPublicKey !== undefined) {
      try {
        options.auth.jwtPublicKey = await readFile(flags.jwtPublicKey, 'utf8');
      } catch (err) {
        throw new RtcAgentError(ErrorCode.CONFIG, `--jwt-public-key: cannot read ${flags.jwtPublicKey}: ${(err as Error).message}`, { cause: err });
      }
    }
    if (flags.jwtIssuer !== undefined) options.auth.issuer = flags.jwtIssuer;
    if (flags.jwtAudience !== undefined) options.auth.audience = flags.jwtAudience;
    if (flags.jwtMaxAge !== undefined) options.auth.maxAgeMs = flags.jwtMaxAge;
  } else if (flags.jwtMaxAge !== undefined) {
    throw new RtcAgentError(ErrorCode.CONFIG, '--jwt-max-age needs --jwt-secret or --jwt-public-key (without them no token is checked)');
  }
  if (flags.corsOrigin) options.corsOrigins = flags.corsOrigin;
  if (flags.transports !== undefined) {
    options.transports = flags.transports.split(',').map((t) => t.trim()).filter(Boolean) as TransportName[];
  }
  if (flags.keepAliveInterval !== undefined) options.keepAliveIntervalMs = flags.keepAliveInterval;
  if (flags.clientTimeout !== undefined) options.clientTimeoutMs = flags.clientTimeout;
  if (flags.requestHeadTimeout !== undefined) options.requestHeadTimeoutMs = flags.requestHeadTimeout;
  if (flags.maxConnections !== undefined) options.maxConnections = flags.maxConnections;
  if (flags.redis !== undefined) {
    try {
      parseRedisUrl(flags.redis);
    } catch (err) {
      // The same check startHub makes, worded for the command line.
      throw new RtcAgentError(ErrorCode.CONFIG, `--redis (or RTC_AGENT_HUB_REDIS_URL): ${(err as Error).message.replace(/^hub setting 'redis\.url' /, '')}`, { cause: err });
    }
    options.redis = { url: flags.redis };
    if (flags.redisPrefix !== undefined) options.redis.prefix = flags.redisPrefix;
  } else if (flags.redisPrefix !== undefined) {
    throw new RtcAgentError(ErrorCode.CONFIG, '--redis-prefix needs --redis');
  }
  const limits = (options.limits ??= {});
  if (flags.maxMessageBytes !== undefined) limits.maxMessageBytes = flags.maxMessageBytes;
  if (flags.maxPeersPerRoom !== undefined) limits.maxPeersPerRoom = flags.maxPeersPerRoom;
  if (flags.maxRoomsPerConnection !== undefined) limits.maxRoomsPerConnection = flags.maxRoomsPerConnection;
  if (flags.rate !== undefined) {
    limits.messagesPerSecond = flags.rate;
    limits.messageBurst = flags.rate * 2;
  }
  return options;
}
