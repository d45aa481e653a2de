/** `rtc-agent peers`: the running daemon's peers as a table (or JSON). */
import { Command } from 'commander';
import type { PeerSummary } from '../../daemon/index.js';
import type { CliContext } from '../context.js';
import { addClientFlags, call, resolveAddress, runClient, type ClientFlags } from '../daemon-client.js';
import { shortFingerprint } from '../terminal.js';

interface PeersFlags extends ClientFlags {
  room?: string;
  json?: boolean;
}

/** Left-aligned columns, two spaces apart. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

export function makePeersCommand(ctx: CliContext): Command {
  const cmd = new Command('peers')
    .description("list the running daemon's peers: id, name, path (p2p/relay), RTT, native")
    .option('--room <room>', 'only this room')
    .option('--json', 'print JSON');
  addClientFlags(cmd).action(async (flags: PeersFlags) =>
    runClient(ctx, async () => {
      const query = flags.room !== undefined ? `?room=${encodeURIComponent(flags.room)}` : '';
      const { peers } = (await call(await resolveAddress(cmd, flags), 'GET', `/peers${query}`)) as { peers: PeerSummary[] };
      if (flags.json) {
        ctx.stdout.write(`${JSON.stringify(peers, null, 2)}\n`);
        return;
      }
      if (peers.length === 0) {
        ctx.stdout.write('no peers\n');
        return;
      }
      const withKeys = peers.some((p) => p.fingerprint !== null);
      const rows = peers.map((p) => [
        p.room,
        p.peer,
        p.name,
        p.path,
        p.rttMs === null ? '-' : `${p.rttMs.toFixed(1)} ms`,
        p.native ? 'yes' : 'no',
        ...(withKeys ? [p.fingerprint === null ? 'no e2ee' : shortFingerprint(p.fingerprint)] : []),
      ]);
      ctx.stdout.write(`${formatTable(['ROOM', 'PEER', 'NAME', 'PATH', 'RTT', 'NATIVE', ...(withKeys ? ['FINGERPRINT'] : [])], rows)}\n`);
    }),
  );
  return cmd;
}
