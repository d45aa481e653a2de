/**
 * The JSON-RPC signaling methods (docs/jsonrpc.md) on top of the hub's {@link RoomMethods}: the
 * same Join, Leave, Signal, Relay and Members as SignalR clients call, so membership, hub-stamped
 * senders, the token's rooms, limits and the cluster are one implementation. This file only maps
 * params by name onto the room methods' arguments and shapes the results.
 */
import { ErrorCode, RtcAgentError } from '../../errors.js';
import { isObject } from '../../protocol/jsonrpc/messages.js';
import { RPC_EXTENSIONS, RpcMethod, namedParams, signalFromRpc, type RpcHelloResult } from '../../protocol/jsonrpc/signaling.js';
import { ROOM_CONTRACT_VERSION, type JoinHello, type JoinResult } from '../../protocol/room-contract.js';
import type { RoomMethods } from '../room-methods.js';
import type { RpcSession } from './rpc-session.js';

export type RpcHandler = (session: RpcSession, params: unknown) => unknown;

/** The result of `announce`: the issue's `{ peerId, participants }`, then the whole Join result. */
export type AnnounceResult = { peerId: string; extensions: string[] } & JoinResult;

const HELLO: RpcHelloResult = { server: 'rtc-agent', extensions: [...RPC_EXTENSIONS], contractVersion: ROOM_CONTRACT_VERSION };

/** The hello fields of `announce` (ours and the issue's), passed on for the room contract to validate. */
function helloOf(p: Record<string, unknown>): JoinHello {
  const hello: Record<string, unknown> = {};
  for (const key of ['agentKey', 'name', 'capabilities', 'meta'] as const) if (p[key] !== undefined && p[key] !== null) hello[key] = p[key];
  // A JSON-RPC client is a WebRTC peer (that is what the protocol is for): unless it says otherwise,
  // it can open DataChannels, so agents try P2P with it (the room contract's default is false).
  if (hello.capabilities === undefined) hello.capabilities = { native: true };
  else if (isObject(hello.capabilities) && !('native' in hello.capabilities)) hello.capabilities = { ...hello.capabilities, native: true };
  return hello as JoinHello;
}

function announced(result: JoinResult): AnnounceResult {
  return { peerId: result.self.peerId, ...result, extensions: [...RPC_EXTENSIONS] };
}

/** The method table; names are matched exactly (JSON-RPC method names are case-sensitive). */
export function rpcMethods(rooms: RoomMethods): Map<string, RpcHandler> {
  const announce: RpcHandler = (s, params) => {
    const p = namedParams(RpcMethod.Announce, params);
    const joined = rooms.join(s, [p.room, helloOf(p)]);
    return joined instanceof Promise ? joined.then(announced) : announced(joined);
  };
  const signal =
    (method: string): RpcHandler =>
    (s, params) => {
      const p = namedParams(method, params);
      let payload = signalFromRpc(method, p, true);
      // Only a sender in the room, to a string peer id, gets a session id filled in: the room
      // methods refuse the rest with the error that names what is wrong.
      if (typeof p.room === 'string' && typeof p.to === 'string' && s.memberships.has(p.room)) payload = s.stamper.fill(p.room, p.to, payload);
      rooms.signal(s, [p.room, p.to, payload]);
      return null;
    };
  const disconnect: RpcHandler = async (s, params) => {
    const p = namedParams(RpcMethod.Disconnect, params);
    const targets = p.room === undefined || p.room === null ? [...s.memberships.keys()] : [p.room];
    for (const room of targets) {
      await rooms.leave(s, [room]);
      if (typeof room === 'string') s.stamper.forget(room);
    }
    return null;
  };
  return new Map<string, RpcHandler>([
    [RpcMethod.Announce, announce],
    [RpcMethod.Offer, signal(RpcMethod.Offer)],
    [RpcMethod.Answer, signal(RpcMethod.Answer)],
    [RpcMethod.IceCandidate, signal(RpcMethod.IceCandidate)],
    [RpcMethod.Signal, signal(RpcMethod.Signal)],
    [RpcMethod.Disconnect, disconnect],
    [
      RpcMethod.Relay,
      (s, params) => {
        const p = namedParams(RpcMethod.Relay, params);
        if (!('to' in p)) throw new RtcAgentError(ErrorCode.BAD_REQUEST, `${RpcMethod.Relay}: "to" is required (a peer id, or null for everyone)`);
        const done = rooms.relay(s, [p.room, p.to, p.payload]);
        return done ? done.then(() => null) : null;
      },
    ],
    [RpcMethod.Members, (s, params) => rooms.members(s, [namedParams(RpcMethod.Members, params).room])],
    [RpcMethod.Hello, () => HELLO],
    [
      RpcMethod.Ping,
      (_s, params) => {
        if (params !== undefined && !isObject(params) && !Array.isArray(params)) throw new RtcAgentError(ErrorCode.BAD_REQUEST, 'rtcagent.ping takes no params');
        return {};
      },
    ],
  ]);
}
