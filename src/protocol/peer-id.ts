import { createHash, randomBytes } from 'node:crypto';

/** Length of a peer id in characters (base64url; 16 characters = 96 bits). */
export const PEER_ID_LENGTH = 16;

/**
 * The peer id the hub assigns: base64url(SHA-256("rtc-agent-peer-v1\n" + userId + "\n" + agentKey)),
 * first 16 characters. Deterministic, so an agent that reconnects keeps its id (and its live P2P
 * links); bound to the secret agentKey and to the authenticated user, so nobody else can take it.
 * docs/room-contract.md gives the same recipe for other hub implementations.
 */
export function derivePeerId(userId: string | null, agentKey: string): string {
  return createHash('sha256')
    .update(`rtc-agent-peer-v1\n${userId ?? ''}\n${agentKey}`, 'utf8')
    .digest('base64url')
    .slice(0, PEER_ID_LENGTH);
}

/** A fresh peer id for clients that send no agentKey (their id changes on every connection). */
export function randomPeerId(): string {
  return randomBytes(12).toString('base64url');
}
