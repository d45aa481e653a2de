/**
 * rtc-agent agents on different hubs of a cluster: they find each other through Redis, open P2P
 * (signalling crosses hubs), and relay-only agents exchange a reliable stream exactly once and in
 * order through both hubs and Redis.
 */
import { expect, it } from 'vitest';
import { inbox, p2pTo, useAgent } from '../helpers/agents.js';
import { waitUntil } from '../helpers/wait.js';
import { describeWithRedis, useCluster } from './support.js';

describeWithRedis('agents on different hubs', (redis) => {
  it('open P2P links and talk both ways', async () => {
    const [h1, h2, h3] = await useCluster(redis().url, 3);
    const a = await useAgent(h1!.url, { name: 'a' });
    const b = await useAgent(h2!.url, { name: 'b' });
    const c = await useAgent(h3!.url, { name: 'c' });
    const ra = await a.join('mesh');
    const rb = await b.join('mesh');
    const rc = await c.join('mesh');
    await Promise.all([p2pTo(a, 2, 20_000), p2pTo(b, 2, 20_000), p2pTo(c, 2, 20_000)]);
    const atB = inbox(b);
    const atA = inbox(a);
    await ra.send('hello b', { to: rb.selfId });
    await rc.send('hello all');
    expect((await atB.waitFor(2)).map((m) => [m.text, m.path]).sort()).toEqual([
      ['hello all', 'p2p'],
      ['hello b', 'p2p'],
    ]);
    await rb.send('hello a', { to: ra.selfId });
    const got = await atA.waitFor(2);
    expect(got.map((m) => m.text).sort()).toEqual(['hello a', 'hello all']);
    expect(got.find((m) => m.text === 'hello a')).toMatchObject({ from: rb.selfId, name: 'b' });
  });

  it('relay a reliable stream through two hubs and Redis, exactly once and in order', async () => {
    const [h1, h2] = await useCluster(redis().url, 2);
    const a = await useAgent(h1!.url, { name: 'a', tryNative: false });
    const b = await useAgent(h2!.url, { name: 'b', tryNative: false });
    const ra = await a.join('relay');
    const rb = await b.join('relay');
    await waitUntil(() => ra.peer(rb.selfId) && rb.peer(ra.selfId), { what: 'both agents listing each other' });
    expect(ra.peer(rb.selfId)).toMatchObject({ path: 'relay' });
    const atB = inbox(b);
    const count = 500;
    for (let i = 0; i < count; i++) await ra.send(`m${i}`, { to: rb.selfId });
    const got = await atB.waitFor(count, 30_000);
    expect(got.map((m) => m.text)).toEqual(Array.from({ length: count }, (_, i) => `m${i}`));
    expect(got.every((m) => m.path === 'relay' && m.from === ra.selfId)).toBe(true);
  });
});
