/**
 * The optional room secret, stretched into a 32-byte room key that pairwise.ts mixes into every
 * pairwise key (as the HKDF salt).
 *
 * Why scrypt and not a plain SHA-256: a hub that substitutes public keys (a MITM) knows both X25519
 * shared secrets it made, so it can test room-secret guesses offline against one captured frame.
 * scrypt (N=2^15, r=8: ~100 ms and 32 MiB per guess) makes that far costlier. It cannot rescue a
 * guessable secret: use a random one (e.g. `openssl rand -base64 24`). The room name is the salt,
 * so one dictionary cannot attack every room at once. Derive once per room (it is slow on purpose).
 *
 * scrypt itself is injected: WebCrypto has none. Node passes node:crypto's (src/node/scrypt.ts),
 * browsers a pure-JS one (src/browser/scrypt.ts); both are RFC 7914, so both derive the same key.
 */
import { ErrorCode, RtcAgentError } from '../../errors.js';
import { utf8Encode } from '../bytes.js';

/** A stretched room secret, bound to the room it was derived for. Treat as secret; never log `key`. */
export interface RoomKey {
  readonly room: string;
  readonly key: Uint8Array;
}

/** scrypt cost parameters (RFC 7914); `maxmem` is the memory cap an implementation may enforce. */
export interface ScryptParams {
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly maxmem: number;
}

/** scrypt (RFC 7914): `keyLength` bytes from `password` and `salt`. */
export type ScryptFunction = (password: Uint8Array, salt: Uint8Array, keyLength: number, params: ScryptParams) => Promise<Uint8Array>;

/** scrypt cost parameters of the room key. Interactive-login strength; runs once per room join. */
export const ROOM_KEY_SCRYPT: ScryptParams = Object.freeze({ N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });

/** Bytes of a room key (an HKDF salt; an AES-256 key's worth). */
export const ROOM_KEY_BYTES = 32;

const SALT_LABEL = 'rtc-agent/e2ee/v1/room-secret\0';

/**
 * Stretches `secret` into the room key for `room`: scrypt(NFC(secret), label + room). Throws CONFIG
 * for an empty secret.
 */
export async function deriveRoomKey(room: string, secret: string, scrypt: ScryptFunction): Promise<RoomKey> {
  if (secret.length === 0) {
    // An empty secret is almost certainly a misconfiguration (an unset variable), not a choice.
    throw new RtcAgentError(ErrorCode.CONFIG, 'roomSecret is empty; leave it unset for no room secret', { details: { setting: 'roomSecret' } });
  }
  const password = utf8Encode(secret.normalize('NFC'));
  try {
    const key = await scrypt(password, utf8Encode(SALT_LABEL + room), ROOM_KEY_BYTES, ROOM_KEY_SCRYPT);
    if (key.length !== ROOM_KEY_BYTES) throw new RtcAgentError(ErrorCode.INTERNAL, `scrypt returned ${key.length} bytes, not ${ROOM_KEY_BYTES}`);
    return Object.freeze({ room, key });
  } finally {
    password.fill(0);
  }
}
