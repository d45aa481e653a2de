/** `rtc-agent stop`: asks the running daemon to shut down and waits until it has. */
import { Command } from 'commander';
import { ErrorCode, RtcAgentError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { addClientFlags, call, describeAddress, open, resolveAddress, runClient, DaemonNotRunningError, type ClientFlags } from '../daemon-client.js';
import { parsePositiveInt } from '../parse.js';

/** How long `stop` waits for the daemon to be gone (it leaves rooms and flushes first). */
export const DEFAULT_STOP_WAIT_MS = 15_000;
/** How often `stop` checks whether the daemon is still listening. */
const STOP_POLL_MS = 100;

interface StopFlags extends ClientFlags {
  timeout: number;
}

export function makeStopCommand(ctx: CliContext): Command {
  const cmd = new Command('stop')
    .option('--timeout <ms>', 'how long to wait for it to stop', parsePositiveInt, DEFAULT_STOP_WAIT_MS);
  addClientFlags(cmd).action(async (flags: StopFlags) =>
    runClient(ctx, async () => {
      const address = await resolveAddress(cmd, flags);
      await call(address, 'POST', '/stop');
      // The daemon answers first, then closes; it is gone when nothing accepts connections.
      const deadline = Date.now() + flags.timeout;
      for (;;) {
        try {
          const res = await open(address, 'GET', '/status', undefined, { timeoutMs: STOP_POLL_MS * 10 });
          res.resume();
        } catch (err) {
          if (err instanceof DaemonNotRunningError) break;
          if (!(err instanceof RtcAgentError)) break; // reset while closing: gone too
        }
        if (Date.now() > deadline) throw new RtcAgentError(ErrorCode.TIMEOUT, `the daemon at ${describeAddress(address)} did not stop within ${flags.timeout} ms`);
        await new Promise((r) => setTimeout(r, STOP_POLL_MS));
      }
      ctx.stderr.write(`rtc-agent: daemon at ${describeAddress(address)} stopped\n`);
    }),
  );
  return cmd;
}
