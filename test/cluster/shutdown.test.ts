/**
 * A hub that shuts down cleanly (SIGTERM, hub.close()) hands its members over: they get a Close
 * with allowReconnect, count as present for the handoff time so that those rejoining on another
 * hub keep their membership silently, and the ones that do not come back are reported left.
 */
import { expect, it } from 'vitest';
import { AGENT_KEY_A, AGENT_KEY_B, closed, connectClient, nextCall, record, until } from '../helpers/hub.js';
import { describeWithRedis, useCluster } from './support.js';

const AGENT_KEY_C = 'agent-key-cccccccccccccccc';

describeWithRedis('a hub shutting down cleanly', (redis) => {
  it('lets its members move to another hub silently and reports the others left after the handoff', async () => {
    const [h1, h2] = await useCluster(redis().url, 2, { redis: { url: redis().url, shutdownHandoffMs: 2_000 } });
    const watcher = await connectClient(h2!.url);
    await watcher.invoke('Join', 'r', { agentKey: AGENT_KEY_A });
    const joins = record(watcher, 'PeerJoined');
    const mover = await connectClient(h1!.url);
    const stayer = await connectClient(h1!.url);
    const moverSelf = (await mover.invoke('Join', 'r', { agentKey: AGENT_KEY_B })).self;
    const gone = (await stayer.invoke('Join', 'r', { agentKey: AGENT_KEY_C })).self;
    await until(() => joins.length === 2, 10_000, 'the watcher to list both');
    const left = record(watcher, 'PeerLeft');
    const moverClosed = closed(mover, 10_000);

    const closing = h1!.close();
    expect(String(await moverClosed)).toContain('RTC_ERR_SHUTTING_DOWN');
    const update = nextCall(watcher, 'PeerJoined');
    const moved = await connectClient(h2!.url);
    await moved.invoke('Join', 'r', { agentKey: AGENT_KEY_B });
    expect((await update)[1].peerId).toBe(moverSelf.peerId);
    await closing;
    // The one that did not come back is reported left once the handoff is over; the mover never.
    await until(() => left.length > 0, 20_000, 'the member that did not come back to be reported left');
    // One cleanup script reports every member hub 1 still held, together: the mover was not one.
    expect(left).toEqual([['r', gone.peerId, 'disconnected']]);
    expect((await watcher.invoke('Members', 'r')).participants.map((p: { peerId: string }) => p.peerId)).toEqual([moverSelf.peerId]);
  });
});
