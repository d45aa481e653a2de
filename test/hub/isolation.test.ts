/** Room isolation and sender stamping: nothing crosses rooms, `to` must be in the room, no spoofing. */
import { describe, expect, it } from 'vitest';
import { AGENT_KEY_A, AGENT_KEY_B, connectClient, nextCall, record, useHub } from '../helpers/hub.js';

describe('room isolation', () => {
  it('never delivers a relay or signal to another room', async () => {
    const hub = await useHub();
    const a = await connectClient(hub.url);
    const b = await connectClient(hub.url);
    const outsider = await connectClient(hub.url);
    const seenByOutsider = [...record(outsider, 'Relayed'), ...record(outsider, 'Signal')];
    const outsiderRelays = record(outsider, 'Relayed');
    const outsiderSignals = record(outsider, 'Signal');
    const outsiderJoins = record(outsider, 'PeerJoined');
    const { self: other } = await outsider.invoke('Join', 'room-2', { agentKey: 'outsider-key-0000000000' });
    await a.invoke('Join', 'room-1', { agentKey: AGENT_KEY_A });
    const { self: bSelf } = await b.invoke('Join', 'room-1', { agentKey: AGENT_KEY_B });

    const got = nextCall(b, 'Relayed');
    await a.invoke('Relay', 'room-1', null, 'b25l');
    await got;
    // `to` naming a member of a different room is refused, with the reason.
    await expect(a.invoke('Relay', 'room-1', other.peerId, 'eA==')).rejects.toThrow(`RTC_ERR_PEER_NOT_IN_ROOM: peer '${other.peerId}' is not a member of room 'room-1'`);
    await expect(a.invoke('Signal', 'room-1', other.peerId, { type: 'bye' })).rejects.toThrow('RTC_ERR_PEER_NOT_IN_ROOM');
    // Sending into a room one has not joined is refused.
    await expect(a.invoke('Relay', 'room-2', null, 'eA==')).rejects.toThrow("RTC_ERR_NOT_IN_ROOM: not a member of room 'room-2'");
    await expect(a.invoke('Signal', 'room-2', other.peerId, { type: 'bye' })).rejects.toThrow('RTC_ERR_NOT_IN_ROOM');

    // A round trip through the outsider's own connection proves everything before it was processed.
    await outsider.invoke('Leave', 'room-2');
    expect(outsiderRelays).toEqual([]);
    expect(outsiderSignals).toEqual([]);
    expect(outsiderJoins).toEqual([]);
    expect(seenByOutsider).toEqual([]);
    expect(bSelf.peerId).not.toBe(other.peerId);
  });

  it('stamps the sender: extra arguments cannot name another sender', async () => {
    const hub = await useHub();
    const a = await connectClient(hub.url);
    const b = await connectClient(hub.url);
    const { self: aSelf } = await a.invoke('Join', 'r', { agentKey: AGENT_KEY_A });
    const { self: bSelf } = await b.invoke('Join', 'r', { agentKey: AGENT_KEY_B });
    // A fourth "from" argument is a bad request, not a way to spoof.
    await expect(a.invoke('Relay', 'r', bSelf.peerId, 'eA==', bSelf.peerId)).rejects.toThrow('RTC_ERR_BAD_REQUEST: Relay takes 3 arguments, got 4');
    // A signal object claiming a sender is delivered, but the hub's `from` argument is the truth.
    const got = nextCall(b, 'Signal');
    await a.invoke('Signal', 'r', bSelf.peerId, { type: 'bye', from: bSelf.peerId });
    const [, from] = await got;
    expect(from).toBe(aSelf.peerId);
    // Nobody can address themselves as a way to loop messages.
    await expect(a.invoke('Signal', 'r', aSelf.peerId, { type: 'bye' })).rejects.toThrow('RTC_ERR_PEER_NOT_IN_ROOM');
  });

  it('validates argument types with errors that name the argument', async () => {
    const hub = await useHub();
    const a = await connectClient(hub.url);
    await a.invoke('Join', 'r', {});
    await expect(a.invoke('Relay', 'r', 42, 'eA==')).rejects.toThrow("RTC_ERR_BAD_REQUEST: 'to' must be a peer id string, got number");
    await expect(a.invoke('Relay', 'r', null, { x: 1 })).rejects.toThrow("RTC_ERR_BAD_REQUEST: Relay's payload must be a base64 string (JSON) or binary (MessagePack), got object");
    await expect(a.invoke('Signal', 'r', 'p', 'str')).rejects.toThrow();
    await expect(a.invoke('Join', 7, {})).rejects.toThrow('RTC_ERR_BAD_REQUEST: room must be a string, got number');
    await expect(a.invoke('Join', 'r', [])).rejects.toThrow('RTC_ERR_BAD_REQUEST: hello must be an object, got array');
    await expect(a.invoke('Join')).rejects.toThrow('RTC_ERR_BAD_REQUEST: Join takes 1-2 arguments, got 0');
    // Still usable afterwards.
    await expect(a.invoke('Leave', 'r')).resolves.toBeUndefined();
  });
});
