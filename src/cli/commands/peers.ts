/** `rtc-agent peers`: the running daemon's peers as a table (or JSON). */
import { Command } from 'commander';
import type { PeerSummary } from '../../daemon/index.js';
import type { CliContext } from '../context.js';
import { addClientFlags, call, resolveAddress, runClient, type ClientFlags } from '../daemon-client.js';
import { parseRoom } from '../parse.js';
import { cleanForTerminal, formatTable, shortFingerprint } from '../terminal.js';

interface PeersFlags extends ClientFlags {
  room?: string;
  json?: boolean;
}

export function makePeersCommand(ctx: CliContext): Command {
  const cmd = new Command('peers')
    .option('--room <room>', 'only this room', parseRoom)
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
        p.peerId,
        cleanForTerminal(p.name),
        p.path,
        p.rttMs === null ? '-' : `${p.rttMs.toFixed(1)} ms`,
        p.native ? 'yes' : 'no',
        ...(withKeys ? [p.fingerprint === null ? 'no e2ee' : shortFingerprint(p.fingerprint)] : []),
      ]);
      ctx.stdout.write(formatTable(['ROOM', 'PEER', 'NAME', 'PATH', 'RTT', 'NATIVE', ...(withKeys ? ['FINGERPRINT'] : [])], rows));
    }),
  );
  return cmd;
}
