/**
 * A peer id that comes back from a new process (same key, new `instance`) gets fresh numbering;
 * one that comes back from the same process (a hub reconnect) continues where it was.
 */
import { describe, expect, it } from 'vitest';
import { decodeBundle, decodeFrame, FrameKind, type DataFrame } from '../../src/protocol/frames.js';
import { connectClient, nextCall, useHub } from '../helpers/hub.js';
import { useAgent } from '../helpers/agents.js';
import { waitUntil } from '../helpers/wait.js';

const KEY = 'restart-test-agent-key-0001';

async function dataFramesFrom(client: Awaited<ReturnType<typeof connectClient>>, count: number): Promise<DataFrame[]> {
  const frames: DataFrame[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${frames.length} DATA frames`)), 10_000);
    client.on('Relayed', (_room: string, _from: string, payload: string) => {
      for (const bytes of decodeBundle(Buffer.from(payload, 'base64'))) {
        const frame = decodeFrame(bytes);
        if (frame.kind === FrameKind.Data) frames.push(frame);
      }
      if (frames.length >= count) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return frames;
}

describe('a peer id coming back', () => {
  it('from a new process starts a fresh sequence; from the same process it continues', async () => {
    const hub = await useHub();
    const agent = await useAgent(hub.url, { tryNative: false });
    const room = await agent.join('again');

    // First life of the peer: receives two messages (seq 1, 2).
    const first = await connectClient(hub.url);
    const firstFrames = dataFramesFrom(first, 2);
    await first.invoke('Join', 'again', { agentKey: KEY, name: 'bot', capabilities: { native: false, instance: 'one' } });
    await waitUntil(() => room.peers().length === 1, { what: 'room.peers().length === 1' });
    const peerId = room.peers()[0]!.peerId;
    await room.send('m1');
    await room.send('m2');
    expect((await firstFrames).map((f) => f.seq)).toEqual([1, 2]);
    await first.stop();
    await waitUntil(() => room.peers().length === 0, { what: 'room.peers().length === 0' });

    // Same key, same instance (the same process reconnecting): numbering continues (3 is next;
    // 1 and 2 were never acknowledged by this raw client, so they come again first).
    const again = await connectClient(hub.url);
    const againFrames = dataFramesFrom(again, 3);
    await again.invoke('Join', 'again', { agentKey: KEY, name: 'bot', capabilities: { native: false, instance: 'one' } });
    await waitUntil(() => room.peers().length === 1, { what: 'room.peers().length === 1' });
    await room.send('m3', { to: peerId });
    const seqs = (await againFrames).map((f) => f.seq);
    expect(seqs).toContain(3);
    await again.stop();
    await waitUntil(() => room.peers().length === 0, { what: 'room.peers().length === 0' });

    // Same key, new instance (a restarted process): a new epoch, from seq 1.
    const restarted = await connectClient(hub.url);
    const freshFrames = dataFramesFrom(restarted, 1);
    const joined = nextCall(restarted, 'Relayed', 10_000);
    await restarted.invoke('Join', 'again', { agentKey: KEY, name: 'bot', capabilities: { native: false, instance: 'two' } });
    await waitUntil(() => room.peers().length === 1, { what: 'room.peers().length === 1' });
    await room.send('hello again', { to: peerId });
    await joined;
    const fresh = await freshFrames;
    expect(fresh[0]!.seq).toBe(1);
    expect(fresh[0]!.epoch).not.toBe((await againFrames)[0]!.epoch);
  });
});
