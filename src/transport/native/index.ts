/** Native P2P transport: node-datachannel links. The binding itself is loaded only by binding.ts. */
export {
  loadNativeBinding,
  acquireNative,
  releaseNative,
  nativeUsers,
  routeNativeLog,
  nativeLogRouted,
  onNativeCleanup,
  type AcquireNativeOptions,
  type AvailableNativeBinding,
  type NativeApi,
  type NativeBindingStatus,
  type NativeDataChannel,
  type NativeLogLevel,
  type NativePeerConnection,
} from './binding.js';
export {
  NativeLink,
  RELIABLE_LABEL,
  UNRELIABLE_LABEL,
  DEFAULT_BUFFERED_LOW_BYTES,
  DEFAULT_LOCAL_MAX_MESSAGE_SIZE,
  DEFAULT_REMOTE_MAX_MESSAGE_SIZE,
  parseMaxMessageSize,
  answerAsDtlsServer,
  type NativeLinkEvents,
  type NativeLinkOptions,
  type NativeLinkStats,
} from './native-link.js';
export { toNativeIceServers } from './ice-servers.js';
export { NativeLinkFactory, type NativeLinkFactoryOptions } from './native-link-factory.js';
