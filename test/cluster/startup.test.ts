/**
 * Starting a cluster hub: a bad `--redis` URL is a usage error naming the flag (exit 2), an
 * unreachable Redis a clear error after the connect timeout (exit 3), from the CLI and from
 * startHub; a good one joins the cluster and says so in /healthz and /metrics.
 */
import { expect, it } from 'vitest';
import { startHub } from '../../src/index.js';
import { parseErrorCode } from '../../src/errors.js';
import { freePort } from '../helpers/redis.js';
import { runHubToExit, spawnHub } from './processes.js';
import { describeWithRedis, testPrefix } from './support.js';

async function codeOfStart(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (err) {
    return `${parseErrorCode((err as Error).message) ?? (err as { code?: string }).code}: ${(err as Error).message}`;
  }
  return 'started';
}

describeWithRedis('starting a cluster hub', (redis) => {
  it('refuses bad --redis URLs (flag or env) with exit 2, naming the flag and hiding the password', async () => {
    for (const bad of ['http://127.0.0.1:6379', 'redis://:hunter2@127.0.0.1:6379/x', 'redis://127.0.0.1:99999', 'not a url']) {
      const { code, stderr } = await runHubToExit(['--redis', bad]);
      expect(code, bad).toBe(2);
      expect(stderr).toContain('RTC_ERR_CONFIG: --redis');
      expect(stderr).not.toContain('hunter2');
    }
    const viaEnv = await runHubToExit([], { RTC_AGENT_HUB_REDIS_URL: 'redis://h/not-a-db' });
    expect(viaEnv.code).toBe(2);
    expect(viaEnv.stderr).toContain('RTC_AGENT_HUB_REDIS_URL');
    expect((await runHubToExit(['--redis-prefix', 'p'])).code).toBe(2);
    expect(await codeOfStart(startHub({ port: 0, redis: { url: 'ftp://x' } }))).toMatch(/^RTC_ERR_CONFIG: hub setting 'redis.url'/);
    expect(await codeOfStart(startHub({ port: 0, redis: { url: redis().url, prefix: 'bad prefix' } }))).toMatch(/^RTC_ERR_CONFIG: hub setting 'redis.prefix'/);
    expect(await codeOfStart(startHub({ port: 0, redis: { url: redis().url, heartbeatIntervalMs: 5_000, nodeTimeoutMs: 6_000 } }))).toMatch(/redis.nodeTimeoutMs/);
  });

  it('fails clearly when Redis cannot be reached: exit 3 after the connect timeout, from the CLI and from startHub', async () => {
    const port = await freePort();
    const { code, stderr } = await runHubToExit(['--redis', `redis://127.0.0.1:${port}`]);
    expect(code).toBe(3);
    expect(stderr).toContain(`RTC_ERR_HUB_UNREACHABLE: cannot reach Redis at redis://127.0.0.1:${port}/0 (--redis) within 5000 ms`);
    expect(stderr).toContain('ECONNREFUSED');
    expect(await codeOfStart(startHub({ port: 0, redis: { url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 300 } }))).toMatch(/^RTC_ERR_HUB_UNREACHABLE: cannot reach Redis/);
  });

  it('joins the cluster and reports it in /healthz and /metrics', async () => {
    const prefix = testPrefix();
    const hub = await spawnHub(['--redis', redis().url, '--redis-prefix', prefix]);
    const health = (await (await fetch(new URL('/healthz', hub.url))).json()) as Record<string, any>;
    expect(health).toMatchObject({ status: 'ok', redis: 'up', cluster: { state: 'up', nodes: 1, presenceEntries: 0 } });
    expect(health.cluster.node).toMatch(/^[A-Za-z0-9_-]{12}$/);
    const metrics = await (await fetch(new URL('/metrics', hub.url))).text();
    for (const name of ['rtc_hub_cluster_nodes 1', 'rtc_hub_presence_entries 0', 'rtc_hub_backplane_up 1', 'rtc_hub_backplane_latency_seconds_bucket', 'rtc_hub_backplane_messages_total']) {
      expect(metrics).toContain(name);
    }
  });
});
