/**
 * The agent's identity on disk: the same file as before the engine (existing users' files keep
 * working), read and written with owner-only permissions (secure-file.ts).
 *
 * Format (JSON, so it is easy to inspect and back up):
 * `{ "type": "rtc-agent-identity", "version": 1, "algorithm": "X25519", "publicKey": b64, "privateKey": b64, "createdAt": iso }`
 * where the keys are standard base64 of the raw 32-byte X25519 keys.
 */
import { ErrorCode, RtcAgentError } from '../errors.js';
import { exportIdentity, generateIdentity, importIdentity, parsePublicKey, type Identity } from '../engine/crypto/index.js';
import { createPrivateFileExclusive, keyFileError, parseKeyFileJson, readPrivateFile } from './secure-file.js';

const FILE_TYPE = 'rtc-agent-identity';
const FILE_VERSION = 1;

/**
 * Loads the identity in `file`, or creates one there (0600, in a directory created 0700) if the file
 * does not exist. Safe against a concurrent creator: whoever loses loads the winner's key. The
 * identity returned is non-extractable either way (the file is its only copy outside WebCrypto).
 *
 * An existing file that other users can read or write, that another user owns, or that is a
 * symlink is **refused** with RTC_ERR_KEY_FILE (not fixed): see secure-file.ts for why.
 */
export async function loadOrCreateIdentity(file: string): Promise<Identity & { created: boolean }> {
  const existing = await readPrivateFile(file, 'secret');
  if (existing !== undefined) return { ...(await decodeIdentityFile(file, existing)), created: false };
  const fresh = await generateIdentity({ extractable: true });
  const stored = await exportIdentity(fresh);
  const content = `${JSON.stringify(
    { type: FILE_TYPE, version: FILE_VERSION, algorithm: 'X25519', publicKey: stored.publicKey, privateKey: stored.privateKey, createdAt: new Date().toISOString() },
    null,
    2,
  )}\n`;
  if (await createPrivateFileExclusive(file, content)) {
    return { ...(await importIdentity(stored.privateKey, { publicKey: stored.publicKey })), created: true };
  }
  // Another process created it between our read and our create: use theirs.
  const raced = await readPrivateFile(file, 'secret');
  if (raced === undefined) throw keyFileError(`${file} vanished while being created`, file);
  return { ...(await decodeIdentityFile(file, raced)), created: false };
}

async function decodeIdentityFile(file: string, text: string): Promise<Identity> {
  const json = parseKeyFileJson(file, text);
  if (json.type !== FILE_TYPE || json.version !== FILE_VERSION || json.algorithm !== 'X25519') {
    throw keyFileError(`${file} is not an rtc-agent identity file (want type ${FILE_TYPE}, version ${FILE_VERSION}, algorithm X25519)`, file);
  }
  if (typeof json.privateKey !== 'string') throw keyFileError(`${file}: privateKey is not a base64 32-byte key`, file);
  try {
    parsePublicKey(json.publicKey, 'publicKey');
  } catch (err) {
    throw keyFileError(`${file} holds an unusable key: ${(err as Error).message}`, file, err);
  }
  try {
    // The stored public key is a convenience for humans; the private key is the truth (a mismatch is corruption).
    return await importIdentity(json.privateKey, { publicKey: json.publicKey as string });
  } catch (err) {
    if (err instanceof RtcAgentError && err.code === ErrorCode.KEY_FILE) throw keyFileError(`${file}: ${err.message}`, file, err);
    throw keyFileError(`${file} holds an unusable key: ${(err as Error).message}`, file, err);
  }
}
