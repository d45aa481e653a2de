export { startDaemon, DEFAULT_MAX_BODY_BYTES, type Daemon, type DaemonOptions } from './server.js';
export { type DaemonEvent, type DaemonOnlyEvent, type DaemonEventType, type PeerSummary, DEFAULT_EVENT_CLIENT_BUFFER_BYTES, DEFAULT_EVENT_HEARTBEAT_MS } from './events.js';
export { DeliveryWatch, describeVerdict, type DeliveryVerdict, type Refusal } from './delivery.js';
export {
  defaultSocketPath,
  daemonTokenPath,
  tokenFileName,
  defaultDaemonDir,
  generateToken,
  writeTokenFile,
  readTokenFile,
  parseListenAddress,
  isLoopbackHost,
  socketIsLive,
  DaemonAddressError,
} from './paths.js';
