/**
 * The STUN message codec (RFC 5389): header, attributes, XOR addresses, ERROR-CODE,
 * MESSAGE-INTEGRITY (HMAC-SHA1, long-term key) and FINGERPRINT. Pure; the UDP client is
 * stun-client.ts.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { crc32 } from 'node:zlib';

export const MAGIC_COOKIE = 0x2112a442;
const FINGERPRINT_XOR = 0x5354554e;

export const StunType = {
  BindingRequest: 0x0001,
  BindingSuccess: 0x0101,
  BindingError: 0x0111,
  AllocateRequest: 0x0003,
  AllocateSuccess: 0x0103,
  AllocateError: 0x0113,
  RefreshRequest: 0x0004,
  RefreshSuccess: 0x0104,
  RefreshError: 0x0114,
} as const;

export const StunAttr = {
  MappedAddress: 0x0001,
  Username: 0x0006,
  MessageIntegrity: 0x0008,
  ErrorCode: 0x0009,
  Lifetime: 0x000d,
  XorRelayedAddress: 0x0016,
  Realm: 0x0014,
  Nonce: 0x0015,
  RequestedTransport: 0x0019,
  XorMappedAddress: 0x0020,
  Software: 0x8022,
  Fingerprint: 0x8028,
} as const;

export interface StunAttribute {
  type: number;
  value: Buffer;
}

export interface StunMessage {
  type: number;
  /** 12 bytes. */
  transactionId: Buffer;
  attributes: StunAttribute[];
}

export interface TransportAddress {
  family: 'IPv4' | 'IPv6';
  address: string;
  port: number;
}

// ------------------------------------------------------------------------------------ codec

function header(type: number, length: number, transactionId: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(type, 0);
  h.writeUInt16BE(length, 2);
  h.writeUInt32BE(MAGIC_COOKIE, 4);
  transactionId.copy(h, 8);
  return h;
}

function encodeAttribute(a: StunAttribute): Buffer {
  const padded = Buffer.alloc(4 + Math.ceil(a.value.length / 4) * 4);
  padded.writeUInt16BE(a.type, 0);
  padded.writeUInt16BE(a.value.length, 2);
  a.value.copy(padded, 4);
  return padded;
}

/**
 * Encodes a message; with `integrityKey` it appends MESSAGE-INTEGRITY (HMAC-SHA1 over the message
 * with the length field already counting the attribute, RFC 5389 §15.4), and with `fingerprint`
 * a FINGERPRINT (CRC-32 xor 0x5354554e, §15.5) last.
 */
export function encodeStunMessage(msg: StunMessage, options: { integrityKey?: Buffer; fingerprint?: boolean } = {}): Buffer {
  let body = Buffer.concat(msg.attributes.map(encodeAttribute));
  if (options.integrityKey) {
    const hmac = createHmac('sha1', options.integrityKey).update(header(msg.type, body.length + 24, msg.transactionId)).update(body).digest();
    body = Buffer.concat([body, encodeAttribute({ type: StunAttr.MessageIntegrity, value: hmac })]);
  }
  if (options.fingerprint) {
    const crc = (crc32(Buffer.concat([header(msg.type, body.length + 8, msg.transactionId), body])) ^ FINGERPRINT_XOR) >>> 0;
    const value = Buffer.alloc(4);
    value.writeUInt32BE(crc, 0);
    body = Buffer.concat([body, encodeAttribute({ type: StunAttr.Fingerprint, value })]);
  }
  return Buffer.concat([header(msg.type, body.length, msg.transactionId), body]);
}

/** Decodes a STUN message; null when `buf` is not one (wrong cookie, bad lengths). */
export function decodeStunMessage(buf: Buffer): StunMessage | null {
  if (buf.length < 20 || (buf[0]! & 0xc0) !== 0 || buf.readUInt32BE(4) !== MAGIC_COOKIE) return null;
  const length = buf.readUInt16BE(2);
  if (length % 4 !== 0 || 20 + length > buf.length) return null;
  const attributes: StunAttribute[] = [];
  let at = 20;
  while (at + 4 <= 20 + length) {
    const type = buf.readUInt16BE(at);
    const len = buf.readUInt16BE(at + 2);
    if (at + 4 + len > 20 + length) return null;
    attributes.push({ type, value: buf.subarray(at + 4, at + 4 + len) });
    at += 4 + Math.ceil(len / 4) * 4;
  }
  return { type: buf.readUInt16BE(0), transactionId: Buffer.from(buf.subarray(8, 20)), attributes };
}

export function getAttribute(msg: StunMessage, type: number): Buffer | undefined {
  return msg.attributes.find((a) => a.type === type)?.value;
}

/** Checks MESSAGE-INTEGRITY of a raw message against `key`; false when absent or wrong. */
export function verifyMessageIntegrity(buf: Buffer, key: Buffer): boolean {
  const length = buf.readUInt16BE(2);
  let at = 20;
  while (at + 4 <= 20 + length) {
    const type = buf.readUInt16BE(at);
    const len = buf.readUInt16BE(at + 2);
    if (type === StunAttr.MessageIntegrity && len === 20 && at + 24 <= buf.length) {
      const covered = Buffer.from(buf.subarray(0, at));
      covered.writeUInt16BE(at - 20 + 24, 2);
      const expected = createHmac('sha1', key).update(covered).digest();
      return timingSafeEqual(expected, buf.subarray(at + 4, at + 24));
    }
    at += 4 + Math.ceil(len / 4) * 4;
  }
  return false;
}

/** The long-term credential key of RFC 5389 §15.4: MD5(username ":" realm ":" password). */
export function longTermKey(username: string, realm: string, password: string): Buffer {
  return createHash('md5').update(`${username}:${realm}:${password}`).digest();
}

/** XOR-MAPPED-ADDRESS / XOR-RELAYED-ADDRESS value (RFC 5389 §15.2). */
export function decodeXorAddress(value: Buffer, transactionId: Buffer): TransportAddress | null {
  if (value.length < 8) return null;
  const family = value[1];
  const port = value.readUInt16BE(2) ^ (MAGIC_COOKIE >>> 16);
  const cookie = Buffer.alloc(4);
  cookie.writeUInt32BE(MAGIC_COOKIE, 0);
  if (family === 0x01) {
    const ip = [0, 1, 2, 3].map((i) => value[4 + i]! ^ cookie[i]!);
    return { family: 'IPv4', address: ip.join('.'), port };
  }
  if (family === 0x02 && value.length >= 20) {
    const mask = Buffer.concat([cookie, transactionId]);
    const bytes = Buffer.from(value.subarray(4, 20).map((b, i) => b ^ mask[i]!));
    const groups = [];
    for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
    // The WHATWG URL parser prints IPv6 in its canonical compressed form.
    return { family: 'IPv6', address: new URL(`http://[${groups.join(':')}]`).hostname.slice(1, -1), port };
  }
  return null;
}

/** The inverse of {@link decodeXorAddress} (IPv4 only; for tests and fakes). */
export function encodeXorAddress(addr: { address: string; port: number }): Buffer {
  const v = Buffer.alloc(8);
  v[1] = 0x01;
  v.writeUInt16BE(addr.port ^ (MAGIC_COOKIE >>> 16), 2);
  const ip = addr.address.split('.').map(Number);
  const cookie = Buffer.alloc(4);
  cookie.writeUInt32BE(MAGIC_COOKIE, 0);
  for (let i = 0; i < 4; i++) v[4 + i] = (ip[i] ?? 0) ^ cookie[i]!;
  return v;
}

export function decodeErrorCode(value: Buffer | undefined): { code: number; reason: string } | undefined {
  if (!value || value.length < 4) return undefined;
  return { code: (value[2]! & 0x07) * 100 + value[3]!, reason: value.subarray(4).toString('utf8') };
}

export function encodeErrorCode(code: number, reason: string): Buffer {
  const head = Buffer.from([0, 0, Math.floor(code / 100), code % 100]);
  return Buffer.concat([head, Buffer.from(reason, 'utf8')]);
}

export function newTransactionId(): Buffer {
  return randomBytes(12);
}
