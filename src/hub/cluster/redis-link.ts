/**
 * The hub's connection to Redis: two node-redis clients (commands and pub/sub; a subscribed
 * connection can run nothing else), reconnection with backoff, and one signal for the rest of
 * the cluster code: connected or not. Commands fail at once while the connection is down
 * (`disableOfflineQueue`), so nothing piles up and nothing runs late in the wrong order; the
 * cluster resynchronises instead, once both connections are back.
 *
 * Why node-redis: Redis recommends it for new projects, it speaks RESP3, pipelines every command
 * issued in one event-loop turn, and restores subscriptions itself after a reconnect.
 */
import { EventEmitter } from 'node:events';
import type { createClient as CreateClient } from 'redis';
import { ErrorCode, RtcAgentError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import type { RedisTarget } from './redis-url.js';
import { SCRIPTS, type LuaScript, type ScriptName } from './scripts.js';

/** How long startup waits for Redis before it gives up with a clear error. */
export const DEFAULT_REDIS_CONNECT_TIMEOUT_MS = 5_000;
/** Reconnect backoff: first retry after this, doubling... */
const RECONNECT_BASE_DELAY_MS = 100;
/** ...up to this, so a Redis that comes back is used within ~2 s. */
const RECONNECT_MAX_DELAY_MS = 2_000;
/** A PING on an idle connection this often notices a dead peer (and keeps NAT/firewall state). */
const PING_INTERVAL_MS = 5_000;
/**
 * Unanswered PUBLISH bytes above which relays to other hubs wait (backpressure towards Redis):
 * a few MB in flight keep loopback and LAN links busy without letting a fast sender fill memory.
 */
export const DEFAULT_PUBLISH_HIGH_WATER_BYTES = 4 * 1024 * 1024;
/**
 * A script or command Redis has not answered after this long fails (it may still run later): a
 * Redis that hangs without closing its socket (frozen, swapping) must not hold a Join, a negotiate
 * or a resync for the minutes TCP takes to notice. Scripts take microseconds; 5 s is only trouble.
 */
export const DEFAULT_REDIS_COMMAND_TIMEOUT_MS = 5_000;
/**
 * Negotiate and connect wait at most this for the shared negotiate record: past it a client
 * connects to this hub alone (as without a cluster) rather than waiting on a hung Redis.
 */
export const DEFAULT_NEGOTIATE_STORE_TIMEOUT_MS = 1_000;
/**
 * Separates the messages of one batched PUBLISH. ASCII group separator: JSON.stringify escapes
 * every control character, and ids and room names cannot hold one, so no message contains it.
 */
export const BATCH_SEPARATOR = '\u001d';
/** A batch is sent once it holds this much: a few 64 KiB relays, well below Redis's 512 MB limit. */
const MAX_BATCH_BYTES = 256 * 1024;

type Client = ReturnType<typeof CreateClient>;

export interface RedisLinkEvents {
  /** Both connections are up again after a loss (subscriptions already restored by node-redis). */
  restored: [];
  /** A connection dropped; `error` is what node-redis reported. */
  lost: [error: Error | undefined];
  message: [channel: string, text: string];
}

export interface RedisLinkOptions {
  target: RedisTarget;
  /** CLIENT SETNAME, so operators can tell hubs apart in CLIENT LIST. */
  clientName: string;
  connectTimeoutMs: number;
  log: Logger;
  publishHighWaterBytes?: number;
}

export class RedisLink extends EventEmitter<RedisLinkEvents> {
  private readonly commands: Client;
  private readonly subscriber: Client;
  private everReady = false;
  private connectedFlag = false;
  private closed = false;
  private readonly startedAt = Date.now();
  private pendingPublishBytes = 0;
  private batch: string[] = [];
  private batchBytes = 0;
  private batchChannel = '';
  private flushQueued = false;
  private publishWaiters: (() => void)[] = [];
  private readonly highWater: number;
  /** Per channel: the subscribe/unsubscribe chain, so they reach Redis in the order asked for. */
  private readonly channelOps = new Map<string, Promise<void>>();
  private readonly wanted = new Set<string>();
  private lastError: Error | undefined;

  private constructor(
    private readonly options: RedisLinkOptions,
    createClient: typeof CreateClient,
  ) {
    super();
    this.highWater = options.publishHighWaterBytes ?? DEFAULT_PUBLISH_HIGH_WATER_BYTES;
    const reconnectStrategy = (retries: number, cause: Error): number | Error => {
      // At startup, a Redis that does not answer is a configuration problem: give up with it.
      if (!this.everReady && Date.now() - this.startedAt >= options.connectTimeoutMs) return cause;
      if (this.closed) return cause;
      return Math.min(RECONNECT_BASE_DELAY_MS * 2 ** retries, RECONNECT_MAX_DELAY_MS) + Math.floor(Math.random() * RECONNECT_BASE_DELAY_MS);
    };
    this.commands = createClient({
      url: options.target.url,
      name: options.clientName,
      disableOfflineQueue: true,
      pingInterval: PING_INTERVAL_MS,
      socket: { connectTimeout: Math.min(options.connectTimeoutMs, 2_000), reconnectStrategy },
    });
    this.subscriber = this.commands.duplicate({ name: `${options.clientName}:sub` });
    for (const client of [this.commands, this.subscriber]) {
      client.on('error', (err: Error) => {
        // Every failed reconnect attempt reports one; the state change is what gets logged (warn).
        if (this.connectedFlag || !this.everReady) options.log.debug({ err: err.message }, 'redis connection error');
        this.lastError = err;
        this.update();
      });
      client.on('ready', () => this.update());
      client.on('end', () => this.update());
      client.on('reconnecting', () => this.update());
    }
  }

  /**
   * Connects both clients; fails with RTC_ERR_HUB_UNREACHABLE (naming the redacted URL and the
   * cause) when Redis does not answer within the connect timeout.
   */
  static async connect(options: RedisLinkOptions): Promise<RedisLink> {
    // Loaded here, not at import: node-redis is some 400 modules, and only `hub --redis` needs it
    // (every other command, and every program importing rtc-agent, started ~40 ms slower).
    const { createClient } = await import('redis');
    const link = new RedisLink(options, createClient);
    try {
      await Promise.all([link.commands.connect(), link.subscriber.connect()]);
      await link.loadScripts();
    } catch (err) {
      await link.close();
      const cause = link.lastError ?? (err as Error);
      throw new RtcAgentError(
        ErrorCode.HUB_UNREACHABLE,
        `cannot reach Redis at ${options.target.redacted} (--redis) within ${options.connectTimeoutMs} ms: ${describe(cause)}`,
        { cause, details: { redis: options.target.redacted } },
      );
    }
    link.everReady = true;
    link.connectedFlag = true;
    return link;
  }

  get connected(): boolean {
    return this.connectedFlag;
  }

  private update(): void {
    if (this.closed) return;
    const now = this.commands.isReady && this.subscriber.isReady;
    if (!this.everReady || now === this.connectedFlag) return;
    this.connectedFlag = now;
    if (now) {
      // node-redis restored the subscriptions it knew; settle those asked for or dropped meanwhile.
      for (const channel of new Set([...this.wanted, ...this.subscriber.getPubSubListeners('CHANNELS').keys()])) void this.reconcile(channel).catch(() => undefined);
      this.emit('restored');
    } else {
      this.emit('lost', this.lastError);
    }
  }

  /** Loads every script (Redis forgets them when it restarts); run before anything uses them. */
  async loadScripts(): Promise<void> {
    await Promise.all(Object.values(SCRIPTS).map((s) => this.commands.scriptLoad(s.source)));
  }

  /** Runs a script; its answer as an array of strings. Rejects while disconnected or after the command timeout. */
  async run(name: ScriptName, args: string[]): Promise<string[]> {
    const script: LuaScript = SCRIPTS[name];
    this.flushPublishes();
    try {
      return asStrings(await deadline(this.commands.evalSha(script.sha1, { arguments: args }), name));
    } catch (err) {
      if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err;
      // Someone flushed the script cache: EVAL loads it again.
      return asStrings(await deadline(this.commands.eval(script.source, { arguments: args }), name));
    }
  }

  /** SET key value PX ttl (negotiate records); rejects while disconnected or after 1 s. */
  async setWithTtl(key: string, value: string, ttlMs: number): Promise<void> {
    this.flushPublishes();
    await deadline(this.commands.set(key, value, { expiration: { type: 'PX', value: ttlMs } }), 'SET', DEFAULT_NEGOTIATE_STORE_TIMEOUT_MS);
  }

  /** GETDEL: takes a value so that only one caller gets it; rejects while disconnected or after 1 s. */
  async take(key: string): Promise<string | null> {
    this.flushPublishes();
    const value = await deadline(this.commands.getDel(key), 'GETDEL', DEFAULT_NEGOTIATE_STORE_TIMEOUT_MS);
    return typeof value === 'string' ? value : null;
  }

  /**
   * Publishes without waiting; false (and nothing sent) while disconnected. Order is kept: every
   * publish and script goes through one connection, and Redis delivers in the order it ran them.
   */
  publish(channel: string, text: string): boolean {
    if (!this.connectedFlag) return false;
    // Consecutive messages to one channel in one event-loop turn share a PUBLISH (a relay stream
    // costs one Redis command per batch, not per message). Only consecutive ones: a message to
    // another channel, or any other command, sends the batch first, so Redis sees everything in
    // the order it was asked for.
    if (this.batchChannel !== channel || this.batchBytes >= MAX_BATCH_BYTES) this.flushPublishes();
    if (this.batch.length === 0) {
      this.batchChannel = channel;
      if (!this.flushQueued) {
        this.flushQueued = true;
        queueMicrotask(() => this.flushPublishes());
      }
    }
    this.batch.push(text);
    this.batchBytes += text.length;
    return true;
  }

  /** Sends the pending batch of publishes (one PUBLISH, messages joined by {@link BATCH_SEPARATOR}). */
  private flushPublishes(): void {
    this.flushQueued = false;
    if (this.batch.length === 0) return;
    const text = this.batch.length === 1 ? (this.batch[0] as string) : this.batch.join(BATCH_SEPARATOR);
    const channel = this.batchChannel;
    this.batch = [];
    this.batchBytes = 0;
    const bytes = text.length;
    this.pendingPublishBytes += bytes;
    this.commands.publish(channel, text).then(
      () => this.published(bytes),
      () => this.published(bytes),
    );
  }

  private published(bytes: number): void {
    this.pendingPublishBytes -= bytes;
    if (this.publishWaiters.length > 0 && this.pendingPublishBytes < this.highWater) {
      const waiters = this.publishWaiters;
      this.publishWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  /** Resolves when unanswered publishes are below the high-water mark; undefined if they are. */
  whenPublishable(): Promise<void> | undefined {
    if (this.pendingPublishBytes < this.highWater) return undefined;
    return new Promise((resolve) => this.publishWaiters.push(resolve));
  }

  /** Subscribes (idempotent); resolves once Redis confirmed, rejects while disconnected. */
  subscribe(channel: string): Promise<void> {
    this.wanted.add(channel);
    return this.reconcile(channel);
  }

  /** Unsubscribes (idempotent, never rejects). */
  unsubscribe(channel: string): Promise<void> {
    this.wanted.delete(channel);
    return this.reconcile(channel).catch(() => undefined);
  }

  private reconcile(channel: string): Promise<void> {
    const previous = this.channelOps.get(channel) ?? Promise.resolve();
    const next = previous
      .catch(() => undefined)
      .then(async () => {
        const subscribed = this.subscriber.getPubSubListeners('CHANNELS').has(channel);
        const want = this.wanted.has(channel);
        if (want && !subscribed) await this.subscriber.subscribe(channel, this.onMessage);
        else if (!want && subscribed && this.subscriber.isReady) await this.subscriber.unsubscribe(channel);
      });
    this.channelOps.set(channel, next);
    void next.finally(() => {
      if (this.channelOps.get(channel) === next) this.channelOps.delete(channel);
    }).catch(() => undefined);
    return next;
  }

  private readonly onMessage = (message: string, channel: string): void => {
    this.emit('message', channel, message);
  };

  /** Quits both clients (bounded; then destroys them). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.connectedFlag = false;
    const quit = async (client: Client): Promise<void> => {
      if (!client.isOpen) {
        client.destroy();
        return;
      }
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([client.close(), new Promise((resolve) => (timer = setTimeout(resolve, 1_000)))]);
      } catch {
        // Already closing or closed.
      } finally {
        clearTimeout(timer);
        client.destroy();
      }
    };
    await Promise.all([quit(this.commands), quit(this.subscriber)]);
    const waiters = this.publishWaiters;
    this.publishWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

/** `promise`, or a rejection once Redis took longer than the command timeout to answer it. */
function deadline<T>(promise: Promise<T>, what: string, ms = DEFAULT_REDIS_COMMAND_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis did not answer ${what} within ${ms} ms`)), ms);
    timer.unref();
  });
  // A late answer (or failure) of the command itself must not become an unhandled rejection.
  promise.catch(() => undefined);
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

function asStrings(reply: unknown): string[] {
  if (!Array.isArray(reply)) return [String(reply)];
  return reply.map((v) => (typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : String(v)));
}

function describe(err: Error | undefined): string {
  if (!err) return 'no answer';
  const code = (err as NodeJS.ErrnoException).code;
  const cause = (err as { cause?: unknown }).cause;
  const inner = cause instanceof Error ? ` (${cause.message})` : '';
  return code ? `${code}: ${err.message}` : `${err.message}${inner}`;
}
