/**
 * File transfer for a browser agent: the engine's FileTransfers over Blobs (blob-store.ts), with
 * limits sized for a page, which holds every incoming file in memory until it is verified.
 */
import { FileTransfers } from '../engine/files/file-transfers.js';
import { IncomingFileSlots } from '../engine/files/incoming-file-slots.js';
import type { AcceptFile, FileSettings } from '../engine/files/settings.js';
import type { RoomFilesFactory } from '../engine/files/types.js';
import type { EngineLogger } from '../engine/log.js';
import { BlobFileStore } from './blob-store.js';
import type { BrowserSettings } from './options.js';

/** Incoming files in progress from one peer: a few, since each one is held in memory. */
export const DEFAULT_BROWSER_MAX_INCOMING_FILES_PER_PEER = 4;
/** Incoming files in progress from everyone, in every room of the agent. */
export const DEFAULT_BROWSER_MAX_INCOMING_FILES = 8;

/**
 * An incoming transfer silent for this many sends' timeouts is aborted: as in Node, twice the
 * sender's wait for acknowledgements, so the sender gives up first and says why.
 */
const IDLE_TIMEOUT_SEND_TIMEOUTS = 2;

/** The `files` seam of AgentCore: one store and one set of slots for the agent, transfers per room. */
export function browserFiles(settings: BrowserSettings, accept: AcceptFile | undefined, log: EngineLogger): (room: string) => RoomFilesFactory {
  const store = new BlobFileStore();
  const slots = new IncomingFileSlots({ maxPerPeer: DEFAULT_BROWSER_MAX_INCOMING_FILES_PER_PEER, maxTotal: DEFAULT_BROWSER_MAX_INCOMING_FILES });
  const fileSettings: FileSettings = {
    maxFileBytes: settings.maxFileBytes,
    acceptFiles: settings.acceptFiles,
    confirmTimeoutMs: settings.sendTimeoutMs,
    idleTimeoutMs: IDLE_TIMEOUT_SEND_TIMEOUTS * settings.sendTimeoutMs,
  };
  return (roomName) => (room, emit) => new FileTransfers(room, emit, { store, settings: fileSettings, slots, log: log.child({ room: roomName, component: 'files' }), accept });
}
