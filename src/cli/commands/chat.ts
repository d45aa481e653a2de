import { createInterface, type Interface } from 'node:readline';
import { Command } from 'commander';
import type { Agent, PeerInfo, ReceivedMessage, Room } from '../../agent/index.js';
import { defaultSettings, loadSettings } from '../../config/agent-settings.js';
import { ErrorCode, isRtcAgentError } from '../../errors.js';
import { startHub, type Hub } from '../../hub/server.js';
import { addAgentFlags, startAgent, settingsFromFlags, type AgentFlags } from '../agent-flags.js';
import type { CliContext } from '../context.js';
import { cleanForTerminal, formatBytes, formatPeersTable, formatTime, progressBar } from '../terminal.js';

interface ChatFlags extends AgentFlags {
  room: string;
}

const HELP = `commands:
  /peers              who is here: id, name, path (p2p/relay), RTT, fingerprint
  /msg <peer> <text>  private message (peer by name or id prefix)
  /file <path>        send a file to everyone (/file <path> <peer> for one)
  /verify <peer>      show both fingerprints to compare out of band (E2EE)
  /quit               leave (Ctrl-D works too)
  /help               this list`;

export function makeChatCommand(ctx: CliContext): Command {
  const cmd = new Command('chat')
    .description('interactive chat in a room; with no hub running on this machine it hosts one')
    .requiredOption('--room <room>', 'room to join')
    .addHelpText(
      'after',
      `
Two terminals on one machine, nothing else to set up:
  rtc-agent chat --room lobby --name alice
  rtc-agent chat --room lobby --name bob

${HELP}`,
    );
  addAgentFlags(cmd);
  return cmd.action(async (flags: ChatFlags) => {
    let hosted: Hub | undefined;
    const say = (line: string): void => {
      ctx.stdout.write(`${line}\n`);
    };
    const connect = async (): Promise<Agent> => startAgent(ctx, flags, { defaults: { logLevel: 'warn' } });
    let agent: Agent;
    try {
      agent = await connect();
    } catch (err) {
      const hubUrl = (await resolveHubUrl(flags)) ?? '';
      if (!isRtcAgentError(err, ErrorCode.HUB_UNREACHABLE) || !isLocalHttp(hubUrl)) throw err;
      hosted = await hostHub(hubUrl);
      if (hosted) say(`* no hub answered at ${hubUrl}; hosting one here (other chats on this machine will use it)`);
      agent = await connect();
    }
    try {
      await runChat(ctx, agent, flags.room, hosted !== undefined);
    } finally {
      await agent.close();
      await hosted?.close();
      process.stdin.destroy();
    }
  });
}

async function resolveHubUrl(flags: ChatFlags): Promise<string | undefined> {
  try {
    return (await loadSettings({ options: settingsFromFlags(flags), configFile: flags.config, optionsLabel: 'flags' })).hubUrl[0];
  } catch {
    return defaultSettings().hubUrl[0];
  }
}

function isLocalHttp(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' && (u.hostname === 'localhost' || /^127\./.test(u.hostname));
  } catch {
    return false;
  }
}

/** Starts a hub at the URL's address; undefined if another chat won the race to it. */
async function hostHub(url: string): Promise<Hub | undefined> {
  const u = new URL(url);
  try {
    return await startHub({ host: u.hostname === 'localhost' ? '127.0.0.1' : u.hostname, port: Number(u.port || 80), path: u.pathname });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') return undefined;
    throw err;
  }
}

function runChat(ctx: CliContext, agent: Agent, roomName: string, hosting: boolean): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const rl = createInterface({ input: process.stdin, output: ctx.stdout, prompt: '> ', terminal: Boolean(process.stdin.isTTY) });
    let closed = false;
    // After close, no prompt: readline's prompt() resumes stdin, which would keep the process alive.
    const print = (line: string): void => (closed ? void ctx.stdout.write(`${line}\n`) : printAbove(rl, ctx.stdout, line));
    let room: Room | undefined;

    agent.on('message', (m) => print(formatMessage(m)));
    // Those already there when we join are listed once by the join message below.
    agent.on('peer-joined', (p) => room && print(`* ${cleanForTerminal(p.name)} joined (${p.path})`));
    agent.on('peer-left', (p) => print(`* ${cleanForTerminal(p.name)} left (${p.reason})`));
    agent.on('path-changed', (c) => print(`* ${cleanForTerminal(c.name)}: ${c.from} → ${c.to}`));
    agent.on('file-offer', (f) => print(`* ${cleanForTerminal(f.fromName)} is sending ${cleanForTerminal(f.name)} (${formatBytes(f.size)})`));
    agent.on('file-progress', (p) => showProgress(p.direction === 'send' ? `→ ${p.name}` : `← ${p.name}`, p.bytes, p.size));
    agent.on('file-received', (f) => print(`* received ${cleanForTerminal(f.name)} from ${cleanForTerminal(f.fromName)}: ${f.path} (${formatBytes(f.size)}, SHA-256 verified)`));
    agent.on('file-failed', (f) => print(`! file ${cleanForTerminal(f.name)} ${f.direction === 'send' ? 'to' : 'from'} ${f.peerId}: ${f.reason}`));
    agent.on('error', (e) => print(`! ${e.code}: ${cleanForTerminal(e.message)}`));
    const showProgress = (label: string, bytes: number, size: number): void => {
      if (closed || !process.stdin.isTTY) return;
      // One line, redrawn in place; the prompt comes back when the transfer is done.
      ctx.stdout.write(`\r\u001b[2K${progressBar(bytes, size, cleanForTerminal(label))}`);
      if (bytes >= size) {
        ctx.stdout.write('\n');
        rl.prompt(true);
      }
    };
    agent.on('hub', (state) => {
      if (state === 'reconnecting') print('* hub connection lost; reconnecting…');
      else if (state === 'connected') print('* hub reconnected');
      else if (state === 'closed' && !closed) print('* hub connection closed; P2P links stay up while they last');
    });

    const quit = (): void => {
      rl.close();
    };
    rl.on('close', () => {
      closed = true;
      if (hosting) ctx.stdout.write('* this chat was hosting the hub; other chats lose it now\n');
      resolve();
    });
    void ctx.untilSignal().then(quit);

    rl.on('line', (line) => {
      void handleLine(line.trim()).catch((err: unknown) => print(`! ${(err as Error).message}`));
      rl.prompt();
    });

    async function handleLine(line: string): Promise<void> {
      if (!room || line === '') return;
      if (!line.startsWith('/')) {
        await room.send(line);
        return;
      }
      const [command = '', ...rest] = line.split(/\s+/);
      switch (command) {
        case '/quit':
        case '/exit':
          quit();
          return;
        case '/help':
          print(HELP);
          return;
        case '/peers':
          print(room.peers().length === 0 ? '* nobody else is here yet' : formatPeersTable(room.peers()));
          return;
        case '/file': {
          const [path = '', who] = rest;
          if (path === '') {
            print('! usage: /file <path> [peer]');
            return;
          }
          const peer = who === undefined ? undefined : findPeer(room.peers(), who);
          if (who !== undefined && !peer) {
            print(`! no peer '${who}' (see /peers)`);
            return;
          }
          const sent = await room.sendFile(path, peer ? { to: peer.peerId } : {});
          const names = sent.deliveredTo.map((id) => cleanForTerminal(room?.peer(id)?.name ?? id)).join(', ');
          print(`* sent ${cleanForTerminal(sent.name)} (${formatBytes(sent.size)}) to ${names}; SHA-256 ${sent.sha256.slice(0, 16)}… verified by them`);
          return;
        }
        case '/verify': {
          const [who = ''] = rest;
          const peer = findPeer(room.peers(), who);
          if (!peer) {
            print(`! no peer '${who}' (see /peers)`);
            return;
          }
          if (!agent.fingerprint || !peer.fingerprint) {
            print('! /verify needs end-to-end encryption on both sides (--e2ee)');
            return;
          }
          print(
            `* ${cleanForTerminal(peer.name)}: ${peer.fingerprint}\n* you:  ${agent.fingerprint}\n` +
              '* compare them over another channel (call, in person); if they match, nobody is in between',
          );
          return;
        }
        case '/msg': {
          const [who = '', ...words] = rest;
          const peer = findPeer(room.peers(), who);
          if (!peer) {
            print(`! no peer '${who}' (see /peers)`);
            return;
          }
          const text = words.join(' ');
          if (text === '') {
            print('! usage: /msg <peer> <text>');
            return;
          }
          await room.send(text, { to: peer.peerId });
          print(`→ ${cleanForTerminal(peer.name)}: ${text}`);
          return;
        }
        default:
          print(`! unknown command ${command}; /help lists them`);
      }
    }

    agent
      .join(roomName)
      .then((r) => {
        room = r;
        const others = r.peers().map((p) => cleanForTerminal(p.name));
        print(`* joined '${roomName}' as ${cleanForTerminal(r.self.name)} (${agent.native ? 'native P2P' : 'relay only: ' + (agent.nativeReason ?? '')})`);
        if (agent.fingerprint) print(`* 🔒 end-to-end encrypted; your fingerprint: ${agent.fingerprint}`);
        print(others.length === 0 ? '* nobody else is here yet; /help for commands' : `* here: ${others.join(', ')}`);
        rl.prompt();
      })
      .catch((err: unknown) => {
        rl.close();
        reject(err);
      });
  });
}

function findPeer(peers: PeerInfo[], who: string): PeerInfo | undefined {
  return peers.find((p) => p.name === who) ?? peers.find((p) => p.peerId === who) ?? peers.find((p) => who.length >= 3 && p.peerId.startsWith(who));
}

function formatMessage(m: ReceivedMessage): string {
  const lock = m.encrypted ? ' 🔒' : '';
  const body = m.text !== undefined ? cleanForTerminal(m.text) : `[${(m.data as Uint8Array).length} bytes]`;
  return `${formatTime(m.timestamp)} ${cleanForTerminal(m.name)} [${m.path}]${lock}: ${body}`;
}

/** Prints a line above the prompt without mangling what the user is typing. */
function printAbove(rl: Interface, out: NodeJS.WritableStream, line: string): void {
  if (!process.stdin.isTTY) {
    out.write(`${line}\n`);
    return;
  }
  out.write('\r\u001b[2K');
  out.write(`${line}\n`);
  rl.prompt(true);
}
