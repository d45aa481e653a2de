/**
 * W3C-style ICE servers (`{ urls, username, credential }`, as the hub's Join result carries them)
 * to libdatachannel's string form: `stun:host:port`, `turn:user:pass@host:port[?transport=tcp]`,
 * `turns:…`. User and password are URL-encoded, because libdatachannel splits the URL on `:` and
 * `@` and URL-decodes the parts.
 */
import { ErrorCode, RtcAgentError } from '../../errors.js';
import type { IceServer } from '../../protocol/room-contract.js';

const SCHEME = /^(stun|stuns|turn|turns):(.+)$/i;

export function toNativeIceServers(servers: readonly IceServer[]): string[] {
  const out: string[] = [];
  for (const server of servers) {
    const urls = Array.isArray(server.urls) ? server.urls : [server.urls];
    for (const url of urls) {
      const match = SCHEME.exec(url.trim());
      if (!match) {
        throw new RtcAgentError(ErrorCode.CONFIG, `ICE server URL ${JSON.stringify(url)} must start with stun:, stuns:, turn: or turns:`, {
          details: { setting: 'iceServers' },
        });
      }
      const scheme = match[1]!.toLowerCase();
      // Strip a `//` some configs carry (`turn://host`); libdatachannel wants `turn:host`.
      const rest = match[2]!.replace(/^\/\//, '');
      const isTurn = scheme === 'turn' || scheme === 'turns';
      if (isTurn && !rest.includes('@') && (server.username !== undefined || server.credential !== undefined)) {
        const user = encodeURIComponent(server.username ?? '');
        const pass = encodeURIComponent(server.credential ?? '');
        out.push(`${scheme}:${user}:${pass}@${rest}`);
      } else {
        out.push(`${scheme}:${rest}`);
      }
    }
  }
  return out;
}
