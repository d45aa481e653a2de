/**
 * What every PeerLink implementation agrees on about the wire: the two DataChannel labels, and the
 * few SDP facts the links read or adjust. Pure string work, shared by NativeLink and BrowserLink.
 */
import type { LinkChannel } from './peer-link.js';

/** The channels' labels; the offerer creates both (an answerer closes any other it is offered). */
export const LINK_LABELS: Readonly<Record<LinkChannel, string>> = { reliable: 'rtc-agent/reliable', unreliable: 'rtc-agent/unreliable' };

export function channelOfLabel(label: string): LinkChannel | undefined {
  if (label === LINK_LABELS.reliable) return 'reliable';
  if (label === LINK_LABELS.unreliable) return 'unreliable';
  return undefined;
}

/** RFC 8841 §6.1: a peer whose SDP has no `a=max-message-size` accepts 64 KiB. */
export const DEFAULT_REMOTE_MAX_MESSAGE_SIZE = 65_536;

/** `a=max-message-size` of an SDP; 64 KiB when absent (RFC 8841 §6.1), Infinity for 0 (no limit). */
export function parseMaxMessageSize(sdp: string): number {
  const match = /^a=max-message-size:\s*(\d+)\s*$/m.exec(sdp);
  if (!match) return DEFAULT_REMOTE_MAX_MESSAGE_SIZE;
  const value = Number(match[1]);
  return value === 0 ? Number.POSITIVE_INFINITY : value;
}

/**
 * Makes the answerer take the DTLS server role (`a=setup:passive` in its answer), by reading the
 * offer's `a=setup:actpass` as `active` before the local stack sees it; the offer on the wire is
 * untouched and a passive answer is valid (RFC 8842 §5.3). Why: an `active` answerer (DTLS
 * client) sends its ClientHello as soon as ICE connects on its side, which happens before the
 * offerer has even received the answer (the offerer answers ICE checks already). The offerer has
 * no DTLS transport yet, drops the ClientHello, and the handshake waits for the 1 s retransmit.
 * As DTLS server, the answerer is ready first, and the offerer (client) can only start DTLS after
 * it has the answer. native-notes.md#dtls-role-and-the-1-s-setup.
 */
export function answerAsDtlsServer(sdp: string): string {
  return sdp.replace(/^a=setup:actpass(?=\r?$)/gm, 'a=setup:active');
}

/**
 * libdatachannel reports candidates as SDP attribute lines (`a=candidate:…`); the room contract
 * (and every browser's addIceCandidate) uses the W3C form without `a=`.
 */
export function w3cCandidate(candidate: string): string {
  return candidate.startsWith('a=') ? candidate.slice(2) : candidate;
}
