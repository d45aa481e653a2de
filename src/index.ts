/** rtc-agent's public API. Everything a program may rely on is exported here and nowhere else. */
export { startHub, DEFAULT_HUB_LIMITS, type BackplaneState, type ClusterStatus, type Hub, type HubAuthOptions, type HubLimits, type HubOptions, type HubRedisOptions, type TransportName } from './hub/index.js';
export { RtcAgentError, ErrorCode, parseErrorCode, isRtcAgentError } from './errors.js';
export { createLogger, silentLogger, type Logger } from './log/logger.js';
export * from './protocol/room-contract.js';
export { derivePeerId } from './protocol/peer-id.js';
export { createAgent, Agent, type AgentOptions, type AgentEvents, type Room, type RoomEvents, type SendOptions, type PathChange, type PeerLeft, type PeerInfo, type PeerJoined, type PeerJoinReason, type PeerPath, type ReceivedMessage, type DeliveryRefused } from './agent/index.js';
export { loadSettings, resolveSettings, settingsTable, SETTINGS, type AgentSettings, type AgentSettingsInput } from './config/agent-settings.js';
export type { FileOffer, FileProgress, FileReceived, FileFailed, FileSent } from './agent/index.js';
export {
  eventJson,
  peerJson,
  type EventJson,
  type EventJsonType,
  type PeerJson,
  type MessageEventJson,
  type PeerJoinedEventJson,
  type PeerLeftEventJson,
  type PathChangedEventJson,
  type DeliveryRefusedEventJson,
  type FileOfferEventJson,
  type FileProgressEventJson,
  type FileReceivedEventJson,
  type FileFailedEventJson,
  type ErrorEventJson,
  type HubEventJson,
} from './agent/event-json.js';
export { startDaemon, type Daemon, type DaemonOptions, type DaemonEvent, type DaemonOnlyEvent } from './daemon/index.js';
