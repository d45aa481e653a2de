/**
 * `rtc-agent send`: sends text, JSON or base64 bytes through a running daemon, and waits until the
 * peers acknowledged it: exit 0 delivered, 9 refused, 7 not acknowledged in time (or nobody there),
 * one line on stderr saying who and why.
 */
import { Command } from 'commander';
import type { DeliveryVerdict } from '../../daemon/delivery.js';
import { ErrorCode, RtcAgentError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { addClientFlags, call, resolveAddress, runClient, type ClientFlags } from '../daemon-client.js';
import { CommandFailed, ExitCode } from '../exit-codes.js';
import { parsePositiveInt, parseRoom } from '../parse.js';

/** How long `send` waits for acknowledgements by default. */
const DEFAULT_ACK_TIMEOUT_MS = 10_000;

interface SendFlags extends ClientFlags {
  room?: string;
  to?: string;
  json?: boolean;
  base64?: boolean;
  unreliable?: boolean;
  ack: boolean;
  ackTimeout?: number;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function makeSendCommand(ctx: CliContext): Command {
  const cmd = new Command('send')
    .argument('[text...]', 'the message; joined with spaces. Read from stdin when absent')
    .option('--room <room>', 'room to send in (default: the daemon\'s first room)', parseRoom)
    .option('--to <peer>', 'peer id to send to (default: everyone; see rtc-agent peers)')
    .option('--json', 'the text is JSON: send it as a JSON message')
    .option('--base64', 'the text is base64: send the decoded bytes as a binary message')
    .option('--unreliable', 'unordered, no retransmits (nothing is acknowledged: exit 0 once sent)')
    .option('--no-ack', 'exit once the daemon accepted the message, without waiting for acknowledgements')
    .option('--ack-timeout <ms>', `how long to wait for acknowledgements (default ${DEFAULT_ACK_TIMEOUT_MS})`, parsePositiveInt)
    .addHelpText('after', '\nExit code 0 means the peers acknowledged it; 9 a peer refused it, 7 not acknowledged in time or nobody there.');
  addClientFlags(cmd).action(async (words: string[], flags: SendFlags) =>
    runClient(ctx, async () => {
      if (flags.json && flags.base64) throw new RtcAgentError(ErrorCode.CONFIG, 'give either --json or --base64, not both');
      let text: string;
      if (words.length > 0) text = words.join(' ');
      else if (process.stdin.isTTY) throw new RtcAgentError(ErrorCode.CONFIG, 'nothing to send: give the text as arguments or pipe it on stdin');
      else text = (await readStdin()).replace(/\r?\n$/, '');
      const body: Record<string, unknown> = {};
      if (flags.room !== undefined) body.room = flags.room;
      if (flags.to !== undefined) body.to = flags.to;
      if (flags.unreliable) body.reliable = false;
      const ack = flags.ack && !flags.unreliable;
      if (ack) {
        body.ack = true;
        body.ackTimeoutMs = flags.ackTimeout ?? DEFAULT_ACK_TIMEOUT_MS;
      }
      if (flags.json) {
        try {
          body.json = JSON.parse(text);
        } catch (err) {
          throw new RtcAgentError(ErrorCode.CONFIG, `--json: the text is not valid JSON (${(err as Error).message.replace(/,\s*".*is not valid JSON$/s, '')})`);
        }
      } else if (flags.base64) body.base64 = text.replace(/\s+/g, '');
      else body.text = text;
      const address = await resolveAddress(cmd, flags);
      const timeoutMs = ack ? (flags.ackTimeout ?? DEFAULT_ACK_TIMEOUT_MS) + DEFAULT_ACK_TIMEOUT_MS : undefined;
      const reply = (await call(address, 'POST', '/send', body, timeoutMs)) as { room: string } & Partial<DeliveryVerdict>;
      if (ack) failIfNotDelivered(reply);
    }),
  );
  return cmd;
}

function failIfNotDelivered(reply: { room: string } & Partial<DeliveryVerdict>): void {
  if (reply.delivered !== false) return;
  const parts = (reply.refused ?? []).map((r) => `${r.reason} (${r.code})`);
  if ((reply.unacknowledged ?? []).length > 0) parts.push(`not acknowledged by ${reply.unacknowledged!.map((p) => p.name).join(', ')} in time`);
  if (parts.length === 0) parts.push(`nobody was in '${reply.room}' to receive it`);
  throw new CommandFailed((reply.refused ?? []).length > 0 ? ExitCode.REFUSED : ExitCode.DELIVERY_LOSS, `not delivered: ${parts.join('; ')}`);
}
