/**
 * rtc-agent in the browser (`import { createAgent } from 'rtc-agent/browser'`, or the ESM bundle
 * the hub serves at /rtc-agent.js): the same createAgent / join / send / sendFile / events API as
 * in Node, on the same engine, so a web app joins the same rooms with the same guarantees.
 */
export { BrowserAgent, createAgent } from './agent.js';
export {
  DEFAULT_BROWSER_LOG_LEVEL,
  DEFAULT_BROWSER_MAX_FILE_BYTES,
  DEFAULT_BROWSER_MAX_RECONNECT_ATTEMPTS,
  DEFAULT_BROWSER_RECONNECT_INTERVAL_MS,
  type BrowserAgentOptions,
  type BrowserE2eeOptions,
  type BrowserIdentityOption,
  type BrowserSettings,
} from './options.js';
export { DEFAULT_BROWSER_MAX_INCOMING_FILES, DEFAULT_BROWSER_MAX_INCOMING_FILES_PER_PEER } from './browser-files.js';
export { BlobFileStore } from './blob-store.js';
export { createConsoleLogger, type BrowserLogLevel, type ConsoleLike } from './console-logger.js';
export { deleteStoredIdentity, loadOrCreateStoredIdentity } from './identity-store.js';
export { browserScrypt, scrypt } from './scrypt.js';
export { Sha256 } from './sha256.js';
export { ErrorCode, RtcAgentError, isRtcAgentError } from '../errors.js';
export { ROOM_NAME_PATTERN, type IceServer } from '../protocol/room-contract.js';
export { DEFAULT_CLOSE_FLUSH_MS, type AgentEvents } from '../engine/agent-core.js';
export { deriveRoomKey, fingerprint, fingerprintsEqual, generateIdentity, MemoryKnownPeers, type Identity, type KnownPeers, type RoomKey } from '../engine/crypto/index.js';
export type { RoomSession as Room, RoomEvents } from '../engine/room-session.js';
export type { SendOptions, PathChange, PeerLeft, PeerInfo, PeerJoined, ReceivedMessage, DeliveryRefused } from '../engine/types.js';
export type { PeerJoinReason } from '../engine/membership.js';
export type { PeerPath } from '../engine/peer-path.js';
export type { FileOffer, FileProgress, FileReceived, FileFailed, FileSent, FileFailCode } from '../engine/files/types.js';
export type { EngineLogger as Logger } from '../engine/log.js';
