/** `rtc-agent send`: sends text, JSON or base64 bytes through a running daemon. */
import { Command } from 'commander';
import { ErrorCode, RtcAgentError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { addClientFlags, call, resolveAddress, runClient, type ClientFlags } from '../daemon-client.js';

interface SendFlags extends ClientFlags {
  room?: string;
  to?: string;
  json?: boolean;
  base64?: boolean;
  unreliable?: boolean;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function makeSendCommand(ctx: CliContext): Command {
  const cmd = new Command('send')
    .description('send a message through the running daemon (the text from the arguments, else from stdin)')
    .argument('[text...]', 'the message; joined with spaces. Read from stdin when absent')
    .option('--room <room>', 'room to send in (default: the daemon\'s first room)')
    .option('--to <peer>', 'peer id to send to (default: everyone; see rtc-agent peers)')
    .option('--json', 'the text is JSON: send it as a JSON message')
    .option('--base64', 'the text is base64: send the decoded bytes as a binary message')
    .option('--unreliable', 'unordered, no retransmits');
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
      if (flags.json) {
        try {
          body.json = JSON.parse(text);
        } catch (err) {
          throw new RtcAgentError(ErrorCode.CONFIG, `--json: the text is not valid JSON (${(err as Error).message.replace(/,\s*".*is not valid JSON$/s, '')})`);
        }
      } else if (flags.base64) body.base64 = text.replace(/\s+/g, '');
      else body.text = text;
      const address = await resolveAddress(cmd, flags);
      await call(address, 'POST', '/send', body);
    }),
  );
  return cmd;
}
