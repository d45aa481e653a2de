/** Formatting for people reading a terminal. Untrusted text never reaches it raw. */
import type { PeerInfo } from '../agent/index.js';

/**
 * Removes control characters (escape sequences could rewrite the screen or the title), bidi
 * overrides and other invisible troublemakers from text a peer sent; keeps tabs.
 */
export function cleanForTerminal(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g, '');
}

export function formatTime(ms: number): string {
  return new Date(ms).toTimeString().slice(0, 8);
}

/** A readable table of peers (id, name, path, RTT, native). */
export function formatPeersTable(peers: PeerInfo[]): string {
  const rows = peers.map((p) => [
    p.peerId,
    cleanForTerminal(p.name),
    p.path + (p.p2p === 'connecting' ? ' (p2p connecting)' : p.p2p === 'waiting-retry' ? ' (p2p retry pending)' : ''),
    p.rttMs === undefined ? '–' : `${p.rttMs} ms`,
    p.native ? 'yes' : 'no',
  ]);
  const head = ['peer', 'name', 'path', 'rtt', 'native'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}
