/**
 * File transfer as a room sees it: the events, what a sender gets back, and the seam to the
 * platform code that moves and stores the bytes (Node: the file system; browsers: Blobs).
 */
import type { FileFailCode } from './file-wire.js';
import type { ReceivedMessage } from '../types.js';

export type { FileFailCode } from './file-wire.js';

export interface FileOffer {
  id: string;
  room: string;
  from: string;
  fromName: string;
  /** Sanitised name the file will get. */
  name: string;
  size: number;
}

export interface FileProgress {
  id: string;
  room: string;
  direction: 'send' | 'receive';
  peerId: string;
  name: string;
  bytes: number;
  size: number;
}

export interface FileReceived extends FileOffer {
  /** Where the verified file is now (the store's `location`): Node, its final path; browsers, an object URL. */
  path: string;
  sha256: string;
  /** Browsers: the file itself (a Blob), when the store keeps one. */
  blob?: unknown;
}

/**
 * A transfer that failed or an offer that was refused. By the time this is emitted on the receiving
 * side, the transfer's file is closed and its temporary file removed. A `duplicate` is about the
 * refused offer: the transfer that already has that id goes on.
 */
export interface FileFailed {
  id: string;
  room: string;
  direction: 'send' | 'receive';
  peerId: string;
  name: string;
  /** Stable, machine-readable cause; see {@link FileFailCode} for each value. */
  code: FileFailCode;
  /** Human-readable, names the cause (and the setting, for limits). */
  reason: string;
}

export interface FileSent {
  id: string;
  name: string;
  size: number;
  sha256: string;
  /** Peers that confirmed a verified copy. */
  deliveredTo: string[];
}

export interface FileEvents {
  'file-offer': [offer: FileOffer];
  'file-progress': [progress: FileProgress];
  'file-received': [file: FileReceived];
  'file-failed': [failure: FileFailed];
}

/** What the file module needs from its room. */
export interface FileRoom {
  readonly name: string;
  sendSystem(data: unknown, to?: string): Promise<void>;
  peerIds(): string[];
  peerName(peerId: string): string;
}

export type Emit = <K extends keyof FileEvents>(event: K, ...args: FileEvents[K]) => void;

/** A room's file transfers: made by the platform for each room (see RoomFilesFactory). */
export interface RoomFiles {
  /** A System message from a peer (offers, chunks, confirmations). */
  onSystemMessage(message: ReceivedMessage): void;
  /**
   * Sends a file (a path in Node, a Blob/File in browsers) to one peer or everyone in the room,
   * resolving once each receiver confirmed a verified copy.
   */
  send(source: unknown, options: { to?: string }): Promise<FileSent>;
  /** The peer left: its transfers fail (`peer-left`). */
  peerGone(peerId: string): void;
  /** The room closes: every transfer fails (`closed`); resolves once partial files are gone. */
  close(): Promise<void>;
}

export type RoomFilesFactory = (room: FileRoom, emit: Emit) => RoomFiles;
