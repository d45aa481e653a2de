export { Agent, createAgent, DEFAULT_CLOSE_FLUSH_MS, type AgentEvents, type AgentOptions } from './agent.js';
export type { RoomSession as Room, RoomEvents, SendOptions, PathChange, PeerLeft, PeerInfo, PeerJoined, PeerJoinReason, PeerPath, ReceivedMessage } from '../room/room-session.js';
export type { FileOffer, FileProgress, FileReceived, FileFailed, FileSent } from '../room/file-transfer.js';
