/** The examples: a bash + curl echo bot and a Node echo bot talk through the daemon. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useHub } from '../helpers/hub.js';
import { inbox, useAgent } from '../helpers/agents.js';
import { ROOT, childEnv, eventually, http, spawnProc, startDaemonProc, within } from './helpers.js';

const curl = spawnSync('curl', ['--version'], { encoding: 'utf8' });
const hasCurl = curl.status === 0;
if (!hasCurl) console.warn(`skipping the bash echo bot: curl is not available (${curl.error?.message ?? curl.stderr})`);

/** Texts that stress the bash bot's JSON handling: quotes, backslashes, a newline, unicode. */
const TEXTS = ['hello', 'say "hi" \\ back', 'two\nlines', 'ünïcødé ✓ 🚀', '{"looks":"like json"}'];

async function talkToBot(hubUrl: string, socket: string, daemonExit: Promise<number | null>, bot: ReturnType<typeof spawnProc>): Promise<void> {
  // The bot is ready once it holds the event stream open.
  await eventually(async () => ((await http(socket, 'GET', '/status')).body.eventClients >= 1 ? true : undefined), 10_000, 'the bot to attach');
  const bob = await useAgent(hubUrl, { name: 'bob' });
  const got = inbox(bob);
  const room = await bob.join('r');
  for (const text of TEXTS) await room.send(text);
  await room.send({ kind: 'json' }); // not text: ignored
  await room.send('echo: not echoed again');
  const replies = await got.waitFor(TEXTS.length, 15_000);
  expect(replies.map((m) => m.text)).toEqual(TEXTS.map((t) => `echo: ${t}`));
  expect(replies.every((m) => m.name === 'daemon' && m.room === 'r')).toBe(true);
  // Stopping the daemon ends the stream; the bot exits 0 on its own.
  expect((await http(socket, 'POST', '/stop')).status).toBe(202);
  expect(await within(daemonExit, 10_000, 'daemon exit')).toBe(0);
  expect(await within(bot.exit, 10_000, 'bot exit')).toBe(0);
  expect(got.messages).toHaveLength(TEXTS.length); // nothing for the JSON message or the echo
}

describe('examples/', () => {
  it.skipIf(!hasCurl)('echo-bot.sh (bash + curl, no jq) answers through the daemon', async () => {
    const hub = await useHub();
    const d = await startDaemonProc(hub.url, ['--room', 'r']);
    const bot = spawnProc('bash', [join(ROOT, 'examples/echo-bot.sh'), d.socket], childEnv());
    await talkToBot(hub.url, d.socket, d.exit, bot);
    expect(bot.stderr()).toBe('');
  });

  it('echo-bot.mjs answers through the daemon', async () => {
    const hub = await useHub();
    const d = await startDaemonProc(hub.url, ['--room', 'r']);
    const bot = spawnProc(process.execPath, [join(ROOT, 'examples/echo-bot.mjs')], childEnv({ RTC_AGENT_DAEMON_SOCKET: d.socket }));
    await talkToBot(hub.url, d.socket, d.exit, bot);
    expect(bot.stderr()).toBe('');
  });
});
