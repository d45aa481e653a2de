/**
 * Backpressure across hubs: a recipient on hub 2 that stops reading makes hub 2 tell hub 1, and
 * hub 1 holds the sender's Relays (their completions) instead of piling messages on hub 2 until
 * the slow-consumer limit closes the recipient. When it reads again, everything arrives, in order.
 */
import { expect, it, onTestFinished } from 'vitest';
import { connectClient } from '../helpers/hub.js';
import { RawClient } from '../helpers/raw-ws.js';
import { waitUntil } from '../helpers/wait.js';
import { describeWithRedis, useCluster } from './support.js';


async function counter(hub: { metrics: { registry: { getSingleMetric(n: string): unknown } } }, direction: string, kind: string): Promise<number> {
  const metric = hub.metrics.registry.getSingleMetric('rtc_hub_backplane_messages_total') as { get(): Promise<{ values: { labels: Record<string, string>; value: number }[] }> };
  return (await metric.get()).values.find((v) => v.labels.direction === direction && v.labels.kind === kind)?.value ?? 0;
}

describeWithRedis('backpressure across hubs', (redis) => {
  it('holds a fast sender on one hub while its recipient on another does not read, and loses nothing', async () => {
    const [h1, h2] = await useCluster(redis().url, 2);
    const receiver = await RawClient.handshaken(h2!.url);
    onTestFinished(() => receiver.close());
    receiver.invoke('j', 'Join', ['bp', { agentKey: 'receiver-key-aaaaaaaaaa' }]);
    const to = (await receiver.completion('j')).result.self.peerId as string;
    const sender = await connectClient(h1!.url);
    await sender.invoke('Join', 'bp', { agentKey: 'sender-key-aaaaaaaaaaaa' });
    await waitUntil(() => receiver.received.some((m) => m?.type === 1 && m.target === 'PeerJoined'), { what: 'the receiver to list the sender' });

    receiver.ws.pause();
    // 600 × 48 KiB ≈ 28 MiB: far past the 16 MiB a recipient may have queued before it is closed.
    const total = 600;
    const payload = (i: number): string => `${String(i).padStart(6, '0')}${'x'.repeat(48 * 1024)}`;
    let completed = 0;
    const sending = (async () => {
      for (let i = 0; i < total; i++) {
        await sender.invoke('Relay', 'bp', to, payload(i));
        completed++;
      }
    })();
    await waitUntil(async () => (await counter(h1!, 'in', 'pressure')) >= 1, { what: 'hub 2 to tell hub 1 the recipient is behind', timeoutMs: 15_000 });
    expect(completed).toBeLessThan(total);
    receiver.ws.resume();
    await sending;
    await waitUntil(() => receiver.received.filter((m) => m?.type === 1 && m.target === 'Relayed').length === total, { what: 'every relay at the receiver', timeoutMs: 30_000 });
    const order = receiver.received.filter((m) => m?.type === 1 && m.target === 'Relayed').map((m) => Number((m.arguments[2] as string).slice(0, 6)));
    expect(order).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(receiver.closeCode).toBeUndefined();
    expect(receiver.received.some((m) => m?.type === 7)).toBe(false);
    expect(await counter(h2!, 'out', 'pressure')).toBeGreaterThanOrEqual(2);
  });
});
