import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import type { Agent, FileSent } from '../../agent/index.js';
import { ErrorCode, RtcAgentError } from '../../errors.js';
import { addAgentFlags, startAgent, type AgentFlags } from '../agent-flags.js';
import type { CliContext } from '../context.js';
import { call, resolveAddress, runClient } from '../daemon-client.js';
import { parsePositiveInt } from '../parse.js';
import { formatBytes, progressBar } from '../terminal.js';

interface SendFileFlags extends AgentFlags {
  room?: string;
  to?: string;
  waitPeers?: number;
  json?: boolean;
  daemon?: boolean;
  socket?: string;
  url?: string;
}

/** Through a daemon, a transfer may take long: wait up to an hour for the receivers' confirmation. */
const DAEMON_FILE_TIMEOUT_MS = 60 * 60_000;

/** How long send-file waits for peers to show up by default. */
const DEFAULT_WAIT_PEERS_MS = 30_000;

export function makeSendFileCommand(ctx: CliContext): Command {
  const cmd = new Command('send-file')
    .description('send a file to a room (or one peer): chunked, SHA-256 verified by every receiver')
    .argument('<path>', 'file to send')
    .option('--room <room>', 'room to send to (required without --daemon; the daemon defaults to its first room)')
    .option('--to <peer>', 'one peer (id or name; with --daemon: id) instead of everyone')
    .option('--wait-peers <n>', 'wait for this many peers first (default 1)', parsePositiveInt)
    .option('--json', 'print the result as JSON')
    .option('--daemon', 'send through the running daemon (its control socket, or --socket/--url) instead of joining here')
    .addOption(new Option('--socket <path>', 'daemon control socket (with --daemon)').env('RTC_AGENT_DAEMON_SOCKET'))
    .addOption(new Option('--url <url>', 'daemon control URL (with --daemon; token from RTC_AGENT_DAEMON_TOKEN or its token file)').env('RTC_AGENT_DAEMON_URL'));
  addAgentFlags(cmd);
  return cmd.action(async (path: string, flags: SendFileFlags) => {
    if (flags.daemon) {
      await runClient(ctx, async () => {
        const address = await resolveAddress(cmd, { socket: flags.socket, url: flags.url, token: process.env.RTC_AGENT_DAEMON_TOKEN });
        const body: Record<string, unknown> = { path: resolve(path) };
        if (flags.room !== undefined) body.room = flags.room;
        if (flags.to !== undefined) body.to = flags.to;
        const result = (await call(address, 'POST', '/files', body, DAEMON_FILE_TIMEOUT_MS)) as FileSent & { room: string };
        if (flags.json) ctx.stdout.write(`${JSON.stringify(result)}\n`);
        else ctx.stdout.write(`sent ${result.name} (${formatBytes(result.size)}) in '${result.room}' to ${result.deliveredTo.join(', ')}; sha256 ${result.sha256}\n`);
      });
      return;
    }
    if (flags.room === undefined) throw new RtcAgentError(ErrorCode.CONFIG, "required option '--room <room>' not specified (or use --daemon)");
    const agent = await startAgent(ctx, flags, { defaults: { logLevel: 'warn' } });
    try {
      await run(ctx, agent, path, { ...flags, room: flags.room });
    } finally {
      await agent.close();
    }
  });
}

async function run(ctx: CliContext, agent: Agent, path: string, flags: SendFileFlags & { room: string }): Promise<void> {
  const room = await agent.join(flags.room);
  const need = flags.to !== undefined ? 1 : (flags.waitPeers ?? 1);
  await waitFor(() => room.peers().length >= need, DEFAULT_WAIT_PEERS_MS, `only ${room.peers().length} of ${need} peers joined '${flags.room}'`);
  let to: string | undefined;
  if (flags.to !== undefined) {
    const wanted = flags.to;
    await waitFor(() => room.peers().some((p) => p.peerId === wanted || p.name === wanted), DEFAULT_WAIT_PEERS_MS, `no peer '${wanted}' in '${flags.room}'`);
    to = room.peers().find((p) => p.peerId === wanted || p.name === wanted)?.peerId;
  }
  const tty = Boolean(process.stderr.isTTY) && flags.json !== true;
  agent.on('file-progress', (p) => {
    if (p.direction !== 'send') return;
    if (tty) process.stderr.write(`\r\u001b[2K${progressBar(p.bytes, p.size, p.name)}${p.bytes >= p.size ? '\n' : ''}`);
  });
  const result = await room.sendFile(path, to === undefined ? {} : { to });
  const names = result.deliveredTo.map((id) => room.peer(id)?.name ?? id);
  if (flags.json) ctx.stdout.write(`${JSON.stringify({ ...result, deliveredToNames: names })}\n`);
  else ctx.stdout.write(`sent ${result.name} (${formatBytes(result.size)}) to ${names.join(', ')}; sha256 ${result.sha256}\n`);
}

async function waitFor(ready: () => boolean, ms: number, why: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ready()) {
    if (Date.now() > deadline) throw new RtcAgentError(ErrorCode.SEND_TIMEOUT, `${why} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
