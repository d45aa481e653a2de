/**
 * Shared setup of the cluster tests: one real redis-server per test file (skipped, with the reason
 * printed, where none is installed), hubs on it in this process, and a prefix per test so tests
 * never see each other's keys.
 */
import { afterAll, beforeAll, describe, onTestFinished } from 'vitest';
import { randomBytes } from 'node:crypto';
import { startHub, type Hub, type HubOptions } from '../../src/index.js';
import { RedisServer, redisUnavailableReason } from '../helpers/redis.js';
import { waitUntil } from '../helpers/wait.js';

const reason = redisUnavailableReason();
if (reason) console.warn(`cluster tests skipped: ${reason}`);

/** `describe` that runs only where a redis-server exists, with one server for the whole block. */
export function describeWithRedis(name: string, body: (redis: () => RedisServer) => void): void {
  describe.skipIf(reason !== null)(name, () => {
    let server: RedisServer | undefined;
    beforeAll(async () => {
      server = await RedisServer.start();
    });
    afterAll(async () => {
      await server?.close();
    });
    body(() => {
      if (!server) throw new Error('redis-server did not start');
      return server;
    });
  });
}

/** A key prefix of its own for one test. */
export function testPrefix(): string {
  return `t-${randomBytes(6).toString('hex')}`;
}

/** Starts `count` hubs on one Redis and prefix, closed when the test ends. */
export async function useCluster(redisUrl: string, count: number, options: HubOptions = {}, prefix = testPrefix()): Promise<Hub[]> {
  const hubs: Hub[] = [];
  for (let i = 0; i < count; i++) {
    const hub = await startHub({ host: '127.0.0.1', port: 0, ...options, redis: { url: redisUrl, prefix, ...options.redis } });
    onTestFinished(() => hub.close());
    hubs.push(hub);
  }
  await clusterSettled(hubs);
  return hubs;
}

/** Waits until every hub's backplane is up and each sees all `hubs`. */
export async function clusterSettled(hubs: Hub[], what = 'every hub to see the whole cluster'): Promise<void> {
  await waitUntil(() => hubs.every((h) => h.cluster?.state === 'up' && h.cluster.nodes >= hubs.length), { what, timeoutMs: 15_000 });
}
