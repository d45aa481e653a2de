/**
 * `rtc-agent send-file`: a file to a room (or one peer), directly or through the daemon. The file
 * is checked before anything connects (exit 2 naming it). Exits 0 only when every peer it was for
 * confirmed a verified copy; 9 when one refused it, 7 when one did not confirm (stderr says who and
 * why); 5 when the peers did not come.
 */
import { basename } from 'node:path';
import { Command, Option } from 'commander';
import type { Agent, FileFailed, FileSent, Room } from '../../agent/index.js';
import { ROOM_URI_ARGUMENT, addAgentFlags, takeRoomUri, type AgentFlags } from '../agent-flags.js';
import type { CliContext, StopReason } from '../context.js';
import { CommandFailed, ExitCode, stopExitCode } from '../exit-codes.js';
import { parsePositiveInt, parseRoom } from '../parse.js';
import { checkReadableFile } from '../preflight.js';
import { DEFAULT_WAIT_PEERS_MS } from '../wait-peers.js';

interface SendFileFlags extends AgentFlags {
  room?: string;
  to?: string;
  waitPeers?: number;
  waitTimeout?: number;
  json?: boolean;
  daemon?: boolean;
  socket?: string;
  url?: string;
}

/** Through a daemon, a transfer may take long: wait up to an hour for the receivers' confirmation. */
const DAEMON_FILE_TIMEOUT_MS = 60 * 60_000;

/** File failures that are the receiver saying no (exit 9), as opposed to not confirming (exit 7). */
const REFUSAL_CODES: ReadonlySet<string> = new Set(['refused', 'too-large', 'too-many', 'duplicate', 'bad-offer']);

export function makeSendFileCommand(ctx: CliContext): Command {
  const cmd = new Command('send-file')
    .argument('<path>', 'file to send')
    .argument(...ROOM_URI_ARGUMENT)
    .option('--room <room>', 'room to send to (required without --daemon; the daemon defaults to its first room)', parseRoom)
    .option('--to <peer>', 'one peer (id or name; with --daemon: id) instead of everyone')
    .option('--wait-peers <n>', 'wait for this many peers first (default 1)', parsePositiveInt)
    .option('--wait-timeout <ms>', `how long to wait for them (default ${DEFAULT_WAIT_PEERS_MS})`, parsePositiveInt)
    .option('--json', 'print the result as JSON')
    .option('--daemon', 'send through the running daemon (its control socket, or --socket/--url) instead of joining here')
    .addOption(new Option('--socket <path>', 'daemon control socket (with --daemon)').env('RTC_AGENT_DAEMON_SOCKET'))
    .addOption(new Option('--url <url>', 'daemon control URL (with --daemon; token from RTC_AGENT_DAEMON_TOKEN or its token file)').env('RTC_AGENT_DAEMON_URL'))
    .addHelpText(
      'after',
      `
Exit code 0 means every peer it was for confirmed a verified copy; 9 a peer refused it, 7 a peer
did not confirm it (stderr says who and why), 5 the peers did not come, 2 the file is missing.`,
    );
  addAgentFlags(cmd);
  return cmd.action(async (path: string, uri: string | undefined, flags: SendFileFlags) => {
    // Before anything else (loading the agent, connecting): a typo answers at once.
    const file = await checkReadableFile(path, 'send-file:');
    const room = takeRoomUri(flags, uri, flags.room);
    if (room !== undefined) flags.room = room;
    if (flags.daemon) return viaDaemon(ctx, cmd, file, flags);
    if (flags.room === undefined) throw new CommandFailed(ExitCode.USAGE, "required option '--room <room>' not specified (or use --daemon)");
    const stop = ctx.untilSignal();
    const abort = new AbortController();
    void stop.then((reason) => abort.abort(reason));
    const { startAgent } = await import('../start-agent.js');
    let agent: Agent | undefined;
    try {
      // Errors only: the verdict is the one line on stderr (--log-level shows more).
      agent = await startAgent(ctx, flags, { defaults: { logLevel: 'error' }, signal: abort.signal });
      await run(ctx, agent, file, { ...flags, room: flags.room }, abort.signal);
    } catch (err) {
      if (!abort.signal.aborted || err instanceof CommandFailed) throw err;
    } finally {
      await agent?.close();
    }
    // Interrupted: the transfer was aborted (the receivers removed their partial copies).
    if (abort.signal.aborted) process.exitCode = stopExitCode(abort.signal.reason as StopReason);
  });
}

async function viaDaemon(ctx: CliContext, cmd: Command, file: string, flags: SendFileFlags): Promise<void> {
  const { call, resolveAddress, runClient } = await import('../daemon-client.js');
  const { formatBytes } = await import('../terminal.js');
  await runClient(ctx, async () => {
    const address = await resolveAddress(cmd, { socket: flags.socket, url: flags.url, token: process.env.RTC_AGENT_DAEMON_TOKEN });
    const body: Record<string, unknown> = { path: file };
    if (flags.room !== undefined) body.room = flags.room;
    if (flags.to !== undefined) body.to = flags.to;
    const result = (await call(address, 'POST', '/files', body, DAEMON_FILE_TIMEOUT_MS)) as FileSent & { room: string; failed?: FileFailed[] };
    if (flags.json) ctx.stdout.write(`${JSON.stringify(result)}\n`);
    else ctx.stdout.write(`sent ${result.name} (${formatBytes(result.size)}) in '${result.room}' to ${result.deliveredTo.join(', ') || 'nobody'}; sha256 ${result.sha256}\n`);
    failIfNotDelivered(result.name, result.failed ?? []);
  });
}

async function run(ctx: CliContext, agent: Agent, file: string, flags: SendFileFlags & { room: string }, signal: AbortSignal): Promise<void> {
  const { waitForPeers } = await import('../wait-peers.js');
  const { formatBytes, progressBar } = await import('../terminal.js');
  const room = await agent.join(flags.room);
  const timeoutMs = flags.waitTimeout ?? DEFAULT_WAIT_PEERS_MS;
  const wanted = flags.to;
  if (wanted !== undefined) {
    await waitForPeers(room, 1, { timeoutMs, stderr: ctx.stderr, signal, what: `peer '${wanted}'`, matches: (p) => p.peerId === wanted || p.name === wanted });
  } else {
    await waitForPeers(room, flags.waitPeers ?? 1, { timeoutMs, stderr: ctx.stderr, signal });
  }
  const to = wanted === undefined ? undefined : room.peers().find((p) => p.peerId === wanted || p.name === wanted)?.peerId;
  const tty = Boolean((ctx.stderr as { isTTY?: boolean }).isTTY) && flags.json !== true;
  agent.on('file-progress', (p) => {
    if (p.direction !== 'send' || !tty) return;
    ctx.stderr.write(`\r\u001b[2K${progressBar(p.bytes, p.size, p.name)}${p.bytes >= p.size ? '\n' : ''}`);
  });
  const { failed, skipped } = watchFailures(room, to);
  let result: FileSent | undefined;
  try {
    result = await room.sendFile(file, to === undefined ? {} : { to });
  } catch (err) {
    // Nobody confirmed: the failures (file-failed, emitted before this) say who and why.
    if (failed.length === 0 && skipped.length === 0) throw err;
  }
  if (result) {
    const names = result.deliveredTo.map((id) => room.peer(id)?.name ?? id);
    if (flags.json) ctx.stdout.write(`${JSON.stringify({ ...result, deliveredToNames: names })}\n`);
    else ctx.stdout.write(`sent ${result.name} (${formatBytes(result.size)}) to ${names.join(', ')}; sha256 ${result.sha256}\n`);
  }
  failIfNotDelivered(result?.name ?? basename(file), [...skipped, ...failed]);
}

/** file-failed events of the sending side, and the peers E2EE kept it from (they get nothing). */
type Failure = Pick<FileFailed, 'peerId' | 'code' | 'reason'>;

function watchFailures(room: Room, to: string | undefined): { failed: Failure[]; skipped: Failure[] } {
  const failed: Failure[] = [];
  room.on('file-failed', (f) => f.direction === 'send' && failed.push(f));
  const skipped = room
    .peers()
    .filter((p) => (to === undefined || p.peerId === to) && !p.canSend)
    .map((p): Failure => ({ peerId: p.peerId, code: 'refused', reason: p.cannotSendReason ?? `${p.name} cannot be sent to` }));
  return { failed, skipped };
}

function failIfNotDelivered(file: string, failures: Failure[]): void {
  if (failures.length === 0) return;
  const refused = failures.some((f) => REFUSAL_CODES.has(f.code));
  const why = failures.map((f) => `${f.reason} (${f.code})`).join('; ');
  throw new CommandFailed(refused ? ExitCode.REFUSED : ExitCode.DELIVERY_LOSS, `${file} not delivered to every peer: ${why}`);
}
