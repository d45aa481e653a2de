/**
 * What hubs of a cluster say to each other over Redis pub/sub, and how a presence entry is stored.
 * Text, fields separated by '\n', the last field free-form: no field can hold a newline (room names
 * and ids are validated; a SignalR JSON record and JSON.stringify output escape every control
 * character), so a decoder splits off a fixed number of fields and keeps the rest whole. The Lua
 * scripts (scripts.ts) write `joined` and `left` themselves, atomically with the change they
 * announce; docs/cluster.md lists every format. Decoding never throws: a malformed message is
 * null, counted and dropped by the caller.
 */
import type { Participant, PeerLeftReason } from '../../protocol/room-contract.js';

/** A member's presence as Redis stores it: hash `room:<name>`, field = peer id, value = {@link entryValue}. */
export interface PresenceEntry {
  peerId: string;
  /** Id of the hub node holding the member's connection. */
  node: string;
  connectionId: string;
  /** ms since the epoch, Redis clock (so every hub reports the same value). */
  joinedAt: number;
  /** The participant without `joinedAt`, exactly as stored: two entries are the same member state iff equal. */
  participantJson: string;
}

/** A membership change, published by the script that made it; `seq` counts changes per room. */
export interface JoinedEnvelope {
  kind: 'joined';
  seq: number;
  room: string;
  entry: PresenceEntry;
  /** The entry it replaced (the same peer on another connection), if any. */
  previous: { node: string; connectionId: string } | null;
}

export interface LeftEnvelope {
  kind: 'left';
  seq: number;
  room: string;
  peerId: string;
  node: string;
  connectionId: string;
  reason: PeerLeftReason;
}

/** A Relay or Signal from a member on the origin hub, to one member (`to`) or the room (`to` null). */
export interface MessageEnvelope {
  kind: 'message';
  /** Relay or Signal; for metrics only, the record already names its target. */
  method: 'relay' | 'signal';
  origin: string;
  /** ms since the epoch (fractional), origin's clock: publish → receive latency. */
  sentAt: number;
  room: string;
  /** The sender's peer id; may be empty for a directed message (only a broadcast needs it). */
  from: string;
  to: string | null;
  /** The complete SignalR record to deliver (serialised once, by the origin hub). */
  record: string;
}

/**
 * Backpressure across hubs: `node`'s connection `connectionId` has more queued than its high-water
 * mark (busy) or drained below it again. Sent to each hub whose relays to it are waiting.
 */
export interface PressureEnvelope {
  kind: 'pressure';
  node: string;
  connectionId: string;
  busy: boolean;
}

export type Envelope = JoinedEnvelope | LeftEnvelope | MessageEnvelope | PressureEnvelope;
export type MembershipEnvelope = JoinedEnvelope | LeftEnvelope;

const SEP = '\n';
const LEFT_REASONS: readonly string[] = ['left', 'disconnected', 'replaced'];

/** The hash value of a presence entry (the peer id is the hash field). */
export function entryValue(entry: Omit<PresenceEntry, 'peerId'>): string {
  return `${entry.node}${SEP}${entry.connectionId}${SEP}${entry.joinedAt}${SEP}${entry.participantJson}`;
}

/** Parses a hash value written by {@link entryValue} (or a script); null when malformed. */
export function parseEntry(peerId: string, value: string): PresenceEntry | null {
  const f = splitFields(value, 3);
  if (!f) return null;
  const [node, connectionId, joinedAtText, participantJson] = f as [string, string, string, string];
  const joinedAt = Number(joinedAtText);
  if (!node || !connectionId || !Number.isSafeInteger(joinedAt) || !participantJson.startsWith('{')) return null;
  return { peerId, node, connectionId, joinedAt, participantJson };
}

/** The participant an entry describes, or null when its JSON is not a participant of that peer. */
export function participantOf(entry: PresenceEntry): Participant | null {
  let value: unknown;
  try {
    value = JSON.parse(entry.participantJson);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || (value as { peerId?: unknown }).peerId !== entry.peerId) return null;
  return { ...(value as Omit<Participant, 'joinedAt'>), joinedAt: entry.joinedAt };
}

export function encodeMessage(m: Omit<MessageEnvelope, 'kind'>): string {
  return `${m.method === 'relay' ? 'R' : 'S'}${SEP}${m.origin}${SEP}${m.sentAt}${SEP}${m.room}${SEP}${m.from}${SEP}${m.to ?? ''}${SEP}${m.record}`;
}

export function encodePressure(p: Omit<PressureEnvelope, 'kind'>): string {
  return `P${SEP}${p.node}${SEP}${p.connectionId}${SEP}${p.busy ? '1' : '0'}`;
}

/** The `joined` message as the join script writes it (the same layout, for tests and resync). */
export function encodeJoined(j: Omit<JoinedEnvelope, 'kind'>): string {
  return `J${SEP}${j.seq}${SEP}${j.room}${SEP}${j.entry.peerId}${SEP}${j.previous?.node ?? ''}${SEP}${j.previous?.connectionId ?? ''}${SEP}${entryValue(j.entry)}`;
}

export function encodeLeft(l: Omit<LeftEnvelope, 'kind'>): string {
  return `L${SEP}${l.seq}${SEP}${l.room}${SEP}${l.peerId}${SEP}${l.node}${SEP}${l.connectionId}${SEP}${l.reason}`;
}

export function decodeEnvelope(text: string): Envelope | null {
  switch (text.charCodeAt(0)) {
    case 0x52: // R
    case 0x53: // S
      return decodeMessage(text);
    case 0x4a: // J
      return decodeJoined(text);
    case 0x4c: // L
      return decodeLeft(text);
    case 0x50: // P
      return decodePressure(text);
    default:
      return null;
  }
}

function decodeMessage(text: string): MessageEnvelope | null {
  const f = splitFields(text, 6);
  if (!f) return null;
  const [kind, origin, sentAtText, room, from, to, record] = f as [string, string, string, string, string, string, string];
  const sentAt = Number(sentAtText);
  // A directed message needs no sender for routing (the record names it); a broadcast does, to skip it.
  if (kind.length !== 1 || !origin || !room || (!from && !to) || !Number.isFinite(sentAt) || record.length === 0) return null;
  return { kind: 'message', method: kind === 'R' ? 'relay' : 'signal', origin, sentAt, room, from, to: to === '' ? null : to, record };
}

function decodeJoined(text: string): JoinedEnvelope | null {
  const f = splitFields(text, 6);
  if (!f) return null;
  const [kind, seqText, room, peerId, prevNode, prevConn, value] = f as [string, string, string, string, string, string, string];
  const seq = Number(seqText);
  if (kind !== 'J' || !isSeq(seq) || !room || !peerId) return null;
  const entry = parseEntry(peerId, value);
  if (!entry) return null;
  return { kind: 'joined', seq, room, entry, previous: prevNode ? { node: prevNode, connectionId: prevConn } : null };
}

function decodeLeft(text: string): LeftEnvelope | null {
  const f = splitFields(text, 6);
  if (!f) return null;
  const [kind, seqText, room, peerId, node, connectionId, reason] = f as [string, string, string, string, string, string, string];
  const seq = Number(seqText);
  if (kind !== 'L' || !isSeq(seq) || !room || !peerId || !node || !LEFT_REASONS.includes(reason)) return null;
  return { kind: 'left', seq, room, peerId, node, connectionId, reason: reason as PeerLeftReason };
}

function decodePressure(text: string): PressureEnvelope | null {
  const f = splitFields(text, 3);
  if (!f) return null;
  const [kind, node, connectionId, busy] = f as [string, string, string, string];
  if (kind !== 'P' || !node || !connectionId || (busy !== '0' && busy !== '1')) return null;
  return { kind: 'pressure', node, connectionId, busy: busy === '1' };
}

function isSeq(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0;
}

/** `count` fields before the last separator-free split, plus the rest; null if there are fewer. */
function splitFields(text: string, count: number): string[] | null {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < count; i++) {
    const end = text.indexOf(SEP, start);
    if (end === -1) return null;
    out.push(text.slice(start, end));
    start = end + 1;
  }
  out.push(text.slice(start));
  return out;
}
