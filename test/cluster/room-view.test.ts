/**
 * Pure logic of a hub's view of a room (no Redis): membership messages applied in seq order,
 * snapshots applied only when newer, lost messages noticed, a newer join elsewhere replacing a
 * local member, and the envelope codec the scripts and hubs share.
 */
import { describe, expect, it } from 'vitest';
import {
  decodeEnvelope,
  encodeJoined,
  encodeLeft,
  encodeMessage,
  encodePressure,
  entryValue,
  parseEntry,
  participantOf,
  type PresenceEntry,
} from '../../src/hub/cluster/envelope.js';
import { RoomView } from '../../src/hub/cluster/room-view.js';
import type { LocalMember, MemberEndpoint } from '../../src/hub/room-registry.js';
import type { Caller } from '../../src/hub/room-methods.js';

const SELF = 'self-node';

function entry(peerId: string, node = 'other', connectionId = `conn-${peerId}`, name = peerId): PresenceEntry {
  return { peerId, node, connectionId, joinedAt: 1000, participantJson: JSON.stringify({ peerId, name, userId: null, capabilities: { native: true }, meta: {} }) };
}

function local(peerId: string, connectionId = `local-${peerId}`): LocalMember {
  const caller = { connectionId } as unknown as Caller;
  return { participant: { peerId, name: peerId, userId: null, capabilities: { native: true }, meta: {}, joinedAt: 1 }, endpoint: caller };
}

function view(): RoomView {
  return new RoomView('r', SELF, (e) => ({ connectionId: e.connectionId, remoteNode: e.node }) as unknown as MemberEndpoint);
}

const joined = (seq: number, e: PresenceEntry) => ({ kind: 'joined' as const, seq, room: 'r', entry: e, previous: null });
const left = (seq: number, peerId: string, node = 'other') => ({ kind: 'left' as const, seq, room: 'r', peerId, node, connectionId: `conn-${peerId}`, reason: 'left' as const });

describe('RoomView', () => {
  it('keeps messages until the first snapshot, then applies only those newer than it', () => {
    const v = view();
    expect(v.applyEvent(joined(3, entry('late')))).toEqual([]);
    expect(v.applyEvent(joined(2, entry('early')))).toEqual([]);
    const effects = v.applySnapshot({ seq: 2, entries: [entry('early')] });
    expect(effects.map((e) => e.type === 'joined' && e.participant.peerId)).toEqual(['early', 'late']);
    expect(v.seq).toBe(3);
    expect([...v.members()].map((m) => m.participant.peerId).sort()).toEqual(['early', 'late']);
  });

  it('drops old messages, notices a gap, and removes a member only for the connection it had', () => {
    const v = view();
    v.applySnapshot({ seq: 5, entries: [entry('a')] });
    expect(v.applyEvent(joined(5, entry('b')))).toEqual([]);
    expect(v.applyEvent(left(6, 'a', 'elsewhere'))).toEqual([]);
    expect(v.get('a')).toBeDefined();
    expect(v.applyEvent(left(8, 'a'))).toEqual([{ type: 'gap' }, { type: 'left', peerId: 'a', reason: 'left' }]);
  });

  it('applies a snapshot only when newer, telling what changed', () => {
    const v = view();
    v.applySnapshot({ seq: 1, entries: [entry('a'), entry('b')] });
    v.applyEvent(joined(2, entry('c')));
    expect(v.applySnapshot({ seq: 2, entries: [entry('a')] })).toEqual([]);
    const effects = v.applySnapshot({ seq: 4, entries: [entry('a', 'other', 'conn-a', 'renamed'), entry('c')] });
    expect(effects).toEqual([
      { type: 'joined', participant: expect.objectContaining({ peerId: 'a', name: 'renamed' }) },
      { type: 'left', peerId: 'b', reason: 'disconnected' },
    ]);
  });

  it('gives a local member up to a newer join elsewhere, and asks to re-add one Redis lost', () => {
    const v = view();
    v.applySnapshot({ seq: 1, entries: [] });
    const mine = local('p');
    const other = local('q');
    v.addLocal(mine);
    v.addLocal(other);
    expect(v.applyEvent(joined(2, entry('p')))).toEqual([
      { type: 'replaced', member: mine },
      { type: 'joined', participant: expect.objectContaining({ peerId: 'p' }) },
    ]);
    expect(v.local.has('p')).toBe(false);
    // This hub's own entry removed by someone else while the member is still here.
    expect(v.applyEvent({ ...left(3, 'q', SELF), connectionId: 'local-q' })).toEqual([{ type: 'lost', peerId: 'q' }]);
    expect(v.applySnapshot({ seq: 9, entries: [entry('p')] })).toEqual([{ type: 'lost', peerId: 'q' }]);
  });

  it('keeps members whose hub may still be coming back after a forced snapshot, until confirmed absent', () => {
    const v = view();
    v.applySnapshot({ seq: 10, entries: [entry('a', 'n1'), entry('b', 'n2')] });
    const effects = v.applySnapshot({ seq: 1, entries: [] }, { force: true, keepMissing: (node) => node === 'n2' });
    expect(effects).toEqual([{ type: 'left', peerId: 'a', reason: 'disconnected' }]);
    expect(v.unconfirmed).toEqual(new Set(['b']));
    expect(v.confirmAbsent({ seq: 3, entries: [] })).toEqual([{ type: 'left', peerId: 'b', reason: 'disconnected' }]);
    expect(v.size).toBe(0);
  });
});

describe('backplane envelopes', () => {
  it('round-trip, including what the Lua scripts write', () => {
    const e = entry('p', 'n', 'c');
    expect(parseEntry('p', entryValue(e))).toEqual(e);
    expect(participantOf(e)).toEqual({ peerId: 'p', name: 'p', userId: null, capabilities: { native: true }, meta: {}, joinedAt: 1000 });
    expect(decodeEnvelope(encodeJoined({ seq: 7, room: 'r', entry: e, previous: { node: 'x', connectionId: 'y' } }))).toEqual({ kind: 'joined', seq: 7, room: 'r', entry: e, previous: { node: 'x', connectionId: 'y' } });
    expect(decodeEnvelope(encodeLeft({ seq: 8, room: 'r', peerId: 'p', node: 'n', connectionId: 'c', reason: 'disconnected' }))).toMatchObject({ kind: 'left', reason: 'disconnected' });
    const record = '{"type":1,"target":"Relayed","arguments":["r","p","a\\nb"]}\u001e';
    expect(decodeEnvelope(encodeMessage({ method: 'relay', origin: 'n', sentAt: 1.5, room: 'r', from: 'p', to: null, record }))).toEqual({ kind: 'message', method: 'relay', origin: 'n', sentAt: 1.5, room: 'r', from: 'p', to: null, record });
    expect(decodeEnvelope(encodePressure({ node: 'n', connectionId: 'c', busy: true }))).toEqual({ kind: 'pressure', node: 'n', connectionId: 'c', busy: true });
  });

  it('turns malformed input into null, never an exception', () => {
    for (const bad of ['', 'X', 'J\n0\nr\np\n\n\nn\nc\n1\n{}', 'L\n1\nr\np\nn\nc\nbogus', 'R\nn\nNaN\nr\np\n\nrec', 'R\nn\n1\nr\n\n\nrec', 'P\nn\nc\n2', 'J\n1\nr\np\n\n\nn\nc\nx\n{}']) {
      expect(decodeEnvelope(bad), JSON.stringify(bad)).toBeNull();
    }
    expect(participantOf({ ...entry('p'), participantJson: '{"peerId":"someone-else"}' })).toBeNull();
    expect(participantOf({ ...entry('p'), participantJson: '{not json' })).toBeNull();
  });
});
