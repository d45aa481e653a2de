/**
 * The SignalR handshake as the hub reads it: the client's first record is JSON text ending in 0x1E
 * whatever hub protocol follows (HubProtocol.md), and may arrive split over several frames or
 * share one with the first messages. It names the hub protocol (JSON or MessagePack, chosen per
 * connection as with ASP.NET Core) and the version; MessagePack needs a transport that carries bytes.
 */
import { parseHandshakeRequest } from '../protocol/signalr/hub-messages.js';
import { writeRecord } from '../protocol/signalr/text-format.js';
import type { RtcAgentError } from '../errors.js';
import type { TransportName } from './options.js';
import { HUB_PROTOCOLS, createCodec, type WireCodec, type WireRecord } from './wire-codec.js';

const RS_BYTE = 0x1e;
const EMPTY = new Uint8Array(0);
/** The handshake response, as text for JSON and as bytes for a binary protocol's frames. */
const OK_TEXT = writeRecord('{}');
const OK_BYTES = Buffer.from(OK_TEXT);

export type HandshakeOutcome =
  /** No 0x1E yet: more input is needed. */
  | { kind: 'incomplete' }
  /** Refused; the reason goes to the client (ASP.NET Core's words where it has them). */
  | { kind: 'rejected'; reason: string }
  /** `rest`: what followed the handshake in the same input, for the codec. */
  | { kind: 'accepted'; codec: WireCodec; version: number; rest: Uint8Array };

export class HandshakeReader {
  private buffered: Uint8Array = EMPTY;

  constructor(private readonly maxMessageBytes: number) {}

  /** Takes input that arrived before the handshake completed, on `transport`. */
  read(chunk: Uint8Array, transport: TransportName | null): HandshakeOutcome {
    const input = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const end = input.indexOf(RS_BYTE);
    if (end === -1) {
      this.buffered = input;
      if (input.length > this.maxMessageBytes) return { kind: 'rejected', reason: 'handshake request is too large or has no record separator' };
      return { kind: 'incomplete' };
    }
    this.buffered = EMPTY;
    const record = Buffer.from(input.buffer, input.byteOffset, end).toString('utf8');
    let request;
    try {
      request = parseHandshakeRequest(record);
    } catch (err) {
      return { kind: 'rejected', reason: (err as RtcAgentError).message };
    }
    const protocol = HUB_PROTOCOLS.find((p) => p === request.protocol);
    if (protocol === undefined) return { kind: 'rejected', reason: `The protocol '${request.protocol}' is not supported.` };
    if (request.version !== 1 && request.version !== 2) {
      return { kind: 'rejected', reason: `The server does not support version ${request.version} of the '${request.protocol}' protocol.` };
    }
    const codec = createCodec(protocol, this.maxMessageBytes);
    if (codec.binary && transport === 'ServerSentEvents') {
      // ASP.NET Core's words: Server-Sent Events carry text only (the official client never tries).
      return { kind: 'rejected', reason: `Cannot use the '${protocol}' protocol on the current transport. The transport does not support 'Binary' transfer format.` };
    }
    return { kind: 'accepted', codec, version: request.version, rest: input.subarray(end + 1) };
  }

  /** Drops a partial handshake (its transport is gone). */
  reset(): void {
    this.buffered = EMPTY;
  }
}

/** The empty handshake response, in the frame type the negotiated protocol uses. */
export function handshakeResponse(codec: WireCodec): WireRecord {
  return codec.binary ? OK_BYTES : OK_TEXT;
}

/** A refusal: always a JSON text record, since no protocol was agreed. */
export function handshakeError(reason: string): string {
  return writeRecord(JSON.stringify({ error: reason }));
}
