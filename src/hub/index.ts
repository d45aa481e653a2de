export { startHub, type Hub } from './server.js';
export type { BackplaneState, ClusterStatus } from './cluster/cluster.js';
export {
  DEFAULT_HUB_LIMITS,
  resolveHubOptions,
  type HubAuthOptions,
  type HubLimits,
  type HubOptions,
  type HubRedisOptions,
  type TransportName,
} from './options.js';
