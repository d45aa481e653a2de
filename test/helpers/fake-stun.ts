/**
 * Tiny STUN and TURN responders on 127.0.0.1:0 (UDP) for the STUN client and `doctor` tests.
 * The TURN fake checks MESSAGE-INTEGRITY with its own HMAC-SHA1 computation (not the client's
 * code), so a wrong key derivation or a wrong length patch in the client shows up as a 401.
 */
import { createHash, createHmac } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { crc32 } from 'node:zlib';
import { onTestFinished } from 'vitest';
import {
  StunAttr,
  StunType,
  decodeStunMessage,
  encodeErrorCode,
  encodeStunMessage,
  encodeXorAddress,
  getAttribute,
  type StunAttribute,
  type StunMessage,
} from '../../src/util/stun-client.js';

export interface FakeServer {
  port: number;
  /** Every request received, decoded. */
  requests: StunMessage[];
  /** Raw requests, for byte-level checks. */
  raw: Buffer[];
  close(): Promise<void>;
}

async function bindUdp(onMessage: (socket: Socket, msg: Buffer, from: RemoteInfo) => void): Promise<{ socket: Socket; port: number }> {
  const socket = createSocket('udp4');
  socket.on('message', (msg, from) => onMessage(socket, msg, from));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  onTestFinished(() => closeUdp(socket));
  return { socket, port: socket.address().port };
}

/** Idempotent close. */
function closeUdp(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve();
    }
  });
}

/** Answers Binding requests with XOR-MAPPED-ADDRESS = the sender's address. `drop` ignores the first n. */
export async function startFakeStun(options: { drop?: number } = {}): Promise<FakeServer> {
  const requests: StunMessage[] = [];
  const raw: Buffer[] = [];
  let toDrop = options.drop ?? 0;
  const { socket, port } = await bindUdp((s, msg, from) => {
    const req = decodeStunMessage(msg);
    if (!req || req.type !== StunType.BindingRequest) return;
    requests.push(req);
    raw.push(msg);
    if (toDrop-- > 0) return;
    const res = encodeStunMessage({
      type: StunType.BindingSuccess,
      transactionId: req.transactionId,
      attributes: [
        { type: StunAttr.XorMappedAddress, value: encodeXorAddress({ address: from.address, port: from.port }) },
        { type: StunAttr.Software, value: Buffer.from('fake-stun') },
      ],
    });
    s.send(res, from.port, from.address);
  });
  return { port, requests, raw, close: () => closeUdp(socket) };
}

/** The fake's own MESSAGE-INTEGRITY check (RFC 5389 §15.4), written independently of the client. */
export function integrityMatches(msg: Buffer, key: Buffer): boolean {
  let offset = 20;
  const end = 20 + msg.readUInt16BE(2);
  while (offset < end) {
    const type = msg.readUInt16BE(offset);
    const len = msg.readUInt16BE(offset + 2);
    if (type === 0x0008) {
      const copy = Buffer.from(msg.subarray(0, offset));
      copy.writeUInt16BE(offset + 24 - 20, 2); // length counts up to and including MESSAGE-INTEGRITY
      return createHmac('sha1', key).update(copy).digest().equals(msg.subarray(offset + 4, offset + 24));
    }
    offset += 4 + Math.ceil(len / 4) * 4;
  }
  return false;
}

/** RFC 5389 §15.5: the last attribute, CRC-32 of everything before it xor 0x5354554e. */
export function fingerprintMatches(msg: Buffer): boolean {
  const at = msg.length - 8;
  if (at < 20 || msg.readUInt16BE(at) !== 0x8028) return false;
  return ((crc32(msg.subarray(0, at)) ^ 0x5354554e) >>> 0) === msg.readUInt32BE(at + 4);
}

export interface FakeTurn extends FakeServer {
  realm: string;
  /** Refresh requests with LIFETIME 0 seen (allocations freed). */
  freed: number;
  /** Authenticated requests whose MESSAGE-INTEGRITY did not match. */
  badIntegrity: number;
  /** Requests whose FINGERPRINT was missing or wrong. */
  badFingerprint: number;
}

/**
 * Allocate without credentials → 401 with REALM and NONCE; with a good MESSAGE-INTEGRITY (key
 * MD5(user:realm:password)) → success with a relayed address; otherwise 401. The first
 * authenticated Allocate can be answered 438 (stale nonce) with `staleOnce`.
 */
export async function startFakeTurn(user: string, password: string, options: { staleOnce?: boolean } = {}): Promise<FakeTurn> {
  const realm = 'fake.example';
  let nonce = 'nonce-1';
  let stale = options.staleOnce ?? false;
  const key = createHash('md5').update(`${user}:${realm}:${password}`).digest();
  const state: FakeTurn = { port: 0, requests: [], raw: [], realm, freed: 0, badIntegrity: 0, badFingerprint: 0, close: async () => undefined };
  const { socket, port } = await bindUdp((s, msg, from) => {
    const req = decodeStunMessage(msg);
    if (!req) return;
    state.requests.push(req);
    state.raw.push(msg);
    if (!fingerprintMatches(msg)) state.badFingerprint++;
    const reply = (type: number, attributes: StunAttribute[], sign = false): void => {
      s.send(encodeStunMessage({ type, transactionId: req.transactionId, attributes }, sign ? { integrityKey: key, fingerprint: true } : {}), from.port, from.address);
    };
    const errorType = req.type | 0x0110;
    const challenge = (code: number, reason: string): void =>
      reply(errorType, [
        { type: StunAttr.ErrorCode, value: encodeErrorCode(code, reason) },
        { type: StunAttr.Realm, value: Buffer.from(realm) },
        { type: StunAttr.Nonce, value: Buffer.from(nonce) },
      ]);
    if (req.type !== StunType.AllocateRequest && req.type !== StunType.RefreshRequest) return;
    if (!getAttribute(req, StunAttr.MessageIntegrity)) return challenge(401, 'Unauthorized');
    if (getAttribute(req, StunAttr.Username)?.toString() !== user || !integrityMatches(msg, key)) {
      state.badIntegrity++;
      return challenge(401, 'Unauthorized');
    }
    if (getAttribute(req, StunAttr.Nonce)?.toString() !== nonce || stale) {
      stale = false;
      nonce = 'nonce-2';
      return challenge(438, 'Stale Nonce');
    }
    if (req.type === StunType.AllocateRequest) {
      const lifetime = Buffer.alloc(4);
      lifetime.writeUInt32BE(600, 0);
      return reply(
        StunType.AllocateSuccess,
        [
          { type: StunAttr.XorRelayedAddress, value: encodeXorAddress({ address: '127.0.0.1', port: 49999 }) },
          { type: StunAttr.XorMappedAddress, value: encodeXorAddress({ address: from.address, port: from.port }) },
          { type: StunAttr.Lifetime, value: lifetime },
        ],
        true,
      );
    }
    if (getAttribute(req, StunAttr.Lifetime)?.readUInt32BE(0) === 0) state.freed++;
    reply(StunType.RefreshSuccess, [], true);
  });
  state.port = port;
  state.close = () => closeUdp(socket);
  return state;
}
