import { createInterface } from 'node:readline';
import { Command } from 'commander';
import type { Agent, ReceivedMessage } from '../../agent/index.js';
import { ErrorCode, RtcAgentError } from '../../errors.js';
import { addAgentFlags, startAgent, type AgentFlags } from '../agent-flags.js';
import type { CliContext } from '../context.js';
import { parsePositiveInt } from '../parse.js';

interface PipeFlags extends AgentFlags {
  room: string;
  json?: boolean;
  waitPeers?: number;
  waitTimeout?: number;
  keepOpen?: boolean;
}

/** How long pipe waits for --wait-peers by default. */
const DEFAULT_WAIT_PEERS_MS = 30_000;
/** On EOF, how long pipe waits for peers to acknowledge what it sent before leaving. */
const DEFAULT_EOF_FLUSH_MS = 10_000;

export function makePipeCommand(ctx: CliContext): Command {
  const cmd = new Command('pipe')
    .description('send each stdin line to a room; print what the room says on stdout (for scripts and bots)')
    .requiredOption('--room <room>', 'room to join')
    .option('--json', 'print one JSON object per line (message, peer-joined, peer-left, path-changed)')
    .option('--wait-peers <n>', 'wait for this many peers before sending the first line', parsePositiveInt)
    .option('--wait-timeout <ms>', `how long --wait-peers waits (default ${DEFAULT_WAIT_PEERS_MS})`, parsePositiveInt)
    .option('--keep-open', 'keep receiving after stdin ends (until SIGINT/SIGTERM)')
    .addHelpText(
      'after',
      `
Examples:
  echo "deploy finished" | rtc-agent pipe --room ops --wait-peers 1
  rtc-agent pipe --room ops --json --keep-open < /dev/null | jq .

Output lines: "name: text" (binary messages as "name: [N bytes]"), or with --json
{"type":"message","room","from","name","text"|"data"(base64),"path","encrypted","reliable","ts"}.`,
    );
  addAgentFlags(cmd);
  return cmd.action(async (flags: PipeFlags) => {
    const agent = await startAgent(ctx, flags, { defaults: { logLevel: 'warn' } });
    try {
      await runPipe(ctx, agent, flags);
    } finally {
      await agent.close({ flushMs: DEFAULT_EOF_FLUSH_MS });
    }
  });
}

async function runPipe(ctx: CliContext, agent: Agent, flags: PipeFlags): Promise<void> {
  const out = (line: string): void => {
    ctx.stdout.write(`${line}\n`);
  };
  const json = flags.json === true;
  agent.on('message', (m) => out(json ? JSON.stringify(messageJson(m)) : plainLine(m)));
  if (json) {
    agent.on('peer-joined', (p) => out(JSON.stringify({ type: 'peer-joined', room: p.room, from: p.peerId, name: p.name, path: p.path, ts: Date.now() })));
    agent.on('peer-left', (p) => out(JSON.stringify({ type: 'peer-left', room: p.room, from: p.peerId, name: p.name, reason: p.reason, ts: Date.now() })));
    agent.on('path-changed', (c) =>
      out(JSON.stringify({ type: 'path-changed', room: c.room, from: c.peerId, name: c.name, path: c.to, previous: c.from, reason: c.reason, ts: Date.now() })),
    );
  }
  const room = await agent.join(flags.room);
  if (flags.waitPeers !== undefined) await waitForPeers(agent, flags.room, flags.waitPeers, flags.waitTimeout ?? DEFAULT_WAIT_PEERS_MS);

  // SIGINT/SIGTERM end the pipe gracefully at any point: stop reading, then flush and leave.
  const signalled = ctx.untilSignal();
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  void signalled.then(() => lines.close());
  // Lines are sent one after another, so order is kept and send() backpressure slows stdin.
  for await (const line of lines) {
    await room.send(line);
  }
  if (flags.keepOpen) await signalled;
  process.stdin.destroy();
}

function messageJson(m: ReceivedMessage): Record<string, unknown> {
  const base: Record<string, unknown> = { type: 'message', room: m.room, from: m.from, name: m.name };
  if (m.text !== undefined) base.text = m.text;
  else base.data = Buffer.from(m.data as Uint8Array).toString('base64');
  return { ...base, kind: m.kind, path: m.path, encrypted: m.encrypted, reliable: m.reliable, id: m.id, ts: m.timestamp };
}

function plainLine(m: ReceivedMessage): string {
  // Names are sanitised by the hub; text is printed as sent (this is a data pipe, not a terminal UI).
  return `${m.name}: ${m.text ?? `[${(m.data as Uint8Array).length} bytes]`}`;
}

function waitForPeers(agent: Agent, room: string, count: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => (agent.room(room)?.peers().length ?? 0) >= count;
    if (check()) {
      resolve();
      return;
    }
    const timer = setTimeout(() => {
      agent.off('peer-joined', onJoin);
      reject(new RtcAgentError(ErrorCode.SEND_TIMEOUT, `only ${agent.room(room)?.peers().length ?? 0} of ${count} peers joined '${room}' within ${timeoutMs} ms`));
    }, timeoutMs);
    const onJoin = (): void => {
      if (!check()) return;
      clearTimeout(timer);
      agent.off('peer-joined', onJoin);
      resolve();
    };
    agent.on('peer-joined', onJoin);
  });
}
