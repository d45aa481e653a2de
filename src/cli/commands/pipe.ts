/**
 * `rtc-agent pipe`: each stdin line to a room, what the room says to stdout. Exits 0 only when every
 * line was acknowledged by the peers it went to and nobody refused one (7: not acknowledged, 9:
 * refused; one line on stderr says who and why). Files are refused unless --accept-files or
 * --download-dir asks for them.
 */
import { createInterface } from 'node:readline';
import { Command } from 'commander';
import type { Agent, ReceivedMessage } from '../../agent/index.js';
import { ROOM_URI_ARGUMENT, addAgentFlags, requireRoom, takeRoomUri, type AgentFlags } from '../agent-flags.js';
import type { CliContext, StopReason } from '../context.js';
import { CommandFailed, ExitCode, stopExitCode } from '../exit-codes.js';
import { parsePositiveInt, parseRoom } from '../parse.js';
import { DEFAULT_WAIT_PEERS_MS } from '../wait-peers.js';

interface PipeFlags extends AgentFlags {
  room: string;
  json?: boolean;
  waitPeers?: number;
  waitTimeout?: number;
  keepOpen?: boolean;
}

/** On EOF, how long pipe waits for peers to acknowledge what it sent before leaving. */
const DEFAULT_EOF_FLUSH_MS = 10_000;

/** The events `--json` prints; file-progress is left out (a line per 64 KiB of every transfer). */
const JSON_EVENTS = ['message', 'peer-joined', 'peer-left', 'path-changed', 'delivery-refused', 'file-offer', 'file-received', 'file-failed', 'error', 'hub'] as const;

export function makePipeCommand(ctx: CliContext): Command {
  const cmd = new Command('pipe')
    .argument(...ROOM_URI_ARGUMENT)
    .option('--room <room>', 'room to join', parseRoom)
    .option('--json', 'print every event as one JSON object per line (docs/events.md): messages, peers, paths, files, refusals')
    .option('--wait-peers <n>', 'wait for this many peers before sending the first line', parsePositiveInt)
    .option('--wait-timeout <ms>', `how long --wait-peers waits (default ${DEFAULT_WAIT_PEERS_MS})`, parsePositiveInt)
    .option('--keep-open', 'keep receiving after stdin ends (until SIGINT/SIGTERM, which then exit 0)')
    .addHelpText(
      'after',
      `
Examples:
  echo "deploy finished" | rtc-agent pipe --room ops --wait-peers 1
  rtc-agent pipe --room ops --json --keep-open < /dev/null | jq .

Output lines: "name: text" (binary messages as "name: [N bytes]"), or with --json the events of
docs/events.md, e.g. {"type":"message","ts":…,"room","from","name","kind","text","data",…}.
Files peers send are refused unless --accept-files or --download-dir is given.
Exit code 0 means every line was acknowledged by the peers it went to; 7 not acknowledged in time
(or nobody there), 9 refused by a peer (stderr says who and why), 5 --wait-peers timed out.`,
    );
  addAgentFlags(cmd);
  return cmd.action(async (uri: string | undefined, flags: PipeFlags) => {
    flags.room = requireRoom(takeRoomUri(flags, uri, flags.room));
    const stop = ctx.untilSignal();
    const abort = new AbortController();
    void stop.then((reason) => abort.abort(reason));
    // With --keep-open a signal is the way to stop; without, it interrupts the job (128+n).
    const stoppedByUs = (): boolean => abort.signal.aborted;
    const { startAgent } = await import('../start-agent.js');
    let agent: Agent;
    try {
      // Errors only: a refusal or a loss is the one verdict line on stderr (--log-level shows more).
      agent = await startAgent(ctx, flags, { defaults: { logLevel: 'error' }, signal: abort.signal });
    } catch (err) {
      if (!stoppedByUs()) throw err;
      process.exitCode = flags.keepOpen ? ExitCode.OK : stopExitCode(abort.signal.reason as StopReason);
      return;
    }
    try {
      await runPipe(ctx, agent, flags, abort.signal, stop);
    } catch (err) {
      // The verdict (7, 9) stands even when a signal came after it; anything else a signal caused is the stop.
      if (!stoppedByUs() || err instanceof CommandFailed) throw err;
    } finally {
      await agent.close({ flushMs: 0 });
    }
    if (stoppedByUs() && !flags.keepOpen) process.exitCode = stopExitCode(abort.signal.reason as StopReason);
  });
}

async function runPipe(ctx: CliContext, agent: Agent, flags: PipeFlags, signal: AbortSignal, stop: Promise<unknown>): Promise<void> {
  const out = (line: string): void => {
    ctx.stdout.write(`${line}\n`);
  };
  if (flags.json === true) {
    const { eventJson } = await import('../../agent/event-json.js');
    for (const type of JSON_EVENTS) agent.on(type as 'message', (payload: unknown) => out(JSON.stringify(eventJson(type, payload as never))));
  } else {
    agent.on('message', (m) => out(plainLine(m)));
  }
  const room = await agent.join(flags.room);
  if (flags.waitPeers !== undefined) {
    const { waitForPeers } = await import('../wait-peers.js');
    await waitForPeers(room, flags.waitPeers, { timeoutMs: flags.waitTimeout ?? DEFAULT_WAIT_PEERS_MS, stderr: ctx.stderr, signal });
  }
  const { DeliveryWatch, describeVerdict } = await import('../../daemon/delivery.js');
  const watch = new DeliveryWatch(room);
  // SIGINT/SIGTERM stop reading; what was read is still delivered (or the verdict says why not).
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  void stop.then(() => lines.close());
  try {
    // Lines are sent one after another, so order is kept and send() backpressure slows stdin.
    for await (const line of lines) {
      watch.beforeSend();
      await room.send(line);
    }
  } finally {
    process.stdin.destroy();
  }
  const verdict = await watch.settle(DEFAULT_EOF_FLUSH_MS);
  if (flags.keepOpen) await stop;
  const why = describeVerdict(verdict, room.name, 'line(s)');
  if (why !== undefined) throw new CommandFailed(verdict.refused.length > 0 ? ExitCode.REFUSED : ExitCode.DELIVERY_LOSS, why);
}

function plainLine(m: ReceivedMessage): string {
  // Names are sanitised by the hub; text is printed as sent (this is a data pipe, not a terminal UI).
  return `${m.name}: ${m.text ?? `[${(m.data as Uint8Array).length} bytes]`}`;
}
