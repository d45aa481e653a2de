export { Agent, createAgent, DEFAULT_CLOSE_FLUSH_MS, type AgentEvents, type AgentOptions } from './agent.js';
export type { RoomSession as Room, RoomEvents } from '../engine/room-session.js';
export type { SendOptions, PathChange, PeerLeft, PeerInfo, PeerJoined, ReceivedMessage, DeliveryRefused } from '../engine/types.js';
export type { PeerJoinReason } from '../engine/membership.js';
export type { PeerPath } from '../engine/peer-path.js';
export type { FileOffer, FileProgress, FileReceived, FileFailed, FileSent, FileFailCode } from '../engine/files/types.js';
