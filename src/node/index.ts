/**
 * Node platform code behind the engine's seams: the synchronous node:crypto AEAD, node:crypto's
 * scrypt, and the E2EE state files (identity, known peers) with owner-only permissions.
 */
export { nodeAead } from './aead.js';
export { loadOrCreateIdentity } from './identity-file.js';
export { FileKnownPeers } from './known-peers-file.js';
export { nodeScrypt } from './scrypt.js';
export { createPrivateFileExclusive, keyFileError, parseKeyFileJson, readPrivateFile, writePrivateFile, type FileSecrecy } from './secure-file.js';
