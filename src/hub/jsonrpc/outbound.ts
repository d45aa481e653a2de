/**
 * What a JSON-RPC member is sent: the room methods address every member with the room contract's
 * client methods (PeerJoined, PeerLeft, Signal, Relayed), as arguments or as a SignalR JSON record
 * serialised once for many recipients (and carried between hubs of a cluster); this turns either
 * into the JSON-RPC notification of docs/jsonrpc.md.
 */
import { notification, type JsonRpcRequest } from '../../protocol/jsonrpc/messages.js';
import { RpcNotification, signalToRpc } from '../../protocol/jsonrpc/signaling.js';
import { ClientMethod, type SignalPayload } from '../../protocol/room-contract.js';
import { RECORD_SEPARATOR } from '../../protocol/signalr/text-format.js';

/** A signal whose shape has a standard method (offer, answer, ice_candidate); the rest go as `rtcagent.signal`. */
function hasStandardShape(signal: Record<string, unknown>): boolean {
  if (signal.type === 'description') return (signal.sdpType === 'offer' || signal.sdpType === 'answer') && typeof signal.sdp === 'string';
  if (signal.type === 'candidate') return typeof signal.candidate === 'string' && typeof signal.mid === 'string';
  return false;
}

/**
 * The notification for a client method call, or undefined for one this protocol has no form of.
 * `seen` is told about every signal delivered (the session ids of negotiations with that peer).
 */
export function toNotification(target: string, args: unknown[], seen?: (room: string, from: string, signal: SignalPayload) => void): JsonRpcRequest | undefined {
  const [room, second, third] = args;
  if (typeof room !== 'string') return undefined;
  switch (target) {
    case ClientMethod.PeerJoined: {
      if (typeof second !== 'object' || second === null) return undefined;
      return notification(RpcNotification.PeerJoined, { room, ...(second as Record<string, unknown>) });
    }
    case ClientMethod.PeerLeft:
      return notification(RpcNotification.PeerLeft, { room, peerId: second, reason: third });
    case ClientMethod.Signal: {
      if (typeof second !== 'string' || typeof third !== 'object' || third === null) return undefined;
      // Signals are opaque to the hub: a SignalR client may send any object, only known shapes get a standard method.
      const signal = third as Record<string, unknown>;
      if (!hasStandardShape(signal)) return notification(RpcNotification.Signal, { room, from: second, signal });
      seen?.(room, second, signal as SignalPayload);
      const { method, params } = signalToRpc(signal as SignalPayload);
      return notification(method, { room, from: second, ...params });
    }
    case ClientMethod.Relayed:
      return notification(RpcNotification.Relayed, { room, from: second, payload: third });
    default:
      return undefined;
  }
}

/** The target and arguments of an Invocation record (`{"type":1,"target":…,"arguments":[…]}` + 0x1E). */
export function parseInvocationRecord(record: string): { target: string; args: unknown[] } | undefined {
  const json = record.endsWith(RECORD_SEPARATOR) ? record.slice(0, -1) : record;
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { target, arguments: args } = value as { target?: unknown; arguments?: unknown };
  if (typeof target !== 'string' || !Array.isArray(args)) return undefined;
  return { target, args };
}

/**
 * Translates records with a one-entry cache: a broadcast hands the same record string to every
 * member, so a room of JSON-RPC members parses and serialises it once, not once per member.
 * Records carrying signals are not cached (each recipient observes their session ids).
 */
export class RecordTranslator {
  private lastRecord: string | undefined;
  private lastText: string | undefined;

  translate(record: string): string | undefined {
    if (record === this.lastRecord) return this.lastText;
    const parsed = parseInvocationRecord(record);
    const message = parsed ? toNotification(parsed.target, parsed.args) : undefined;
    const text = message ? JSON.stringify(message) : undefined;
    if (parsed?.target === ClientMethod.Relayed) {
      this.lastRecord = record;
      this.lastText = text;
    }
    return text;
  }
}
