/**
 * `rtc-agent daemon`: a long-running agent with a local control API (see docs/daemon.md). Prints
 * the control socket path (or URL) as the first stdout line once ready; logs go to stderr.
 * SIGINT/SIGTERM or `POST /stop` leave the rooms, close the agent, remove the socket (or the
 * generated token file of its address), exit 0.
 */
import { rmSync } from 'node:fs';
import { Command, Option } from 'commander';
import type { Agent } from '../../agent/index.js';
import type { DaemonOptions } from '../../daemon/index.js';
import { DaemonAddressError, defaultSocketPath, generateToken, parseListenAddress, readTokenFile, socketIsLive } from '../../daemon/paths.js';
import { ErrorCode, RtcAgentError } from '../../errors.js';
import { ROOM_URI_ARGUMENT, addAgentFlags, takeRoomUri, type AgentFlags } from '../agent-flags.js';
import type { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { collectRooms, parsePositiveInt } from '../parse.js';

interface DaemonFlags extends AgentFlags {
  room?: string[];
  socket?: string;
  listen?: string;
  tokenFile?: string;
  maxBodyBytes?: number;
  eventBufferBytes?: number;
}

/**
 * The bearer token for --listen: --token-file, else RTC_AGENT_DAEMON_TOKEN, else a new one, which
 * the daemon writes to a 0600 file named by its address once it listens (`generated`).
 */
async function controlToken(flags: DaemonFlags): Promise<{ token: string; generated: boolean }> {
  if (flags.tokenFile !== undefined) return { token: await readTokenFile(flags.tokenFile), generated: false };
  const fromEnv = process.env.RTC_AGENT_DAEMON_TOKEN?.trim();
  if (fromEnv) return { token: fromEnv, generated: false };
  return { token: generateToken(), generated: true };
}

export function makeDaemonCommand(ctx: CliContext): Command {
  const cmd = new Command('daemon');
  addAgentFlags(cmd)
    .argument(...ROOM_URI_ARGUMENT)
    .option('--room <room>', 'room to join at start (repeatable; more can be joined through the API)', collectRooms)
    .addOption(new Option('--socket <path>', `control socket (default ${defaultSocketPath()})`).env('RTC_AGENT_DAEMON_SOCKET'))
    .option('--listen <host:port>', 'serve the control API on loopback TCP instead, with a bearer token (e.g. 127.0.0.1:7070)')
    .option('--token-file <file>', 'bearer token for --listen (else env RTC_AGENT_DAEMON_TOKEN, else one is generated into daemon-HOST-PORT.token)')
    .option('--max-body-bytes <n>', 'largest request body the control API accepts', parsePositiveInt)
    .option('--event-buffer-bytes <n>', 'unread bytes an event-stream client may queue before it is dropped (default 1 MiB)', parsePositiveInt)
    .action(async (uri: string | undefined, flags: DaemonFlags) => {
      const uriRoom = takeRoomUri(flags, uri, undefined);
      if (uriRoom !== undefined && !flags.room?.includes(uriRoom)) flags.room = [uriRoom, ...(flags.room ?? [])];
      if (flags.listen !== undefined && cmd.getOptionValueSource('socket') === 'cli') {
        throw new RtcAgentError(ErrorCode.CONFIG, 'give either --socket or --listen, not both');
      }
      const tcpAddress = flags.listen !== undefined ? parseListenAddress(flags.listen) : undefined;
      const socketPath = tcpAddress ? undefined : (flags.socket ?? defaultSocketPath());
      // Refuse before joining anything: peers should not see us come and go.
      if (socketPath !== undefined && (await socketIsLive(socketPath))) {
        ctx.stderr.write(`rtc-agent: another daemon is running at ${socketPath} (stop it with: rtc-agent stop --socket ${socketPath})\n`);
        process.exitCode = ExitCode.FAILURE;
        return;
      }
      if (tcpAddress && tcpAddress.port !== 0 && (await socketIsLive(tcpAddress))) {
        ctx.stderr.write(`rtc-agent: another process is listening on ${flags.listen} (a daemon there stops with: rtc-agent stop --url http://${flags.listen})\n`);
        process.exitCode = ExitCode.FAILURE;
        return;
      }
      const token = tcpAddress ? await controlToken(flags) : undefined;

      const { startAgent } = await import('../start-agent.js');
      const { startDaemon } = await import('../../daemon/index.js');
      // A service: it logs what it does (info) unless told otherwise. Files only with --accept-files/--download-dir.
      const agent = await startAgent(ctx, flags, { defaults: { logLevel: 'info' } });
      let daemon;
      try {
        for (const room of flags.room ?? []) await agent.join(room);
        const options: DaemonOptions = { agent, log: agent.log };
        if (socketPath !== undefined) options.socketPath = socketPath;
        if (tcpAddress) options.tcp = { ...tcpAddress, token: token!.token, writeTokenFile: token!.generated };
        if (flags.maxBodyBytes !== undefined) options.maxBodyBytes = flags.maxBodyBytes;
        if (flags.eventBufferBytes !== undefined) options.eventBufferBytes = flags.eventBufferBytes;
        daemon = await startDaemon(options);
      } catch (err) {
        await closeQuietly(agent);
        if (err instanceof DaemonAddressError) {
          ctx.stderr.write(`rtc-agent: ${err.message}\n`);
          process.exitCode = ExitCode.FAILURE;
          return;
        }
        throw err;
      }
      const tokenFile = daemon.tokenFile;
      // A second signal exits at once, without close(): the token file must not outlive us even then.
      const removeTokenFile = (): void => rmSync(tokenFile!, { force: true });
      if (tokenFile !== undefined) {
        process.once('exit', removeTokenFile);
        ctx.stderr.write(`rtc-agent: control API token written to ${tokenFile} (mode 0600); clients on this account find it there\n`);
      }
      // First stdout line: where clients connect. Scripts `read` it; everything else is on stderr.
      ctx.stdout.write(`${daemon.socketPath ?? daemon.url}\n`);
      const reason = await Promise.race([ctx.untilSignal(), daemon.stopRequested]);
      agent.log.info({ reason }, 'daemon stopping');
      await daemon.close();
      // close() removed it while it still held the port; from now on the name may be another daemon's.
      process.off('exit', removeTokenFile);
    });
  return cmd;
}

async function closeQuietly(agent: Agent): Promise<void> {
  await agent.close({ flushMs: 0 }).catch(() => undefined);
}
