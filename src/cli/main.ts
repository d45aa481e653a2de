/**
 * The CLI's composition root: builds the commander program, runs it, maps failures to exit codes.
 * Commands stay thin over the programmatic API; none calls process.exit() on the normal path.
 *
 * Only the command being run is loaded (and it imports the agent, the hub, SignalR or pino only
 * once it gets past its local checks): the others appear in `--help` by name and summary. So
 * `--help`, `-v` and a bad argument answer at once instead of after loading everything.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { RtcAgentError } from '../errors.js';
import { createCliContext, type CliContext } from './context.js';
import { CommandFailed, ExitCode, exitCodeForError } from './exit-codes.js';

type CommandFactory = (ctx: CliContext, program: Command) => Command;

interface CommandEntry {
  name: string;
  /** The one-line description, shown in `rtc-agent --help` and as the command's own. */
  summary: string;
  load: () => Promise<CommandFactory>;
}

/** Every command, in `--help` order. */
export const COMMANDS: readonly CommandEntry[] = [
  { name: 'hub', summary: 'run the signaling hub (SignalR protocol); prints its URL as the first line on stdout', load: async () => (await import('./commands/hub.js')).makeHubCommand },
  { name: 'chat', summary: 'interactive chat in a room; with no hub running on this machine it hosts one', load: async () => (await import('./commands/chat.js')).makeChatCommand },
  { name: 'pipe', summary: 'send each stdin line to a room; print what the room says on stdout (for scripts and bots)', load: async () => (await import('./commands/pipe.js')).makePipeCommand },
  { name: 'daemon', summary: 'run an agent in the background with a local control API (HTTP on a unix socket or loopback); prints the socket path first', load: async () => (await import('./commands/daemon.js')).makeDaemonCommand },
  { name: 'send', summary: 'send a message through the running daemon (the text from the arguments, else from stdin)', load: async () => (await import('./commands/send.js')).makeSendCommand },
  { name: 'peers', summary: "list the running daemon's peers: id, name, path (p2p/relay), RTT, native", load: async () => (await import('./commands/peers.js')).makePeersCommand },
  { name: 'status', summary: "show the running daemon's status", load: async () => (await import('./commands/status.js')).makeStatusCommand },
  { name: 'events', summary: "follow the running daemon's events (messages, peers, paths, files); exits when it stops", load: async () => (await import('./commands/events.js')).makeEventsCommand },
  { name: 'stop', summary: 'stop the running daemon gracefully (it leaves its rooms) and wait until it is gone', load: async () => (await import('./commands/stop.js')).makeStopCommand },
  { name: 'smoke', summary: 'end-to-end check for CI: N agent processes join a room; every pair must connect and deliver messages both ways', load: async () => (await import('./commands/smoke.js')).makeSmokeCommand },
  { name: 'doctor', summary: 'check the native binding, the hub, and the STUN/TURN servers from the settings', load: async () => (await import('./commands/doctor.js')).makeDoctorCommand },
  { name: 'send-file', summary: 'send a file to a room (or one peer): chunked, SHA-256 verified by every receiver', load: async () => (await import('./commands/send-file.js')).makeSendFileCommand },
  { name: 'token', summary: 'mint an HS256 access token for a hub started with --jwt-secret', load: async () => (await import('./commands/token.js')).makeTokenCommand },
  { name: 'config', summary: 'show the effective agent settings and where each came from (secrets hidden)', load: async () => (await import('./commands/config.js')).makeConfigCommand },
  { name: 'completion', summary: 'print a shell completion script: rtc-agent completion bash|zsh|fish', load: async () => (await import('./commands/completion.js')).makeCompletionCommand },
];

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** The command named on the command line (`rtc-agent X …` or `rtc-agent help X`), if any. */
function requestedCommand(args: string[]): string | undefined {
  const [first, second] = args;
  return first === 'help' ? second : first;
}

/**
 * Builds the program. `load` names the commands to build in full (all of them for completion
 * scripts); the rest are placeholders with their summary, enough for the top-level help.
 */
export async function buildProgram(ctx: CliContext, load: ReadonlySet<string> | 'all'): Promise<Command> {
  const program = new Command('rtc-agent')
    .description('Headless WebRTC agent: rooms over a SignalR hub, native DataChannels, relay fallback')
    .version(version(), '-v, --version', 'print the version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.stdout.write(s),
      writeErr: (s) => ctx.stderr.write(s),
    });
  for (const entry of COMMANDS) {
    const full = load === 'all' || load.has(entry.name);
    const cmd = full ? (await entry.load())(ctx, program) : new Command(entry.name);
    program.addCommand(cmd.description(entry.summary).exitOverride());
  }
  return program;
}

export async function main(argv: string[] = process.argv): Promise<void> {
  const ctx = createCliContext();
  try {
    const name = requestedCommand(argv.slice(2));
    const program = await buildProgram(ctx, name === 'completion' ? 'all' : new Set(name === undefined ? [] : [name]));
    await program.parseAsync(argv);
  } catch (err) {
    process.exitCode = exitCodeFor(err, ctx);
    // A failed command has said why; it must also end. A library socket may outlive it (the SignalR
    // client does not abort a negotiate fetch it gave up on), so it gets a moment, then the exit.
    setTimeout(() => process.exit(), DEFAULT_EXIT_GRACE_MS).unref();
  }
}

/** After a command failed, how long lingering handles may keep the process before it exits anyway. */
const DEFAULT_EXIT_GRACE_MS = 1_000;

function exitCodeFor(err: unknown, ctx: CliContext): number {
  if (err instanceof CommanderError) {
    // --help and --version end through here too, with exitCode 0.
    return err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
  }
  if (err instanceof CommandFailed) {
    ctx.stderr.write(`rtc-agent: ${err.message}\n`);
    return err.exitCode;
  }
  if (err instanceof RtcAgentError) {
    ctx.stderr.write(`rtc-agent: ${err.code}: ${err.message}\n`);
    return exitCodeForError(err);
  }
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'EADDRINUSE') {
    ctx.stderr.write(`rtc-agent: ${e.message} (is another hub running? try --port 0)\n`);
    return ExitCode.FAILURE;
  }
  ctx.stderr.write(`rtc-agent: ${e?.stack ?? String(err)}\n`);
  return ExitCode.FAILURE;
}
