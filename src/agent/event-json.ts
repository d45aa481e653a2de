/**
 * The one JSON shape of the agent's events, for everything that writes them as lines: `rtc-agent
 * pipe --json`, the daemon's `GET /events`, and programs that log or forward events. Each object is
 * the library event's payload under the library's own field names, after `type` (the event name)
 * and `ts` (when it was emitted here, ms since the epoch); bytes are base64 strings, fields the
 * library leaves undefined are null. docs/events.md describes every type.
 */
import type { AgentEvents } from './agent.js';
import type { PeerInfo } from '../engine/types.js';

/** Library events that have a JSON form. */
export type EventJsonType =
  | 'message'
  | 'peer-joined'
  | 'peer-left'
  | 'path-changed'
  | 'delivery-refused'
  | 'file-offer'
  | 'file-progress'
  | 'file-received'
  | 'file-failed'
  | 'error'
  | 'hub';

/** A peer as JSON: PeerInfo with the room, undefined fields as null. */
export interface PeerJson {
  room: string;
  peerId: string;
  name: string;
  userId: string | null;
  native: boolean;
  path: PeerInfo['path'];
  p2p: PeerInfo['p2p'];
  rttMs: number | null;
  unackedBytes: number;
  lastHeardMs: number;
  bytesSent: number;
  bytesReceived: number;
  messagesSent: number;
  messagesReceived: number;
  p2pFailures: number;
  fingerprint: string | null;
  e2ee: boolean;
  canSend: boolean;
  cannotSendReason: string | null;
  candidates: { local: string; remote: string } | null;
}

type Stamp<T extends string> = { type: T; ts: number };
type Payload<K extends EventJsonType> = AgentEvents[K][0];

export type MessageEventJson = Stamp<'message'> & {
  room: string;
  from: string;
  name: string;
  kind: 'text' | 'json' | 'binary';
  /** Text and JSON messages: the text as sent. */
  text?: string;
  /** Text: the string; JSON: the parsed value; binary: the bytes, base64. */
  data: unknown;
  id: string;
  /** The sender's clock. */
  timestamp: number;
  path: 'p2p' | 'relay';
  reliable: boolean;
  encrypted: boolean;
};
export type PeerJoinedEventJson = Stamp<'peer-joined'> & PeerJson & { reason: Payload<'peer-joined'>['reason'] };
export type PeerLeftEventJson = Stamp<'peer-left'> & Payload<'peer-left'>;
export type PathChangedEventJson = Stamp<'path-changed'> & Payload<'path-changed'>;
export type DeliveryRefusedEventJson = Stamp<'delivery-refused'> & Payload<'delivery-refused'>;
export type FileOfferEventJson = Stamp<'file-offer'> & Payload<'file-offer'>;
export type FileProgressEventJson = Stamp<'file-progress'> & Payload<'file-progress'>;
export type FileReceivedEventJson = Stamp<'file-received'> & Omit<Payload<'file-received'>, 'blob'>;
export type FileFailedEventJson = Stamp<'file-failed'> & Payload<'file-failed'>;
export type ErrorEventJson = Stamp<'error'> & { code: string; message: string; room: string | null };
export type HubEventJson = Stamp<'hub'> & { state: Payload<'hub'> };

/** Any library event as JSON. */
export type EventJson =
  | MessageEventJson
  | PeerJoinedEventJson
  | PeerLeftEventJson
  | PathChangedEventJson
  | DeliveryRefusedEventJson
  | FileOfferEventJson
  | FileProgressEventJson
  | FileReceivedEventJson
  | FileFailedEventJson
  | ErrorEventJson
  | HubEventJson;

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

export function peerJson(room: string, p: PeerInfo): PeerJson {
  return {
    room,
    peerId: p.peerId,
    name: p.name,
    userId: p.userId,
    native: p.native,
    path: p.path,
    p2p: p.p2p,
    rttMs: p.rttMs ?? null,
    unackedBytes: p.unackedBytes,
    lastHeardMs: p.lastHeardMs,
    bytesSent: p.bytesSent,
    bytesReceived: p.bytesReceived,
    messagesSent: p.messagesSent,
    messagesReceived: p.messagesReceived,
    p2pFailures: p.p2pFailures,
    fingerprint: p.fingerprint ?? null,
    e2ee: p.e2ee,
    canSend: p.canSend,
    cannotSendReason: p.cannotSendReason ?? null,
    candidates: p.candidates ?? null,
  };
}

/**
 * The JSON form of one library event. Field order is fixed (type, ts, room, then the payload's),
 * so line-oriented tools (sed, grep) can rely on it.
 */
export function eventJson<K extends EventJsonType>(type: K, payload: Payload<K>, ts: number = Date.now()): EventJson {
  const p = payload as unknown as Record<string, unknown>;
  switch (type) {
    case 'message': {
      const m = payload as Payload<'message'>;
      const body: { text?: string; data: unknown } = { data: m.kind === 'binary' ? base64(m.data as Uint8Array) : m.data };
      if (m.text !== undefined) body.text = m.text;
      return {
        type: 'message',
        ts,
        room: m.room,
        from: m.from,
        name: m.name,
        kind: m.kind,
        ...(body.text !== undefined ? { text: body.text } : {}),
        data: body.data,
        id: m.id,
        timestamp: m.timestamp,
        path: m.path,
        reliable: m.reliable,
        encrypted: m.encrypted,
      };
    }
    case 'peer-joined': {
      const j = payload as Payload<'peer-joined'>;
      return { type: 'peer-joined', ts, ...peerJson(j.room, j), reason: j.reason };
    }
    case 'file-received': {
      const { blob: _blob, room, ...file } = payload as Payload<'file-received'>;
      return { type: 'file-received', ts, room, ...file };
    }
    case 'error': {
      const e = payload as Payload<'error'>;
      const room = e.details?.room;
      return { type: 'error', ts, code: e.code, message: e.message, room: typeof room === 'string' ? room : null };
    }
    case 'hub':
      return { type: 'hub', ts, state: payload as Payload<'hub'> };
    default: {
      const { room, ...rest } = p;
      return { type, ts, room, ...rest } as EventJson;
    }
  }
}
