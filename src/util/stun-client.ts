/**
 * A minimal STUN/TURN client over UDP (node:dgram) for diagnostics: RFC 5389 Binding requests (what
 * is my address?) and an RFC 5766 Allocate with long-term credentials (does this TURN server take
 * my user name and password?), followed by a Refresh with lifetime 0 that frees the allocation.
 * No relaying. Retransmits like RFC 5389 §7.2.1 (RTO 250 ms, doubling) within one overall timeout.
 */
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import {
  StunAttr,
  StunType,
  decodeErrorCode,
  decodeStunMessage,
  decodeXorAddress,
  encodeStunMessage,
  getAttribute,
  longTermKey,
  newTransactionId,
  type StunAttribute,
  type StunMessage,
  type TransportAddress,
} from './stun-codec.js';

export * from './stun-codec.js';

/** A STUN server that could not be reached, or answered something unusable. */
export class StunError extends Error {
  constructor(
    message: string,
    readonly kind: 'timeout' | 'dns' | 'socket' | 'protocol',
  ) {
    super(message);
    this.name = 'StunError';
  }
}

export interface StunServer {
  host: string;
  port: number;
}

/** Parses stun:/turn: URLs (RFC 7064/7065): scheme, host (IPv6 in brackets), port, ?transport=. */
export function parseIceUrl(url: string): { scheme: 'stun' | 'stuns' | 'turn' | 'turns'; host: string; port: number; transport: 'udp' | 'tcp' } {
  const m = /^(stuns?|turns?):(\[[^\]]+\]|[^:?]+)(?::(\d+))?(?:\?transport=(udp|tcp))?$/i.exec(url.trim());
  if (!m) throw new StunError(`not a stun:/turn: URL: ${url}`, 'protocol');
  const scheme = m[1]!.toLowerCase() as 'stun' | 'stuns' | 'turn' | 'turns';
  const secure = scheme.endsWith('s');
  const port = m[3] ? Number(m[3]) : secure ? 5349 : 3478;
  return { scheme, host: m[2]!.replace(/^\[|\]$/g, ''), port, transport: (m[4]?.toLowerCase() as 'udp' | 'tcp' | undefined) ?? (secure ? 'tcp' : 'udp') };
}

/** One UDP socket talking to one server; requests are matched to answers by transaction id. */
class StunSession {
  private constructor(
    private readonly socket: Socket,
    private readonly address: string,
    private readonly port: number,
  ) {}

  static async open(server: StunServer): Promise<StunSession> {
    let address = server.host;
    if (!isIP(address)) {
      try {
        address = (await lookup(server.host)).address;
      } catch (err) {
        throw new StunError(`cannot resolve ${server.host}: ${(err as Error).message}`, 'dns');
      }
    }
    const socket = createSocket(isIP(address) === 6 ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new StunSession(socket, address, server.port);
  }

  /** Sends `request`, retransmitting (RTO 250 ms, doubling), until a matching answer or `deadline`. */
  request(request: Buffer, transactionId: Buffer, deadline: number): Promise<{ message: StunMessage; raw: Buffer }> {
    return new Promise((resolve, reject) => {
      let rto = 250;
      let timer: NodeJS.Timeout | undefined;
      const finish = (): void => {
        clearTimeout(timer);
        this.socket.off('message', onMessage);
        this.socket.off('error', onError);
      };
      const onMessage = (raw: Buffer): void => {
        const message = decodeStunMessage(raw);
        if (!message || !message.transactionId.equals(transactionId)) return;
        finish();
        resolve({ message, raw });
      };
      const onError = (err: Error): void => {
        finish();
        reject(new StunError(`UDP error talking to ${this.address}:${this.port}: ${err.message}`, 'socket'));
      };
      const send = (): void => {
        const left = deadline - Date.now();
        if (left <= 0) {
          finish();
          reject(new StunError(`no answer from ${this.address}:${this.port} (udp)`, 'timeout'));
          return;
        }
        this.socket.send(request, this.port, this.address);
        timer = setTimeout(send, Math.min(rto, left));
        rto *= 2;
      };
      this.socket.on('message', onMessage);
      this.socket.on('error', onError);
      send();
    });
  }

  close(): void {
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }
}

export interface BindingResult {
  mapped: TransportAddress;
  rttMs: number;
  software: string | undefined;
}

/** Sends a Binding request and returns the (XOR-)MAPPED-ADDRESS the server saw. */
export async function stunBinding(server: StunServer, options: { timeoutMs?: number } = {}): Promise<BindingResult> {
  const deadline = Date.now() + (options.timeoutMs ?? 3_000);
  const session = await StunSession.open(server);
  try {
    const transactionId = newTransactionId();
    const started = performance.now();
    const { message } = await session.request(encodeStunMessage({ type: StunType.BindingRequest, transactionId, attributes: [] }, { fingerprint: true }), transactionId, deadline);
    const rttMs = performance.now() - started;
    if (message.type === StunType.BindingError) {
      const e = decodeErrorCode(getAttribute(message, StunAttr.ErrorCode));
      throw new StunError(`Binding error ${e?.code ?? '?'} ${e?.reason ?? ''}`.trim(), 'protocol');
    }
    if (message.type !== StunType.BindingSuccess) throw new StunError(`unexpected STUN message type 0x${message.type.toString(16)}`, 'protocol');
    const xor = getAttribute(message, StunAttr.XorMappedAddress);
    const mapped = xor ? decodeXorAddress(xor, transactionId) : decodePlainAddress(getAttribute(message, StunAttr.MappedAddress));
    if (!mapped) throw new StunError('Binding success without a mapped address', 'protocol');
    return { mapped, rttMs, software: getAttribute(message, StunAttr.Software)?.toString('utf8') };
  } finally {
    session.close();
  }
}

function decodePlainAddress(value: Buffer | undefined): TransportAddress | null {
  if (!value || value.length < 8 || value[1] !== 0x01) return null;
  return { family: 'IPv4', address: [...value.subarray(4, 8)].join('.'), port: value.readUInt16BE(2) };
}

export type TurnResult =
  /** Allocated with the credentials (and freed again). */
  | { outcome: 'allocated'; relayed: TransportAddress | null; mapped: TransportAddress | null; lifetimeS: number | undefined; realm: string; rttMs: number; freed: boolean }
  /** The server asked for credentials and none were given. */
  | { outcome: 'auth-required'; realm: string | undefined; rttMs: number }
  /** The server refused the request (401 with credentials = wrong user name or password). */
  | { outcome: 'refused'; code: number; reason: string; rttMs: number };

const UDP = Buffer.from([17, 0, 0, 0]);

/**
 * RFC 5766 Allocate over UDP: an unauthenticated request (expecting 401 with REALM and NONCE), then
 * one with USERNAME, REALM, NONCE and MESSAGE-INTEGRITY (key MD5(user:realm:pass)), then a Refresh
 * with LIFETIME 0 to free the allocation. A 438 (stale nonce) is retried once with the new nonce.
 */
export async function turnAllocate(server: StunServer, credentials: { username?: string; password?: string }, options: { timeoutMs?: number } = {}): Promise<TurnResult> {
  const deadline = Date.now() + (options.timeoutMs ?? 5_000);
  const session = await StunSession.open(server);
  const started = performance.now();
  const elapsed = (): number => performance.now() - started;
  const send = async (type: number, attributes: StunAttribute[], key?: Buffer): Promise<StunMessage> => {
    const transactionId = newTransactionId();
    const raw = encodeStunMessage({ type, transactionId, attributes }, key ? { integrityKey: key, fingerprint: true } : { fingerprint: true });
    return (await session.request(raw, transactionId, deadline)).message;
  };
  try {
    const first = await send(StunType.AllocateRequest, [{ type: StunAttr.RequestedTransport, value: UDP }]);
    if (first.type === StunType.AllocateSuccess) {
      // An open relay: no credentials needed.
      return allocated(first, '', elapsed(), await freeAllocation(send, []));
    }
    const err = decodeErrorCode(getAttribute(first, StunAttr.ErrorCode));
    const realm = getAttribute(first, StunAttr.Realm)?.toString('utf8');
    let nonce = getAttribute(first, StunAttr.Nonce);
    if (err?.code !== 401 || realm === undefined || !nonce) {
      return { outcome: 'refused', code: err?.code ?? 0, reason: err?.reason ?? `unexpected answer 0x${first.type.toString(16)}`, rttMs: elapsed() };
    }
    if (credentials.username === undefined || credentials.password === undefined) return { outcome: 'auth-required', realm, rttMs: elapsed() };
    const key = longTermKey(credentials.username, realm, credentials.password);
    const auth = (n: Buffer): StunAttribute[] => [
      { type: StunAttr.Username, value: Buffer.from(credentials.username!, 'utf8') },
      { type: StunAttr.Realm, value: Buffer.from(realm, 'utf8') },
      { type: StunAttr.Nonce, value: n },
    ];
    let answer = await send(StunType.AllocateRequest, [{ type: StunAttr.RequestedTransport, value: UDP }, ...auth(nonce)], key);
    for (let retry = 0; retry < 1 && decodeErrorCode(getAttribute(answer, StunAttr.ErrorCode))?.code === 438; retry++) {
      nonce = getAttribute(answer, StunAttr.Nonce) ?? nonce;
      answer = await send(StunType.AllocateRequest, [{ type: StunAttr.RequestedTransport, value: UDP }, ...auth(nonce)], key);
    }
    if (answer.type !== StunType.AllocateSuccess) {
      const e = decodeErrorCode(getAttribute(answer, StunAttr.ErrorCode));
      return { outcome: 'refused', code: e?.code ?? 0, reason: e?.reason ?? `unexpected answer 0x${answer.type.toString(16)}`, rttMs: elapsed() };
    }
    const rttMs = elapsed();
    const freed = await freeAllocation((type, attrs) => send(type, attrs, key), auth(getAttribute(answer, StunAttr.Nonce) ?? nonce));
    return allocated(answer, realm, rttMs, freed);
  } finally {
    session.close();
  }
}

async function freeAllocation(send: (type: number, attrs: StunAttribute[]) => Promise<StunMessage>, auth: StunAttribute[]): Promise<boolean> {
  try {
    const zero = Buffer.alloc(4);
    const answer = await send(StunType.RefreshRequest, [{ type: StunAttr.Lifetime, value: zero }, ...auth]);
    return answer.type === StunType.RefreshSuccess;
  } catch {
    return false;
  }
}

function allocated(msg: StunMessage, realm: string, rttMs: number, freed: boolean): TurnResult {
  const relayed = getAttribute(msg, StunAttr.XorRelayedAddress);
  const mapped = getAttribute(msg, StunAttr.XorMappedAddress);
  const lifetime = getAttribute(msg, StunAttr.Lifetime);
  return {
    outcome: 'allocated',
    relayed: relayed ? decodeXorAddress(relayed, msg.transactionId) : null,
    mapped: mapped ? decodeXorAddress(mapped, msg.transactionId) : null,
    lifetimeS: lifetime && lifetime.length >= 4 ? lifetime.readUInt32BE(0) : undefined,
    realm,
    rttMs,
    freed,
  };
}
