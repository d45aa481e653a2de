/** `rtc-agent status`: the running daemon's hub connection, rooms and links. */
import { Command } from 'commander';
import type { CliContext } from '../context.js';
import { addClientFlags, call, resolveAddress, runClient, type ClientFlags } from '../daemon-client.js';

interface StatusFlags extends ClientFlags {
  json?: boolean;
}

export function makeStatusCommand(ctx: CliContext): Command {
  const cmd = new Command('status').option('--json', 'print the raw JSON');
  addClientFlags(cmd).action(async (flags: StatusFlags) =>
    runClient(ctx, async () => {
      const s = await call(await resolveAddress(cmd, flags), 'GET', '/status');
      if (flags.json) {
        ctx.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
        return;
      }
      const rooms = (s.rooms as { room: string; peers: number }[]).map((r) => `${r.room} (${r.peers} peer${r.peers === 1 ? '' : 's'})`);
      const lines = [
        `daemon   pid ${s.pid}, up ${Math.round(s.uptimeMs / 1000)} s, ${s.control.socketPath ?? s.control.url}`,
        `name     ${s.name}`,
        `hub      ${s.hub.url} (${s.hub.state}${s.hub.reconnects > 0 ? `, ${s.hub.reconnects} reconnects` : ''})`,
        `native   ${s.native ? 'yes' : `no (${s.nativeReason})`}`,
        `rooms    ${rooms.length > 0 ? rooms.join(', ') : 'none'}`,
        `links    ${s.links.p2p} p2p, ${s.links.relay} relay${s.links.none > 0 ? `, ${s.links.none} none` : ''}`,
        `events   ${s.eventClients} client${s.eventClients === 1 ? '' : 's'}`,
      ];
      ctx.stdout.write(`${lines.join('\n')}\n`);
    }),
  );
  return cmd;
}
