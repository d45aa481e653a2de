/**
 * The cluster's atomic steps (the Lua scripts) against a real redis-server: room limits counted
 * across hubs, join/replace, leave-if-still-mine, dead-hub cleanup exactly once, resync.
 */
import { expect, it, onTestFinished } from 'vitest';
import { createClient } from 'redis';
import { silentLogger } from '../../src/log/logger.js';
import { decodeEnvelope, type Envelope } from '../../src/hub/cluster/envelope.js';
import { ClusterKeys } from '../../src/hub/cluster/keys.js';
import { PresenceStore } from '../../src/hub/cluster/presence-store.js';
import { RedisLink } from '../../src/hub/cluster/redis-link.js';
import { parseRedisUrl } from '../../src/hub/cluster/redis-url.js';
import { waitUntil } from '../helpers/wait.js';
import { describeWithRedis, testPrefix } from './support.js';

const pjson = (peerId: string, name = peerId): string => JSON.stringify({ peerId, name, userId: null, capabilities: { native: true, list: [] }, meta: {} });

describeWithRedis('presence scripts', (redis) => {
  async function link(): Promise<RedisLink> {
    const l = await RedisLink.connect({ target: parseRedisUrl(redis().url), clientName: 'test', connectTimeoutMs: 5_000, log: silentLogger() });
    onTestFinished(() => l.close());
    return l;
  }

  /** A store for node `node` (hubs count as dead after 60 s of silence). */
  async function store(keys: ClusterKeys, node: string): Promise<PresenceStore> {
    const s = new PresenceStore(await link(), keys, node, () => 60_000);
    await s.heartbeat('{}');
    return s;
  }

  /** Makes `node` look silent since the epoch, as a SIGKILLed hub soon does. */
  async function silence(keys: ClusterKeys, node: string): Promise<void> {
    const raw = createClient({ url: redis().url });
    await raw.connect();
    await raw.zAdd(keys.nodes, { score: 0, value: node });
    await raw.close();
  }

  /** Every message on a room's channel, decoded. */
  async function listen(keys: ClusterKeys, room: string): Promise<Envelope[]> {
    const l = await link();
    const seen: Envelope[] = [];
    l.on('message', (channel, text) => {
      if (channel === keys.roomChannel(room)) seen.push(decodeEnvelope(text) as Envelope);
    });
    await l.subscribe(keys.roomChannel(room));
    return seen;
  }

  it('counts a room limit across hubs and keeps joinedAt when the same peer joins on another hub', async () => {
    const keys = new ClusterKeys(testPrefix());
    const a = await store(keys, 'node-a');
    const b = await store(keys, 'node-b');
    const events = await listen(keys, 'r');
    const first = await a.join('r', 'p1', 'conn-1', pjson('p1'), 2);
    expect(first).toMatchObject({ full: false, seq: 1, previous: null });
    expect(await b.join('r', 'p2', 'conn-2', pjson('p2'), 2)).toMatchObject({ full: false, seq: 2 });
    // A third member is one too many, whichever hub it comes to.
    expect(await a.join('r', 'p3', 'conn-3', pjson('p3'), 2)).toEqual({ full: true, members: 2 });
    expect(await b.join('r', 'p3', 'conn-3', pjson('p3'), 2)).toEqual({ full: true, members: 2 });
    // The same peer again (it moved from hub A to hub B) is not an extra member.
    const moved = await b.join('r', 'p1', 'conn-9', pjson('p1', 'renamed'), 2);
    if (moved.full || first.full) throw new Error('unexpected full');
    expect(moved.previous).toEqual({ node: 'node-a', connectionId: 'conn-1' });
    expect(moved.joinedAt).toBe(first.joinedAt);
    expect(moved.snapshot.entries.map((e) => [e.peerId, e.node, e.connectionId]).sort()).toEqual([
      ['p1', 'node-b', 'conn-9'],
      ['p2', 'node-b', 'conn-2'],
    ]);
    await waitUntil(() => events.length === 3, { what: 'three joined messages' });
    expect(events.map((e) => e.kind === 'joined' && [e.seq, e.entry.peerId, e.previous?.node ?? null])).toEqual([
      [1, 'p1', null],
      [2, 'p2', null],
      [3, 'p1', 'node-a'],
    ]);
  });

  it('removes an entry only for the connection that still holds it', async () => {
    const keys = new ClusterKeys(testPrefix());
    const a = await store(keys, 'node-a');
    const b = await store(keys, 'node-b');
    await a.join('r', 'p1', 'conn-1', pjson('p1'), 10);
    await b.join('r', 'p1', 'conn-2', pjson('p1'), 10);
    // Hub A's old connection closes after the peer moved: nothing is removed.
    expect(await a.leave('r', 'p1', 'conn-1', 'disconnected')).toBe(0);
    expect((await a.snapshot('r')).entries.map((e) => e.node)).toEqual(['node-b']);
    expect(await b.leave('r', 'p1', 'conn-2', 'left')).toBeGreaterThan(0);
    expect((await a.snapshot('r')).entries).toEqual([]);
  });

  it('cleans up a dead hub exactly once, sparing entries that moved to a live hub', async () => {
    const keys = new ClusterKeys(testPrefix());
    const a = await store(keys, 'node-a');
    const b = await store(keys, 'node-b');
    const c = await store(keys, 'node-c');
    const events = await listen(keys, 'r');
    await a.join('r', 'stays', 'conn-1', pjson('stays'), 10);
    await a.join('r', 'moves', 'conn-2', pjson('moves'), 10);
    await a.join('other', 'stays', 'conn-1', pjson('stays'), 10);
    await c.join('r', 'moves', 'conn-3', pjson('moves'), 10);
    await silence(keys, 'node-a');
    const [fromB, fromC] = await Promise.all([b.reap(), c.reap()]);
    // Both B and C see A dead; exactly one of them cleans up, and only what A still held.
    expect([fromB.nodes, fromC.nodes].sort()).toEqual([0, 1]);
    expect(fromB.entries + fromC.entries).toBe(2);
    expect((await b.snapshot('r')).entries.map((e) => [e.peerId, e.node])).toEqual([['moves', 'node-c']]);
    expect((await b.snapshot('other')).entries).toEqual([]);
    await waitUntil(() => events.filter((e) => e.kind === 'left').length === 1, { what: 'one left message for r' });
    const left = events.filter((e) => e.kind === 'left');
    expect(left).toMatchObject([{ peerId: 'stays', node: 'node-a', reason: 'disconnected' }]);
  });

  it('sweeps dead entries on join, but a dead peer rejoining elsewhere is a replacement, not a leave', async () => {
    const keys = new ClusterKeys(testPrefix());
    const a = await store(keys, 'node-a');
    const b = await store(keys, 'node-b');
    const events = await listen(keys, 'r');
    await a.join('r', 'ghost', 'conn-1', pjson('ghost'), 10);
    await a.join('r', 'agent', 'conn-2', pjson('agent'), 10);
    await silence(keys, 'node-a');
    const back = await b.join('r', 'agent', 'conn-3', pjson('agent'), 10);
    if (back.full) throw new Error('unexpected full');
    expect(back.previous).toEqual({ node: 'node-a', connectionId: 'conn-2' });
    expect(back.snapshot.entries.map((e) => e.peerId)).toEqual(['agent']);
    await waitUntil(() => events.length === 4, { what: 'four messages' });
    expect(events.slice(2).map((e) => [e.kind, e.kind === 'left' ? e.peerId : e.kind === 'joined' ? e.entry.peerId : ''])).toEqual([
      ['left', 'ghost'],
      ['joined', 'agent'],
    ]);
  });

  it('writes back what Redis lost and drops what a hub no longer holds (sync, prune)', async () => {
    const keys = new ClusterKeys(testPrefix());
    const a = await store(keys, 'node-a');
    const b = await store(keys, 'node-b');
    await a.join('r', 'p1', 'conn-1', pjson('p1'), 10);
    await a.join('r', 'gone', 'conn-2', pjson('gone'), 10);
    await a.join('elsewhere', 'p1', 'conn-1', pjson('p1'), 10);
    await b.join('r', 'moved', 'conn-b', pjson('moved'), 10);
    // Hub A comes back holding p1 (in r only) and 'moved' (which joined on B meanwhile).
    expect(await a.prune(['r'])).toBe(1);
    const synced = await a.sync('r', [
      { peerId: 'p1', connectionId: 'conn-1', joinedAt: 1, participantJson: pjson('p1') },
      { peerId: 'moved', connectionId: 'conn-x', joinedAt: 1, participantJson: pjson('moved') },
    ]);
    expect(synced.replaced).toEqual(['moved']);
    expect(synced.snapshot.entries.map((e) => [e.peerId, e.node]).sort()).toEqual([
      ['moved', 'node-b'],
      ['p1', 'node-a'],
    ]);
    expect((await b.snapshot('elsewhere')).entries).toEqual([]);
  });
});
