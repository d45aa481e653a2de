/** Formatting for people reading a terminal. Untrusted text never reaches it raw. */
import { stripVTControlCharacters } from 'node:util';
import type { PeerInfo } from '../agent/index.js';

/**
 * Makes text a peer sent safe to print: whole escape sequences go first (Node's own
 * stripVTControlCharacters, so `ESC]0;title BEL` leaves nothing behind), then every control
 * character left (a lone ESC could still start one), bidi overrides and other invisible
 * troublemakers; tabs stay.
 */
export function cleanForTerminal(text: string): string {
  // eslint-disable-next-line no-control-regex
  return stripVTControlCharacters(text).replace(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g, '');
}

/**
 * Left-aligned columns two spaces apart, optionally with a rule under the header; ends with a
 * newline. The one table of every report (peers, doctor, smoke, config).
 */
export function formatTable(headers: string[], rows: string[][], options: { rule?: boolean } = {}): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const rule = options.rule ? [line(widths.map((w) => '-'.repeat(w)))] : [];
  return `${[line(headers), ...rule, ...rows.map(line)].join('\n')}\n`;
}

export function formatTime(ms: number): string {
  return new Date(ms).toTimeString().slice(0, 8);
}

/** A readable table of peers (id, name, path, RTT, native). */
export function formatPeersTable(peers: PeerInfo[]): string {
  const withKeys = peers.some((p) => p.fingerprint !== undefined);
  const rows = peers.map((p) => [
    p.peerId,
    cleanForTerminal(p.name),
    p.path + (p.p2p === 'connecting' ? ' (p2p connecting)' : p.p2p === 'waiting-retry' ? ' (p2p retry pending)' : ''),
    p.rttMs === undefined ? '–' : `${p.rttMs} ms`,
    p.native ? 'yes' : 'no',
    ...(withKeys ? [p.fingerprint ? shortFingerprint(p.fingerprint) : 'no e2ee'] : []),
  ]);
  const head = ['peer', 'name', 'path', 'rtt', 'native', ...(withKeys ? ['fingerprint'] : [])];
  return formatTable(head, rows).trimEnd();
}

/** The first three groups of a fingerprint: enough to spot a change at a glance (/verify shows all). */
export function shortFingerprint(fingerprint: string): string {
  return fingerprint.split(' ').slice(0, 3).join(' ');
}

/** `12.3 MB`-style sizes for people. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** `[########............] 40% name` in `width` cells of bar. */
export function progressBar(done: number, total: number, label: string, width = 24): string {
  const ratio = total === 0 ? 1 : Math.min(1, done / total);
  const filled = Math.round(ratio * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.floor(ratio * 100)).padStart(3)}% ${label}`;
}
