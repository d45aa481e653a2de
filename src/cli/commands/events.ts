/** `rtc-agent events`: follows the running daemon's event stream; exits 0 when the daemon stops. */
import { createInterface } from 'node:readline';
import { Command } from 'commander';
import type { DaemonEvent } from '../../daemon/index.js';
import { ErrorCode, RtcAgentError, parseErrorCode } from '../../errors.js';
import type { CliContext } from '../context.js';
import { addClientFlags, open, resolveAddress, runClient, type ClientFlags } from '../daemon-client.js';
import { collect, collectRooms } from '../parse.js';
import { cleanForTerminal } from '../terminal.js';

interface EventsFlags extends ClientFlags {
  json?: boolean;
  room?: string[];
  type?: string[];
}

/** One event as a human-readable line, or null for events plain mode does not show. */
export function formatEvent(e: DaemonEvent): string | null {
  const name = (n: string): string => cleanForTerminal(n);
  switch (e.type) {
    case 'message': {
      const body = e.kind === 'binary' ? `[${Buffer.from(String(e.data), 'base64').length} bytes]` : cleanForTerminal(e.text ?? '');
      return `${e.room} ${name(e.name)}: ${body}`;
    }
    case 'peer-joined':
      return `${e.room} * ${name(e.name)} (${e.peerId}) joined${e.native ? '' : ' (relay only)'}`;
    case 'peer-left':
      return `${e.room} * ${name(e.name)} (${e.peerId}) left (${e.reason})`;
    case 'path-changed':
      return `${e.room} * ${name(e.name)}: ${e.from} -> ${e.to} (${e.reason})`;
    case 'delivery-refused':
      return `${e.room} ! ${cleanForTerminal(e.reason)} (${e.code})`;
    case 'room':
      return `${e.room} * ${e.state}`;
    case 'hub':
      return `* hub ${e.state}`;
    case 'error':
      return `* error ${e.code}: ${cleanForTerminal(e.message)}`;
    case 'closing':
      return '* daemon stopping';
    case 'file-offer':
      return `${e.room} * ${name(e.fromName)} offers ${name(e.name)} (${e.size} bytes)`;
    case 'file-received':
      return `${e.room} * received ${name(e.name)} from ${name(e.fromName)}: ${e.path} (${e.size} bytes, sha256 ${e.sha256.slice(0, 16)}…)`;
    case 'file-failed':
      return `${e.room} * file ${name(e.name)} ${e.direction === 'send' ? 'to' : 'from'} ${e.peerId} failed: ${cleanForTerminal(e.reason)} (${e.code})`;
    case 'file-progress':
    case 'ready':
    case 'heartbeat':
      return null;
  }
}

export function makeEventsCommand(ctx: CliContext): Command {
  const cmd = new Command('events')
    .option('--json', 'print the NDJSON lines as they come (heartbeats left out; docs/events.md)')
    .option('--room <room>', 'only this room (repeatable)', collectRooms)
    .option('--type <type>', 'only this event type, e.g. message (repeatable)', collect);
  addClientFlags(cmd).action(async (flags: EventsFlags) =>
    runClient(ctx, async () => {
      const query = new URLSearchParams();
      for (const room of flags.room ?? []) query.append('room', room);
      for (const type of flags.type ?? []) query.append('type', type);
      const q = query.toString();
      const res = await open(await resolveAddress(cmd, flags), 'GET', `/events${q ? `?${q}` : ''}`);
      if ((res.statusCode ?? 500) >= 400) {
        let text = '';
        for await (const chunk of res) text += String(chunk);
        let body: any = null;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON: fall through with the status
        }
        throw new RtcAgentError(parseErrorCode(String(body?.error?.code ?? '')) ?? ErrorCode.INTERNAL, String(body?.error?.message ?? `HTTP ${res.statusCode}`));
      }
      // A signal is how one stops following: exit 0, as when the daemon stops.
      const stop = (): void => void res.destroy();
      void ctx.untilSignal().then(stop);
      const lines = createInterface({ input: res, crlfDelay: Infinity });
      try {
        for await (const line of lines) {
          if (line.trim() === '') continue;
          let event: DaemonEvent;
          try {
            event = JSON.parse(line) as DaemonEvent;
          } catch {
            continue;
          }
          if (event.type === 'heartbeat') continue;
          const out = flags.json ? line : formatEvent(event);
          if (out !== null) ctx.stdout.write(`${out}\n`);
        }
      } catch (err) {
        // The daemon went away mid-stream (killed, or closed the connection): the stream is over.
        if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET' && (err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') throw err;
      }
    }),
  );
  return cmd;
}
