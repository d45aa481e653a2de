/**
 * Shared setup of the cluster tests: one real redis-server per test file (skipped, with the reason
 * printed, where none is installed), hubs on it in this process, and a prefix per test so tests
 * never see each other's keys.
 */
import { afterAll, beforeAll, describe } from 'vitest';
import { randomBytes } from 'node:crypto';
import { RedisServer, redisUnavailableReason } from '../helpers/redis.js';

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
