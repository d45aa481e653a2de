/**
 * Two and three hubs on one real redis-server serve a room as one hub does, checked with the
 * official @microsoft/signalr client on different hubs: Join's participants, PeerJoined/PeerLeft,
 * directed Signal and Relay, broadcast Relay, sender stamping, isolation, JWT rules, a room limit
 * counted across hubs, Members, and a peer moving between hubs.
 */
import { SignJWT } from 'jose';
import { expect, it } from 'vitest';
import { codeOf } from '../helpers/contract-checks.js';
import { AGENT_KEY_A, AGENT_KEY_B, connectClient, nextCall, record, until } from '../helpers/hub.js';
import { describeWithRedis, useCluster } from './support.js';

const AGENT_KEY_C = 'agent-key-cccccccccccccccc';
const SECRET = 'cluster-test-secret-long-enough';

function sign(claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('10m').sign(new TextEncoder().encode(SECRET));
}

describeWithRedis('rooms across hubs', (redis) => {
  it('lists members across hubs, announces joins and leaves, and relays and signals between hubs', async () => {
    const [h1, h2, h3] = await useCluster(redis().url, 3);
    const a = await connectClient(h1!.url);
    const b = await connectClient(h2!.url);
    const c = await connectClient(h3!.url);
    const joinedA = await a.invoke('Join', 'lobby', { agentKey: AGENT_KEY_A, name: 'alpha' });
    expect(joinedA.participants).toEqual([]);
    expect(joinedA.features).toContain('members');

    const aSeesB = nextCall(a, 'PeerJoined', 5_000, (room: string) => room === 'lobby');
    const bJoins = record(b, 'PeerJoined');
    const joinedB = await b.invoke('Join', 'lobby', { agentKey: AGENT_KEY_B, name: 'beta', capabilities: { native: true } });
    expect(joinedB.participants).toEqual([joinedA.self]);
    expect((await aSeesB)[1]).toEqual(joinedB.self);

    const seenByA = nextCall(a, 'PeerJoined', 5_000, (_r: string, p: { peerId: string }) => p.peerId !== joinedB.self.peerId);
    const seenByB = nextCall(b, 'PeerJoined');
    const joinedC = await c.invoke('Join', 'lobby', { agentKey: AGENT_KEY_C, name: 'gamma' });
    expect(new Set(joinedC.participants.map((p: { peerId: string }) => p.peerId))).toEqual(new Set([joinedA.self.peerId, joinedB.self.peerId]));
    expect((await seenByA)[1].peerId).toBe(joinedC.self.peerId);
    expect((await seenByB)[1].peerId).toBe(joinedC.self.peerId);
    // A joiner learns the room from its Join result, not from PeerJoined of those already there.
    expect(bJoins.map((call) => call[1].peerId)).toEqual([joinedC.self.peerId]);

    // Directed Relay and Signal to a member on another hub, stamped by the sender's hub.
    const relayed = nextCall(b, 'Relayed');
    await a.invoke('Relay', 'lobby', joinedB.self.peerId, 'aGVsbG8=');
    expect(await relayed).toEqual(['lobby', joinedA.self.peerId, 'aGVsbG8=']);
    const signalled = nextCall(c, 'Signal');
    await b.invoke('Signal', 'lobby', joinedC.self.peerId, { type: 'probe', from: 'forged' });
    expect(await signalled).toEqual(['lobby', joinedB.self.peerId, { type: 'probe', from: 'forged' }]);

    // Broadcast: every other member on every hub, once; never the sender.
    const atA = record(a, 'Relayed');
    const atB = nextCall(b, 'Relayed');
    const atC = record(c, 'Relayed');
    await c.invoke('Relay', 'lobby', null, 'YWxs');
    expect(await atB).toEqual(['lobby', joinedC.self.peerId, 'YWxs']);
    await until(() => atA.length === 1, 5_000, 'the broadcast at A');
    expect(atA).toEqual([['lobby', joinedC.self.peerId, 'YWxs']]);
    // A marker sent to C after the broadcast arrived elsewhere: had C got its own, it came first.
    await a.invoke('Relay', 'lobby', joinedC.self.peerId, 'bWFyaw==');
    await until(() => atC.length > 0, 5_000, 'the marker at C');
    expect(atC).toEqual([['lobby', joinedA.self.peerId, 'bWFyaw==']]);

    // Members is cluster-wide.
    const members = await a.invoke('Members', 'lobby');
    expect(new Set(members.participants.map((p: { peerId: string }) => p.peerId))).toEqual(new Set([joinedB.self.peerId, joinedC.self.peerId]));

    // Leave on one hub is PeerLeft('left') on the others; a closed connection is 'disconnected'.
    const leftAtA = nextCall(a, 'PeerLeft');
    const leftAtC = nextCall(c, 'PeerLeft');
    await b.invoke('Leave', 'lobby');
    expect(await leftAtA).toEqual(['lobby', joinedB.self.peerId, 'left']);
    expect(await leftAtC).toEqual(['lobby', joinedB.self.peerId, 'left']);
    await expect(a.invoke('Relay', 'lobby', joinedB.self.peerId, 'eA==')).rejects.toThrow('RTC_ERR_PEER_NOT_IN_ROOM');
    const goneAtA = nextCall(a, 'PeerLeft');
    await c.stop();
    expect(await goneAtA).toEqual(['lobby', joinedC.self.peerId, 'disconnected']);
    expect(await a.invoke('Members', 'lobby')).toEqual({ room: 'lobby', participants: [] });
  });

  it('keeps rooms apart across hubs and refuses `to` outside the room', async () => {
    const [h1, h2] = await useCluster(redis().url, 2);
    const a = await connectClient(h1!.url);
    const b = await connectClient(h2!.url);
    const outsider = await connectClient(h2!.url);
    const outsiderSaw = [...['Relayed', 'Signal', 'PeerJoined', 'PeerLeft'].map((m) => record(outsider, m))];
    const { self: other } = await outsider.invoke('Join', 'room-2', { agentKey: 'outsider-key-0000000000' });
    await a.invoke('Join', 'room-1', { agentKey: AGENT_KEY_A });
    // A broadcast goes to the members the sender lists (room contract), so A waits to list B.
    const aListsB = nextCall(a, 'PeerJoined');
    const { self: bSelf } = await b.invoke('Join', 'room-1', { agentKey: AGENT_KEY_B });
    await aListsB;
    const got = nextCall(b, 'Relayed');
    await a.invoke('Relay', 'room-1', null, 'b25l');
    await got;
    await expect(a.invoke('Relay', 'room-1', other.peerId, 'eA==')).rejects.toThrow(`RTC_ERR_PEER_NOT_IN_ROOM: peer '${other.peerId}' is not a member of room 'room-1'`);
    await expect(a.invoke('Signal', 'room-1', other.peerId, { type: 'bye' })).rejects.toThrow('RTC_ERR_PEER_NOT_IN_ROOM');
    await expect(a.invoke('Relay', 'room-2', null, 'eA==')).rejects.toThrow('RTC_ERR_NOT_IN_ROOM');
    // A relay to B and a round trip through the outsider's hub prove nothing for room-1 reached it.
    const last = nextCall(b, 'Relayed');
    await a.invoke('Relay', 'room-1', bSelf.peerId, 'bGFzdA==');
    await last;
    await outsider.invoke('Leave', 'room-2');
    expect(outsiderSaw.flat()).toEqual([]);
  });

  it('keeps the order of one sender\'s messages to a member on another hub, directed and broadcast mixed', async () => {
    const [h1, h2] = await useCluster(redis().url, 2);
    const a = await connectClient(h1!.url);
    const b = await connectClient(h2!.url);
    await a.invoke('Join', 'order', { agentKey: AGENT_KEY_A });
    const listed = nextCall(a, 'PeerJoined');
    const { self: bSelf } = await b.invoke('Join', 'order', { agentKey: AGENT_KEY_B });
    await listed;
    const got: string[] = [];
    b.on('Relayed', (_room: string, _from: string, payload: string) => got.push(payload));
    const total = 400;
    // Sent in one go: the client packs them into few frames, the hub handles them in one turn.
    const sends: Promise<void>[] = [];
    for (let i = 0; i < total; i++) sends.push(a.send('Relay', 'order', i % 3 === 0 ? null : bSelf.peerId, Buffer.from(String(i)).toString('base64')));
    await Promise.all(sends);
    await until(() => got.length === total, 10_000, 'every message at B');
    expect(got.map((p) => Number(Buffer.from(p, 'base64').toString()))).toEqual(Array.from({ length: total }, (_, i) => i));
  });

  it('counts the room limit across hubs', async () => {
    const [h1, h2] = await useCluster(redis().url, 2, { limits: { maxPeersPerRoom: 2 } });
    const a = await connectClient(h1!.url);
    const b = await connectClient(h2!.url);
    const c = await connectClient(h1!.url);
    const d = await connectClient(h2!.url);
    await a.invoke('Join', 'small', { agentKey: AGENT_KEY_A });
    await b.invoke('Join', 'small', { agentKey: AGENT_KEY_B });
    await expect(c.invoke('Join', 'small', { agentKey: AGENT_KEY_C })).rejects.toThrow("RTC_ERR_ROOM_FULL: room 'small' is full (2 members)");
    await expect(d.invoke('Join', 'small', { agentKey: AGENT_KEY_C })).rejects.toThrow('RTC_ERR_ROOM_FULL');
    // A member rejoining (same peer id, another hub) is not an extra one.
    const moved = await connectClient(h1!.url);
    const joined = await moved.invoke('Join', 'small', { agentKey: AGENT_KEY_B });
    expect(joined.participants).toHaveLength(1);
    await a.invoke('Leave', 'small');
    await expect(d.invoke('Join', 'small', { agentKey: AGENT_KEY_C })).resolves.toMatchObject({ room: 'small' });
  });

  it('moves a peer to another hub as a replacement: the old connection is told, the others see an update', async () => {
    const [h1, h2] = await useCluster(redis().url, 2);
    const watcher = await connectClient(h1!.url);
    const first = await connectClient(h1!.url);
    await watcher.invoke('Join', 'r', { agentKey: AGENT_KEY_A });
    const { self } = await first.invoke('Join', 'r', { agentKey: AGENT_KEY_B, name: 'before' });
    const left = record(watcher, 'PeerLeft');
    const replaced = nextCall(first, 'PeerLeft');
    const update = nextCall(watcher, 'PeerJoined');
    const second = await connectClient(h2!.url);
    const again = await second.invoke('Join', 'r', { agentKey: AGENT_KEY_B, name: 'after' });
    expect(again.self.peerId).toBe(self.peerId);
    expect(again.self.joinedAt).toBe(self.joinedAt);
    expect(await replaced).toEqual(['r', self.peerId, 'replaced']);
    expect((await update)[1]).toMatchObject({ peerId: self.peerId, name: 'after' });
    // The old connection can no longer send as the peer, and its close removes nothing.
    expect(await codeOf(first.invoke('Relay', 'r', null, 'eA=='))).toBe('RTC_ERR_NOT_IN_ROOM');
    await first.stop();
    const toNew = nextCall(second, 'Relayed');
    await watcher.invoke('Relay', 'r', self.peerId, 'c3RpbGw=');
    expect((await toNew)[2]).toBe('c3RpbGw=');
    expect(left).toEqual([]);
  });

  it('applies the JWT rules on every hub: rooms claim, identity from the token', async () => {
    const [h1, h2] = await useCluster(redis().url, 2, { auth: { jwtSecret: SECRET } });
    const alice = await connectClient(h1!.url, { token: await sign({ sub: 'alice', name: 'Alice', rooms: ['ops'] }) });
    const bob = await connectClient(h2!.url, { token: await sign({ sub: 'bob', rooms: '*' }) });
    await expect(alice.invoke('Join', 'dev', { agentKey: AGENT_KEY_A })).rejects.toThrow("RTC_ERR_FORBIDDEN: not allowed to join room 'dev'");
    const joinedA = await alice.invoke('Join', 'ops', { agentKey: AGENT_KEY_A, name: 'ignored' });
    const joinedB = await bob.invoke('Join', 'ops', { agentKey: AGENT_KEY_A });
    // Same agent key, different users: different peers, on either hub.
    expect(joinedB.self.peerId).not.toBe(joinedA.self.peerId);
    expect(joinedB.participants).toEqual([expect.objectContaining({ peerId: joinedA.self.peerId, name: 'Alice', userId: 'alice' })]);
  });
});
