/**
 * The engine's defaults, in one place for every platform (Node agents and browsers used to keep
 * their own copies, and they drifted). Each says its unit and why it has its value.
 */

/**
 * Largest link frame (header and E2EE seal included). 32 KiB: a 16 KiB application message still
 * fits one frame (half the per-frame costs of 16 KiB frames), every WebRTC stack accepts it (the
 * SDP default max-message-size is 64 KiB, browsers allow 256 KiB), and it fits one hub relay message.
 */
export const DEFAULT_CHUNK_BYTES = 32 * 1024;

/**
 * Bytes queued in the P2P DataChannel above which send() waits for it to drain (to the link's low
 * threshold): keeps acks, pings and chat from queueing behind seconds of bulk data.
 */
export const DEFAULT_P2P_BUFFERED_HIGH_BYTES = 1024 * 1024;

/** Unacked bytes per peer above which send() waits: keeps ~1 s of relay traffic in flight. */
export const DEFAULT_SEND_WINDOW_BYTES = 4 * 1024 * 1024;

/** Largest message accepted from a peer (reassembled): a large file chunk stream never needs more. */
export const DEFAULT_MAX_INCOMING_MESSAGE_BYTES = 64 * 1024 * 1024;

/**
 * Unreliable messages are not chunked: one frame each, under the smallest frame every stack takes
 * (16 KiB) less the frame header and the E2EE seal.
 */
export const MAX_UNRELIABLE_PAYLOAD_BYTES = 16 * 1024 - 64;

/** Acks go out after this many frames or this long, whichever comes first. */
export const ACK_EVERY_FRAMES = 16;
export const DEFAULT_ACK_DELAY_MS = 20;

/** Resend an unacked frame after this long on the relay path (the hub may lose it on restart). */
export const DEFAULT_RELAY_RESEND_MS = 2_000;
/** On P2P the DataChannel is reliable; resend only if it silently stalls this long. */
export const DEFAULT_P2P_RESEND_MS = 5_000;

/**
 * ICE connected, but the link not open this long after: DTLS or SCTP is stuck, and a fresh
 * connection is tried at once. Both take ~5 ms on loopback and ~1.5 s on a 300 ms-RTT path.
 */
export const DEFAULT_P2P_SETUP_STALL_MS = 2_000;
/** Handshakes failed after ICE connected that are retried at once (then the backoff applies). */
export const P2P_FAST_RETRIES = 2;

/** First P2P retry delay after a failure; doubles up to the cap. */
export const DEFAULT_P2P_RETRY_BASE_MS = 1_000;
export const DEFAULT_P2P_RETRY_MAX_MS = 60_000;

/**
 * Half the seed's 30 s: host candidates on a LAN connect in well under a second, and the peer is on
 * relay meanwhile, so waiting longer only delays the "P2P failed" report.
 */
export const DEFAULT_ICE_CONNECTION_TIMEOUT_MS = 15_000;

/** Heartbeat period; a peer silent for three of them is reported as left. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 5_000;
/** Silent intervals after which a peer is reported left (`timeout`). */
export const HEARTBEAT_MISSES = 3;

/** How often a room checks resends, heartbeats and probes. */
export const ROOM_TICK_MS = 250;

/** Concurrent Relay invocations per peer: enough to keep the pipe full, few enough to feel backpressure. */
export const DEFAULT_RELAY_IN_FLIGHT = 4;

/** Room for the SignalR envelope around a Relay payload (method, room, peer id, JSON). */
export const RELAY_ENVELOPE_BYTES = 512;

/** How long `send()` may wait (for a path, or for backpressure) by default. */
export const DEFAULT_SEND_TIMEOUT_MS = 30_000;
