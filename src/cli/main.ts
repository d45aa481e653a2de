/**
 * The CLI's composition root: builds the commander program, runs it, maps failures to exit codes.
 * Commands stay thin over the programmatic API; none calls process.exit() on the normal path.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { RtcAgentError } from '../errors.js';
import { createCliContext, type CliContext } from './context.js';
import { ExitCode, exitCodeForError } from './exit-codes.js';
import { makeHubCommand } from './commands/hub.js';
import { makeChatCommand } from './commands/chat.js';
import { makePipeCommand } from './commands/pipe.js';
import { makeDaemonCommand } from './commands/daemon.js';
import { makeSendCommand } from './commands/send.js';
import { makePeersCommand } from './commands/peers.js';
import { makeStatusCommand } from './commands/status.js';
import { makeEventsCommand } from './commands/events.js';
import { makeStopCommand } from './commands/stop.js';
import { makeSmokeCommand } from './commands/smoke.js';
import { makeDoctorCommand } from './commands/doctor.js';
import { makeSendFileCommand } from './commands/send-file.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function buildProgram(ctx: CliContext): Command {
  const program = new Command('rtc-agent')
    .description('Headless WebRTC agent: rooms over a SignalR hub, native DataChannels, relay fallback')
    .version(version())
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.stdout.write(s),
      writeErr: (s) => ctx.stderr.write(s),
    });
  program.addCommand(makeHubCommand(ctx));
  program.addCommand(makeChatCommand(ctx));
  program.addCommand(makePipeCommand(ctx));
  program.addCommand(makeDaemonCommand(ctx));
  program.addCommand(makeSendCommand(ctx));
  program.addCommand(makePeersCommand(ctx));
  program.addCommand(makeStatusCommand(ctx));
  program.addCommand(makeEventsCommand(ctx));
  program.addCommand(makeStopCommand(ctx));
  program.addCommand(makeSmokeCommand(ctx));
  program.addCommand(makeDoctorCommand(ctx));
  program.addCommand(makeSendFileCommand(ctx));
  for (const cmd of program.commands) cmd.exitOverride();
  return program;
}

export async function main(argv: string[] = process.argv): Promise<void> {
  const ctx = createCliContext();
  const program = buildProgram(ctx);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    process.exitCode = exitCodeFor(err, ctx);
  }
}

function exitCodeFor(err: unknown, ctx: CliContext): number {
  if (err instanceof CommanderError) {
    // --help and --version end through here too, with exitCode 0.
    return err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
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
