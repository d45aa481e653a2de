export { DEFAULT_RPC_SHUTDOWN_GRACE_MS, JSONRPC_PATH, JSONRPC_TRANSPORT, RpcEndpoint, type RejectUpgrade, type RpcEndpointOptions } from './rpc-endpoint.js';
export { DEFAULT_MAX_BATCH_ENTRIES } from './rpc-dispatcher.js';
export type { AnnounceResult } from './rpc-methods.js';
