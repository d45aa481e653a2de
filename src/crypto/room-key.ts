/**
 * The optional room secret, stretched into a 32-byte room key that pairwise.ts mixes into every
 * pairwise key (as the HKDF salt).
 *
 * Why scrypt and not a plain SHA-256: a hub that substitutes public keys (a MITM) knows both X25519
 * shared secrets it made, so it can test room-secret guesses offline against one captured frame.
 * scrypt (N=2^15, r=8: ~100 ms and 32 MiB per guess) makes that far costlier. It cannot rescue a
 * guessable secret: use a random one (e.g. `openssl rand -base64 24`). The room name is the salt,
 * so one dictionary cannot attack every room at once. Derive once per room (it is slow on purpose).
 */
import { scrypt } from 'node:crypto';
import { ErrorCode, RtcAgentError } from '../errors.js';

/** A stretched room secret, bound to the room it was derived for. Treat as secret; never log `key`. */
export interface RoomKey {
  readonly room: string;
  readonly key: Buffer;
}

/** scrypt cost parameters (RFC 7914). Interactive-login strength; runs once per room join. */
export const ROOM_KEY_SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;

const SALT_LABEL = 'rtc-agent/e2ee/v1/room-secret\0';

/** Stretches `secret` into the room key for `room`. Throws CONFIG for an empty secret. */
export async function deriveRoomKey(room: string, secret: string): Promise<RoomKey> {
  if (secret.length === 0) {
    // An empty secret is almost certainly a misconfiguration (an unset variable), not a choice.
    throw new RtcAgentError(ErrorCode.CONFIG, 'roomSecret is empty; leave it unset for no room secret', { details: { setting: 'roomSecret' } });
  }
  const key = await new Promise<Buffer>((resolve, reject) => {
    scrypt(secret.normalize('NFC'), SALT_LABEL + room, 32, ROOM_KEY_SCRYPT, (err, derived) => (err ? reject(err) : resolve(derived)));
  });
  return Object.freeze({ room, key });
}
