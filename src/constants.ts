/**
 * Defaults shared by more than one layer. Each carries its unit in the name and says why it has
 * its value. Layer-specific defaults live beside their layer (e.g. src/hub/options.ts).
 */

/** Matches ASP.NET Core's HubOptions.KeepAliveInterval; the official client expects a message at least this often. */
export const DEFAULT_KEEP_ALIVE_INTERVAL_MS = 15_000;

/** Matches ASP.NET Core's HubOptions.ClientTimeoutInterval: twice the client's 15 s ping interval. */
export const DEFAULT_CLIENT_TIMEOUT_MS = 30_000;

/** Matches ASP.NET Core's HubOptions.HandshakeTimeout. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 15_000;

/**
 * Matches HttpConnectionDispatcherOptions' DisconnectTimeout: how long a negotiated connection may
 * wait before it connects, and how long a dropped stateful-reconnect WebSocket may take to come back.
 */
export const DEFAULT_DISCONNECT_TIMEOUT_MS = 15_000;

/** Matches ASP.NET Core's LongPolling PollTimeout; the client's own poll timeout is 100 s. */
export const DEFAULT_LONG_POLL_TIMEOUT_MS = 90_000;

/** The default frame limit: big enough for SDP with many candidates and 48 KiB relay chunks. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024;

/** Default hub path, as in the seeds' C# interface (`/hub`). */
export const DEFAULT_HUB_PATH = '/hub';

/** Default hub port for `rtc-agent hub` and for chat's "is a hub already running?" probe. */
export const DEFAULT_HUB_PORT = 8080;

/** Loopback by default: exposing a hub to the network is a decision the user makes with --host. */
export const DEFAULT_HUB_HOST = '127.0.0.1';
