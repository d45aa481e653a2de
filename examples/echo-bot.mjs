#!/usr/bin/env node
// Echo bot over a running `rtc-agent daemon`: reads its event stream, answers every text message
// with "echo: <text>" to the sender. Plain node:http over the daemon's unix socket; no packages.
//   node examples/echo-bot.mjs [SOCKET]   (default: $RTC_AGENT_DAEMON_SOCKET, else the daemon's default)
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

const socketPath = process.argv[2] ?? process.env.RTC_AGENT_DAEMON_SOCKET ??
  (process.env.XDG_RUNTIME_DIR ? path.join(process.env.XDG_RUNTIME_DIR, 'rtc-agent', 'daemon.sock') : path.join(os.tmpdir(), `rtc-agent-${process.getuid()}`, 'daemon.sock'));

const send = (body) => new Promise((resolve, reject) => {
  const req = http.request({ socketPath, path: '/send', method: 'POST', headers: { 'Content-Type': 'application/json' } }, (res) => res.resume().on('end', resolve));
  req.on('error', reject).end(JSON.stringify(body));
});

http.get({ socketPath, path: '/events?type=message' }, async (res) => {
  for await (const line of readline.createInterface({ input: res })) {
    const e = JSON.parse(line);
    if (e.type !== 'message' || e.kind !== 'text' || e.text.startsWith('echo: ')) continue; // don't echo echoes
    await send({ room: e.room, to: e.from, text: `echo: ${e.text}` });
  }
}).on('error', (err) => { console.error(`echo-bot: ${err.message}`); process.exitCode = 1; });
