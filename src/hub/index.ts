export { startHub, type Hub } from './server.js';
export {
  DEFAULT_HUB_LIMITS,
  resolveHubOptions,
  type HubAuthOptions,
  type HubLimits,
  type HubOptions,
  type TransportName,
} from './options.js';
