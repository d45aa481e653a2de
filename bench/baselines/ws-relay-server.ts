/**
 * Baseline: the least a relay over bare `ws` has to do, for comparison with our SignalR hub.
 * Same job as the hub's Join/Relay: rooms, peer ids stamped by the server, to-one or to-room
 * forwarding, end-to-end backpressure. Nothing else (no SignalR framing, handshake, acks, auth).
 *
 * Wire protocol (JSON text frames):
 *   client → server  {"type":"join","room":R}                → {"type":"joined","room":R,"self":ID,"participants":[ID...]}
 *   client → server  {"room":R,"to":ID|null,"payload":B64}   → to the target(s): {"room":R,"from":ID,"payload":B64}
 *   server → others  {"type":"peerJoined"|"peerLeft","room":R,"peerId":ID}
 *
 * `--batch`: a frame may carry several records separated by "\n", and everything queued for one
 * client in one event-loop turn leaves as one frame. That is the batching the SignalR client
 * (TransportSendQueue) and our hub (outbox flushed per microtask) do, so `ws-batched` isolates
 * the cost of the SignalR protocol itself; plain mode is the naive one-frame-per-message relay.
 *
 * Prints its URL as the first stdout line. 127.0.0.1 only.
 */
import { randomBytes } from 'node:crypto';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import { exitWhenParentSays } from '../lib/child.js';

/** Same numbers as the hub defaults (src/hub/options.ts) so both apply the same backpressure. */
const HIGH_WATER_BYTES = 1024 * 1024;
const MAX_QUEUED_BYTES = 16 * 1024 * 1024;
const MAX_MESSAGE_BYTES = 64 * 1024;
/** Batched frames carry several messages; the hub allows 4 × maxMessageBytes per frame. */
const MAX_FRAME_BYTES = MAX_MESSAGE_BYTES * 4;

const BATCH = process.argv.includes('--batch');

interface Peer {
  id: string;
  ws: WebSocket;
  rooms: Set<string>;
  /** Bytes queued for this peer (outbox + handed to ws.send but not yet written to the kernel). */
  queued: number;
  /** --batch: records waiting for this turn's flush. */
  outbox: string[];
  flushScheduled: boolean;
  /** Sources paused because they sent to us while we were over the high-water mark. */
  waiters: Set<Peer>;
  /** Destinations this peer is paused on; it reads again when this is empty. */
  blockedOn: Set<Peer>;
}

const rooms = new Map<string, Set<Peer>>();

function write(dest: Peer, frame: string, bytes: number): void {
  dest.ws.send(frame, () => {
    dest.queued -= bytes;
    if (dest.queued <= HIGH_WATER_BYTES / 2 && dest.waiters.size > 0) releaseWaiters(dest);
  });
}

function flush(dest: Peer): void {
  dest.flushScheduled = false;
  if (dest.outbox.length === 0) return;
  const frame = dest.outbox.length === 1 ? (dest.outbox[0] as string) : dest.outbox.join('\n');
  dest.outbox = [];
  write(dest, frame, frame.length);
}

function sendTo(dest: Peer, record: string, source: Peer | null): void {
  // .length, not Buffer.byteLength: records are ASCII JSON + base64, and this is what the hub counts too.
  const bytes = record.length;
  dest.queued += bytes;
  if (dest.queued > MAX_QUEUED_BYTES) {
    // Mirrors the hub's SLOW_CONSUMER rule: a reader that far behind is dropped, not buffered forever.
    dest.ws.close(1008, 'slow consumer');
    return;
  }
  if (BATCH) {
    dest.outbox.push(record);
    if (!dest.flushScheduled) {
      dest.flushScheduled = true;
      queueMicrotask(() => flush(dest));
    }
  } else {
    write(dest, record, bytes);
  }
  if (source && dest.queued > HIGH_WATER_BYTES && !dest.waiters.has(source)) {
    // Stop reading from the sender until this destination drains: backpressure reaches the sender's TCP window.
    dest.waiters.add(source);
    source.blockedOn.add(dest);
    source.ws.pause();
  }
}

function releaseWaiters(dest: Peer): void {
  for (const source of dest.waiters) {
    source.blockedOn.delete(dest);
    if (source.blockedOn.size === 0) source.ws.resume();
  }
  dest.waiters.clear();
}

function broadcastNotice(room: string, except: Peer, notice: object): void {
  const record = JSON.stringify(notice);
  for (const member of rooms.get(room) ?? []) if (member !== except) sendTo(member, record, null);
}

function onRecord(peer: Peer, text: string): void {
  let msg: { type?: unknown; room?: unknown; to?: unknown; payload?: unknown };
  try {
    msg = JSON.parse(text) as typeof msg;
  } catch {
    peer.ws.close(1007, 'bad json');
    return;
  }
  if (typeof msg.room !== 'string') return;
  if (msg.type === 'join') {
    let members = rooms.get(msg.room);
    if (!members) rooms.set(msg.room, (members = new Set()));
    const participants = [...members].map((m) => m.id);
    members.add(peer);
    peer.rooms.add(msg.room);
    sendTo(peer, JSON.stringify({ type: 'joined', room: msg.room, self: peer.id, participants }), null);
    broadcastNotice(msg.room, peer, { type: 'peerJoined', room: msg.room, peerId: peer.id });
    return;
  }
  if (typeof msg.payload !== 'string' || (msg.to !== null && typeof msg.to !== 'string')) return;
  if (msg.payload.length > MAX_MESSAGE_BYTES) return;
  const members = rooms.get(msg.room);
  if (!members || !peer.rooms.has(msg.room)) return;
  // Serialize once, send the same string to every receiver (a broadcast must not cost N stringifies).
  const record = JSON.stringify({ room: msg.room, from: peer.id, payload: msg.payload });
  if (msg.to === null) {
    for (const member of members) if (member !== peer) sendTo(member, record, peer);
  } else {
    for (const member of members) {
      if (member.id === msg.to) {
        sendTo(member, record, peer);
        break;
      }
    }
  }
}

function onMessage(peer: Peer, data: RawData, isBinary: boolean): void {
  if (isBinary) return;
  const text = data.toString();
  if (!BATCH) {
    onRecord(peer, text);
    return;
  }
  for (const record of text.split('\n')) if (record.length > 0) onRecord(peer, record);
}

function onClose(peer: Peer): void {
  for (const room of peer.rooms) {
    const members = rooms.get(room);
    if (!members) continue;
    members.delete(peer);
    if (members.size === 0) rooms.delete(room);
    else broadcastNotice(room, peer, { type: 'peerLeft', room, peerId: peer.id });
  }
  releaseWaiters(peer);
  for (const dest of peer.blockedOn) dest.waiters.delete(peer);
}

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  path: '/relay',
  perMessageDeflate: false,
  maxPayload: BATCH ? MAX_FRAME_BYTES : MAX_MESSAGE_BYTES,
});

wss.on('connection', (ws) => {
  const peer: Peer = {
    id: randomBytes(9).toString('base64url'),
    ws,
    rooms: new Set(),
    queued: 0,
    outbox: [],
    flushScheduled: false,
    waiters: new Set(),
    blockedOn: new Set(),
  };
  ws.on('message', (data, isBinary) => onMessage(peer, data, isBinary));
  ws.on('close', () => onClose(peer));
  ws.on('error', () => undefined);
});

wss.on('listening', () => {
  const address = wss.address();
  if (address === null || typeof address === 'string') throw new Error(`unexpected address ${String(address)}`);
  process.stdout.write(`ws://127.0.0.1:${address.port}/relay\n`);
});

exitWhenParentSays(
  () =>
    new Promise<void>((resolve) => {
      for (const client of wss.clients) client.terminate();
      wss.close(() => resolve());
    }),
);
