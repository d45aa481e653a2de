/**
 * The seam between a room and the ways bytes reach one remote peer. A room holds, per remote peer,
 * at most one P2P link (native DataChannels) and always the relay path through the hub; both
 * carry the same opaque frames (src/protocol/frames.ts), so the room can move traffic between
 * them without the application noticing.
 */

export type LinkPath = 'p2p' | 'relay';

/** Reliable: ordered, retransmitted. Unreliable: unordered, no retransmits (games, telemetry). */
export type LinkChannel = 'reliable' | 'unreliable';

export type LinkState = 'connecting' | 'open' | 'closed';
