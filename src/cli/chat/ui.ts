/**
 * The chat screen: a readline prompt, room events printed above it, and the in-chat commands.
 * Lines typed while the hub is away are marked and held, then sent once it is back (or refused
 * visibly when nobody is left to receive them).
 */
import { createInterface, type Interface } from 'node:readline';
import type { Agent, PeerInfo, Room } from '../../agent/index.js';
import type { CliContext } from '../context.js';
import { cleanForTerminal, formatBytes, formatPeersTable, progressBar } from '../terminal.js';
import type { FileOffers } from './file-offers.js';
import type { ChatHost } from './hosting.js';
import { directMessage, formatMessage, formatSentDirect } from './messages.js';

export const HELP = `commands:
  /peers              who is here: id, name, path (p2p/relay), RTT, fingerprint
  /msg <peer> <text>  direct message, marked DM on both sides (peer by name or id prefix)
  /file <path>        send a file to everyone (/file <path> <peer> for one)
  /accept, /reject    answer a file offer (/accept 2 for the second of several)
  /verify <peer>      show both fingerprints to compare out of band (E2EE)
  /quit               leave (Ctrl-D or Ctrl-C work too)
  /help               this list`;

export interface ChatOptions {
  agent: Agent;
  room: string;
  host: ChatHost | undefined;
  offers: FileOffers | undefined;
  /** Lines said before the prompt starts (hosting, log file). */
  intro: string[];
  /** Gets the screen's printer (lines above the prompt), for what others have to say. */
  printer?: (print: (line: string) => void) => void;
}

export function runChat(ctx: CliContext, o: ChatOptions): Promise<void> {
  const { agent } = o;
  const tty = Boolean(process.stdin.isTTY);
  return new Promise<void>((resolve, reject) => {
    const rl = createInterface({ input: process.stdin, output: ctx.stdout, prompt: '> ', terminal: tty });
    let closed = false;
    // After close, no prompt: readline's prompt() resumes stdin, which would keep the process alive.
    const print = (line: string): void => (closed ? void ctx.stdout.write(`${line}\n`) : printAbove(rl, ctx.stdout, line, tty));
    let room: Room | undefined;
    /** Lines typed while the hub was away, in order. */
    const held: string[] = [];

    o.printer?.(print);
    for (const line of o.intro) print(line);
    agent.on('message', (m) => print(formatMessage(m)));
    // Those already there when we join are listed once by the join message below.
    agent.on('peer-joined', (p) => room && print(`* ${cleanForTerminal(p.name)} joined (${p.path})`));
    agent.on('peer-left', (p) => print(`* ${cleanForTerminal(p.name)} left (${p.reason})`));
    agent.on('path-changed', (c) => print(`* ${cleanForTerminal(c.name)}: ${c.from} → ${c.to}`));
    agent.on('delivery-refused', (r) => print(`! not delivered: ${cleanForTerminal(r.reason)} (${r.code})`));
    agent.on('file-progress', (p) => showProgress(p.direction === 'send' ? `→ ${p.name}` : `← ${p.name}`, p.bytes, p.size));
    agent.on('file-received', (f) => print(`* received ${cleanForTerminal(f.name)} from ${cleanForTerminal(f.fromName)}: ${f.path} (${formatBytes(f.size)}, SHA-256 verified)`));
    agent.on('file-failed', (f) => print(`! file ${cleanForTerminal(f.name)} ${f.direction === 'send' ? 'to' : 'from'} ${cleanForTerminal(room?.peer(f.peerId)?.name ?? f.peerId)}: ${cleanForTerminal(f.reason)}`));
    agent.on('error', (e) => print(`! ${e.code}: ${cleanForTerminal(e.message)}`));
    const showProgress = (label: string, bytes: number, size: number): void => {
      if (closed || !tty) return;
      // One line, redrawn in place; the prompt comes back when the transfer is done.
      ctx.stdout.write(`\r\u001b[2K${progressBar(bytes, size, cleanForTerminal(label))}`);
      if (bytes >= size) {
        ctx.stdout.write('\n');
        rl.prompt(true);
      }
    };
    agent.on('hub', (state) => {
      if (state === 'reconnecting') print(`* hub connection lost; reconnecting… (lines you type now are held until it is back)`);
      else if (state === 'connected') {
        print('* hub reconnected');
        sendHeld();
      } else if (state === 'closed' && !closed) {
        print('* hub connection closed; P2P links stay up while they last');
        for (const line of held.splice(0)) print(`! not sent (the hub is gone): ${cleanForTerminal(line)}`);
      }
    });

    const sendHeld = (): void => {
      if (!room || held.length === 0) return;
      const lines = held.splice(0);
      if (room.peers().length === 0) {
        for (const line of lines) print(`! not sent (nobody here now that the hub is back): ${cleanForTerminal(line)}`);
        return;
      }
      const r = room;
      void (async () => {
        for (const line of lines) await r.send(line);
        print(`* sent ${lines.length} line(s) typed while the hub was away`);
      })().catch((err: unknown) => print(`! ${(err as Error).message}`));
    };

    const quit = (): void => {
      rl.close();
    };
    let joinError: unknown;
    rl.on('close', () => {
      closed = true;
      o.offers?.close();
      if (joinError !== undefined) {
        reject(joinError);
        return;
      }
      if (o.host?.hosting) ctx.stdout.write('* this chat was hosting the hub; another chat on this machine takes it over\n');
      resolve();
    });
    // Ctrl-C (or SIGTERM) is how people leave a chat: a clean quit, exit 0.
    void ctx.untilSignal().then(quit);

    rl.on('line', (line) => {
      void handleLine(line.trim()).catch((err: unknown) => print(`! ${(err as Error).message}`));
      rl.prompt();
    });

    async function handleLine(line: string): Promise<void> {
      if (!room || line === '') return;
      if (!line.startsWith('/')) {
        if (agent.hubState !== 'connected' && agent.hubState !== 'closed') {
          held.push(line);
          print(`… you (held until the hub is back): ${cleanForTerminal(line)}`);
          return;
        }
        if (room.peers().length === 0) {
          print(`! nobody else is here; not sent: ${cleanForTerminal(line)}`);
          return;
        }
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
        case '/accept':
        case '/reject':
          print(o.offers ? o.offers.answer(command === '/accept', rest[0]) : '! this chat does not ask about files (--accept-files or --no-accept-files decides)');
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
          await room.send(directMessage(text), { to: peer.peerId });
          print(formatSentDirect(peer.name, text));
          return;
        }
        default:
          print(`! unknown command ${command}; /help lists them`);
      }
    }

    agent
      .join(o.room)
      .then((r) => {
        room = r;
        const others = r.peers().map((p) => cleanForTerminal(p.name));
        print(`* joined '${o.room}' as ${cleanForTerminal(r.self.name)} (${agent.native ? 'native P2P' : 'relay only: ' + (agent.nativeReason ?? '')})`);
        if (agent.fingerprint) print(`* 🔒 end-to-end encrypted; your fingerprint: ${agent.fingerprint}`);
        print(others.length === 0 ? '* nobody else is here yet; /help for commands' : `* here: ${others.join(', ')}`);
        rl.prompt();
      })
      .catch((err: unknown) => {
        joinError = err;
        rl.close();
      });
  });
}

function findPeer(peers: PeerInfo[], who: string): PeerInfo | undefined {
  return peers.find((p) => p.name === who) ?? peers.find((p) => p.peerId === who) ?? peers.find((p) => who.length >= 3 && p.peerId.startsWith(who));
}

/** Prints a line above the prompt without mangling what the user is typing. */
function printAbove(rl: Interface, out: NodeJS.WritableStream, line: string, tty: boolean): void {
  if (!tty) {
    out.write(`${line}\n`);
    return;
  }
  out.write('\r\u001b[2K');
  out.write(`${line}\n`);
  rl.prompt(true);
}
