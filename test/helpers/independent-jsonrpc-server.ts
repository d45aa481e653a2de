/**
 * A JSON-RPC 2.0 signaling server written from issue 14's protocol description only, with plain
 * `ws` and no project code: `announce {room, name, capabilities?}` → `{peerId, participants}`,
 * `offer` / `answer` / `ice_candidate {room, to, …}` forwarded to `to` as notifications carrying
 * `from`, `disconnect {room}`, `peer_joined` / `peer_left`. Anything else is -32601 — so it has
 * none of rtc-agent's `rtcagent.*` extensions (no relay): the server we did not build.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { onTestFinished } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';

interface Peer {
  id: string;
  name: string;
  ws: WebSocket;
  rooms: Set<string>;
}

export interface IndependentServer {
  url: string;
  /** Every method a client called, in order (to show what the agent sent). */
  calls: string[];
  close(): Promise<void>;
}

export async function startIndependentServer(): Promise<IndependentServer> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  const rooms = new Map<string, Map<string, Peer>>();
  const calls: string[] = [];
  const send = (ws: WebSocket, msg: unknown): void => ws.send(JSON.stringify(msg));
  const notifyRoom = (room: string, except: string, method: string, params: unknown): void => {
    for (const p of rooms.get(room)?.values() ?? []) if (p.id !== except) send(p.ws, { jsonrpc: '2.0', method, params });
  };
  const leave = (peer: Peer, room: string, reason: string): void => {
    if (!peer.rooms.delete(room)) return;
    rooms.get(room)?.delete(peer.id);
    notifyRoom(room, peer.id, 'peer_left', { room, peerId: peer.id, reason });
  };

  wss.on('connection', (ws) => {
    const peer: Peer = { id: randomUUID(), name: '', ws, rooms: new Set() };
    ws.on('message', (data) => {
      let msg: any;
      try {
        msg = JSON.parse(data.toString());
      } catch {
        return send(ws, { jsonrpc: '2.0', error: { code: -32700, message: 'Parse error' }, id: null });
      }
      const { method, params = {}, id } = msg ?? {};
      calls.push(method);
      const reply = (result: unknown): void => (id === undefined ? undefined : send(ws, { jsonrpc: '2.0', result, id }));
      const error = (code: number, message: string): void => (id === undefined ? undefined : send(ws, { jsonrpc: '2.0', error: { code, message }, id }));
      switch (method) {
        case 'announce': {
          const members = rooms.get(params.room) ?? new Map<string, Peer>();
          rooms.set(params.room, members);
          peer.name = String(params.name ?? 'anonymous');
          const participants = [...members.values()].map((p) => ({ peerId: p.id, name: p.name }));
          members.set(peer.id, peer);
          peer.rooms.add(params.room);
          notifyRoom(params.room, peer.id, 'peer_joined', { room: params.room, peerId: peer.id, name: peer.name });
          return reply({ peerId: peer.id, participants });
        }
        case 'offer':
        case 'answer':
        case 'ice_candidate': {
          const target = rooms.get(params.room)?.get(params.to);
          if (!target || !peer.rooms.has(params.room)) return error(-32602, 'unknown room or peer');
          const { to: _to, ...rest } = params;
          send(target.ws, { jsonrpc: '2.0', method, params: { ...rest, from: peer.id } });
          return reply(null);
        }
        case 'disconnect':
          leave(peer, params.room, 'left');
          return reply(null);
        default:
          return error(-32601, 'Method not found');
      }
    });
    ws.on('close', () => {
      for (const room of [...peer.rooms]) leave(peer, room, 'disconnected');
    });
  });

  const server: IndependentServer = {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close(() => resolve());
      }),
  };
  onTestFinished(() => server.close());
  return server;
}
