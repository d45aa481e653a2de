/**
 * `rtc-agent chat`: an interactive room. With no hub at its loopback URL it hosts one, and when the
 * hosting chat quits another chat on the machine takes over (chat/hosting.ts). Logs never reach the
 * screen: silent, or with --log-level (or RTC_AGENT_LOG_LEVEL) written to a log file. Files are
 * asked about one by one, unless --accept-files / --no-accept-files decide.
 */
import { mkdirSync, openSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { Command, Option } from 'commander';
import type { Agent } from '../../agent/index.js';
import type { ResolvedSettings } from '../../config/agent-settings.js';
import { ErrorCode, isRtcAgentError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import { ROOM_URI_ARGUMENT, addAgentFlags, requireRoom, takeRoomUri, type AgentFlags } from '../agent-flags.js';
import type { CliContext } from '../context.js';
import { parseRoom } from '../parse.js';
import { HELP } from '../chat/ui.js';

interface ChatFlags extends AgentFlags {
  room: string;
  logFile?: string;
}

/**
 * How quickly chat retries a lost hub at first (the agent's default is 2 s): another chat on the
 * machine usually hosts it again within a second, and waiting longer only delays the room.
 */
const CHAT_RECONNECT_INTERVAL_MS = 500;

/** Where chat writes logs when asked for them: `$XDG_STATE_HOME/rtc-agent/chat.log`. */
export function defaultChatLogFile(env: NodeJS.ProcessEnv = process.env): string {
  const state = env.XDG_STATE_HOME?.trim() || join(homedir(), '.local', 'state');
  return join(state, 'rtc-agent', 'chat.log');
}

export function makeChatCommand(ctx: CliContext): Command {
  const cmd = new Command('chat')
    .argument(...ROOM_URI_ARGUMENT)
    .option('--room <room>', 'room to join', parseRoom)
    .addOption(new Option('--log-file <file>', `where --log-level writes logs (default ${defaultChatLogFile()}); never the chat screen`))
    .addHelpText(
      'after',
      `
Two terminals on one machine, nothing else to set up:
  rtc-agent chat --room lobby --name alice
  rtc-agent chat --room lobby --name bob
Or by room URI: rtc-agent chat webrtc://127.0.0.1:8080/lobby?name=alice

Files peers offer are asked about (/accept, /reject) unless --accept-files or --no-accept-files.
Ctrl-C, Ctrl-D and /quit leave the room and exit 0.

`,
    );
  addAgentFlags(cmd);
  cmd.addHelpText('after', HELP);
  return cmd.action(async (uri: string | undefined, flags: ChatFlags) => {
    flags.room = requireRoom(takeRoomUri(flags, uri, flags.room));
    const { resolveCliSettings, startAgent } = await import('../start-agent.js');
    const { ChatHost, isHostableUrl } = await import('../chat/hosting.js');
    const { FileOffers } = await import('../chat/file-offers.js');
    const { runChat } = await import('../chat/ui.js');
    const resolved = await resolveCliSettings(flags, { defaults: { reconnectIntervalMs: CHAT_RECONNECT_INTERVAL_MS } });
    const { logger, logFile } = await chatLogger(resolved, flags);
    const intro: string[] = logFile === undefined ? [] : [`* logs (${resolved.settings.logLevel}) go to ${logFile}`];
    const print = (line: string): void => void ctx.stdout.write(`${line}\n`);

    // Files: asked about one by one, unless --accept-files / --no-accept-files (or the env variable,
    // or the config file) decided for all of them. --download-dir only says where they go.
    const source = resolved.sources.acceptFiles;
    const ask = flags.acceptFiles === undefined && source !== 'env' && source !== 'file';
    let offers: InstanceType<typeof FileOffers> | undefined;
    const acceptFile = ask ? (offer: Parameters<InstanceType<typeof FileOffers>['ask']>[0]) => offers!.ask(offer) : undefined;
    if (ask) resolved.settings.acceptFiles = true;

    const hubUrl = resolved.settings.hubUrl.length === 1 ? resolved.settings.hubUrl[0]! : undefined;
    const host = hubUrl !== undefined && isHostableUrl(hubUrl) ? new ChatHost(hubUrl, logger) : undefined;
    const connect = (): Promise<Agent> => startAgent(ctx, flags, { resolved, logger, ...(acceptFile ? { acceptFile } : {}) });
    let agent: Agent;
    try {
      try {
        agent = await connect();
      } catch (err) {
        if (!host || !isRtcAgentError(err, ErrorCode.HUB_UNREACHABLE) || !isRefused(err)) throw err;
        // Nothing answers there: host it (unless another chat just did), then connect to it.
        if (await host.tryHost()) intro.push(`* no hub answered at ${hubUrl}; hosting one here (other chats on this machine will use it)`);
        agent = await connect();
      }
    } catch (err) {
      await host?.close();
      throw err;
    }
    // Until the chat screen is up, lines go straight out; then above its prompt.
    let say = print;
    offers = ask ? new FileOffers((line) => say(line)) : undefined;
    host?.watch(
      agent,
      () => say(`* the hub's host left; hosting it here now at ${hubUrl} (the other chats reconnect to it)`),
      (err) => say(`! could not host the hub at ${hubUrl}: ${err.message}`),
    );
    try {
      await runChat(ctx, { agent, room: flags.room, host, offers, intro, printer: (p) => (say = p) });
    } finally {
      await agent.close();
      await host?.close();
      process.stdin.destroy();
    }
  });
}

/** "Nothing is listening there" (as opposed to a hub that answers and refuses, or a timeout). */
function isRefused(err: unknown): boolean {
  return /nothing is listening|ECONNREFUSED|fetch failed/.test((err as Error).message);
}

/** Silent unless logs were asked for (--log-level, RTC_AGENT_LOG_LEVEL, the config file); then to a file. */
async function chatLogger(resolved: ResolvedSettings, flags: ChatFlags): Promise<{ logger: Logger; logFile?: string }> {
  const { createLogger, silentLogger } = await import('../../log/logger.js');
  if (resolved.sources.logLevel === 'default' && flags.logFile === undefined) return { logger: silentLogger() };
  const logFile = flags.logFile ?? defaultChatLogFile();
  mkdirSync(dirname(logFile), { recursive: true, mode: 0o700 });
  const fd = openSync(logFile, 'a', 0o600);
  const level = resolved.sources.logLevel === 'default' ? 'info' : resolved.settings.logLevel;
  return { logger: createLogger({ level, fd, pretty: false }), logFile };
}
