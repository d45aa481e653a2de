/**
 * Command-line conventions, with the built CLI in child processes: EPIPE, -v, NO_COLOR and
 * FORCE_COLOR, exit codes on SIGINT/SIGTERM, checks made before connecting (exit 2 naming the
 * argument, no connection attempted), the "waiting for peers" line on a terminal, shell completion.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { PeerJoined } from '../../src/index.js';
import { nextEvent, useAgent } from '../helpers/agents.js';
import { useHub } from '../helpers/hub.js';
import { waitUntil } from '../helpers/wait.js';
import { BIN, NO_TMUX, ROOT, Terminal, cleanEnv, cli, hasTmux, run } from './helpers.js';

if (!hasTmux) console.warn(NO_TMUX);

/** A TCP listener that counts connections: proof that a command did not even try to connect. */
async function countingListener(): Promise<{ url: string; accepted: () => number }> {
  let accepted = 0;
  const server: Server = createServer((s) => {
    accepted++;
    s.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hub`, accepted: () => accepted };
}

describe('output conventions', () => {
  it('prints no stack when the reader of stdout is gone (EPIPE), for help and for a long-running pipe', async () => {
    for (const args of [['--help'], ['completion', 'bash']]) {
      const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
      // Gone before the CLI writes a byte: every write fails with EPIPE.
      child.stdout.destroy();
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
      expect(stderr, args.join(' ')).toBe('');
      expect(code, args.join(' ')).toBe(0);
    }
    // As in `rtc-agent --help | head -2`, through a real shell pipe.
    const shell = spawnSync('bash', ['-c', `set -o pipefail; node ${BIN} --help | head -2`], { cwd: ROOT, env: cleanEnv(), encoding: 'utf8' });
    expect(shell.stderr).toBe('');
    expect(shell.stdout.split('\n')[0]).toBe('Usage: rtc-agent [options] [command]');

    // A pipe following a room stops when its reader goes away, leaving the room (peers see it leave).
    const hub = await useHub();
    const watcher = await useAgent(hub.url, { name: 'watcher' });
    const room = await watcher.join('epipe');
    const follower = spawn(process.execPath, [BIN, 'pipe', '--room', 'epipe', '--hub', hub.url, '--name', 'follower', '--json', '--keep-open'], { cwd: ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    onTestFinished(() => void follower.kill('SIGKILL'));
    let stderr = '';
    follower.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await waitUntil(() => room.peers().some((p) => p.name === 'follower'), { what: 'the follower to join' });
    const left = nextEvent(watcher, 'peer-left', (p: { name: string }) => p.name === 'follower', 15_000);
    follower.stdout.destroy();
    await room.send('anyone reading?');
    expect(await left).toMatchObject({ reason: 'left' });
    expect(await new Promise((resolve) => follower.once('close', (c) => resolve(c)))).toBe(0);
    expect(stderr).toBe('');
  });

  it('-v and --version print the version', async () => {
    const { version } = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { version: string };
    for (const flag of ['-v', '--version']) {
      const r = await run([flag]);
      expect(r).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
    }
  });

  it('colors logs on a terminal unless NO_COLOR; FORCE_COLOR colors them through a pipe', async () => {
    const started = async (env: NodeJS.ProcessEnv): Promise<string> => {
      const hub = cli(['hub', '--port', '0'], { env, stdin: 'ignore' });
      await hub.waitFor(() => true);
      await waitUntil(() => hub.stderr().includes('listening'), { what: 'the hub to log that it listens' });
      hub.child.kill('SIGTERM');
      expect(await hub.exit).toBe(0);
      return hub.stderr();
    };
    expect(await started(cleanEnv())).toMatch(/^\{"level":30/); // a pipe: JSON lines, no color
    expect(await started(cleanEnv({ FORCE_COLOR: '1' }))).toContain('\u001b[');
    const both = await started(cleanEnv({ FORCE_COLOR: '1', NO_COLOR: '1' }));
    expect(both).not.toContain('\u001b[');
    expect(both).toContain('listening'); // still the human-readable form FORCE_COLOR asked for
  });

  it.skipIf(!hasTmux)('colors logs on a terminal, and not with NO_COLOR', async () => {
    const tag = `${process.pid}-${Date.now()}`;
    const colored = Terminal.open(`color-${tag}`, `node ${BIN} hub --port 0`);
    await colored.waitFor(/listening/);
    expect(colored.screen(true)).toContain('\u001b[');
    const plain = Terminal.open(`nocolor-${tag}`, `node ${BIN} hub --port 0`, cleanEnv({ NO_COLOR: '1' }));
    await plain.waitFor(/listening/);
    expect(plain.screen(true)).not.toMatch(/\u001b\[[0-9;]*m/);
  });
});

describe('checks before connecting: exit 2, naming the argument, nothing contacted', () => {
  it('a missing or unreadable file, a bad room name, a malformed or blocked hub URL', async () => {
    const listener = await countingListener();
    const cases: [string[], RegExp][] = [
      [['send-file', '/nonexistent/x.bin', '--room', 'r', '--hub', listener.url], /send-file: \/nonexistent\/x\.bin: no such file/],
      [['send-file', ROOT, '--room', 'r', '--hub', listener.url], /is a directory/],
      [['pipe', '--room', 'bad room', '--hub', listener.url], /option '--room <room>' argument 'bad room' is invalid\. room names are 1-64 of A-Z a-z 0-9 \. _ - starting with a letter or digit/],
      [['chat', '--room', '../x', '--hub', listener.url], /option '--room <room>' argument '\.\.\/x' is invalid/],
      [['daemon', '--room', 'ok', '--room', 'n/o', '--hub', listener.url], /option '--room <room>' argument 'n\/o' is invalid/],
      [['pipe', '--room', 'r', '--hub', 'not-a-url'], /setting 'hubUrl' from --hub must be/],
      [['pipe', '--room', 'r', '--hub', 'http://127.0.0.1:6000/hub'], /--hub: http:\/\/127\.0\.0\.1:6000\/hub: port 6000 is one that fetch\(\) .* refuses to connect to.*e\.g\. rtc-agent hub --port 8080/],
      [['chat', '--room', 'r', '--hub', 'http://127.0.0.1:9/hub'], /port 9 is one that fetch\(\)/],
    ];
    for (const [args, message] of cases) {
      const r = await run(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /); // a message, not a stack
    }
    expect(listener.accepted()).toBe(0);
  });
});

describe('exit codes on SIGINT and SIGTERM', () => {
  it('a signal before the job is done exits 128+n after cleaning up; where it is the way to stop, 0', async () => {
    const hub = await useHub();
    const watcher = await useAgent(hub.url, { name: 'watcher' });
    const room = await watcher.join('sig');
    const joined = (name: string): Promise<PeerJoined> => nextEvent<PeerJoined>(watcher, 'peer-joined', (p: PeerJoined) => p.name === name, 15_000);

    // pipe waiting for peers that never come: interrupted.
    for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
      const name = `waiter-${signal}`;
      const seen = joined(name);
      const p = cli(['pipe', '--room', 'sig', '--hub', hub.url, '--name', name, '--wait-peers', '5']);
      await seen;
      const left = nextEvent(watcher, 'peer-left', (x: { name: string }) => x.name === name, 15_000);
      p.child.kill(signal);
      expect(await p.exit).toBe(code);
      expect(await left).toMatchObject({ reason: 'left' }); // it left the room on its way out
      expect(p.stderr()).toBe('');
    }
    // send-file waiting for a peer that never comes: interrupted.
    const seen = joined('sender');
    const sf = cli(['send-file', `${ROOT}package.json`, '--room', 'sig', '--hub', hub.url, '--name', 'sender', '--to', 'nobody']);
    await seen;
    sf.child.kill('SIGINT');
    expect(await sf.exit).toBe(130);

    // pipe --keep-open: a signal is how it stops.
    const follower = joined('follower');
    const keep = cli(['pipe', '--room', 'sig', '--hub', hub.url, '--name', 'follower', '--keep-open']);
    keep.child.stdin!.end();
    await follower;
    keep.child.kill('SIGINT');
    expect(await keep.exit).toBe(0);

    // A second signal while closing ends at once, with 128+n.
    const stubborn = cli(['hub', '--port', '0'], { stdin: 'ignore' });
    await stubborn.waitFor(() => true);
    stubborn.child.kill('SIGINT');
    stubborn.child.kill('SIGINT');
    expect([0, 130]).toContain(await stubborn.exit);
    void room;
  });

  it.skipIf(!hasTmux)('Ctrl-C in chat is a clean quit: exit 0', async () => {
    const hub = await useHub();
    const t = Terminal.open(`ctrlc-${process.pid}-${hub.port}`, `sh -c 'node ${BIN} chat --room c --name quitter --hub ${hub.url}; echo "exit=$?"; sleep 30'`);
    await t.waitFor(/joined 'c' as quitter/);
    t.key('C-c');
    await t.waitFor(/exit=0/);
  });
});

describe.skipIf(!hasTmux)('waiting for peers on a terminal', () => {
  it('shows "waiting for N peer(s) in \'room\' (Ns left)…" until they come, then clears it', async () => {
    const hub = await useHub();
    const t = Terminal.open(`wait-${process.pid}-${hub.port}`, `sh -c 'echo hi | node ${BIN} pipe --room w --hub ${hub.url} --wait-peers 1 --wait-timeout 60000; echo "exit=$?"; sleep 30'`);
    await t.waitFor(/waiting for 1 peer\(s\) in 'w' \(\d+s left\)…/);
    const peer = await useAgent(hub.url, { name: 'late' });
    const got = new Promise<string | undefined>((resolve) => peer.on('message', (m) => resolve(m.text)));
    await peer.join('w');
    expect(await got).toBe('hi');
    const screen = await t.waitFor(/exit=0/);
    expect(screen).not.toContain('waiting for');
  });
});

describe('shell completion', () => {
  const complete = (script: string, words: string[]): string[] => {
    const cword = words.length - 1;
    const out = execFileSync('bash', ['-c', `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${cword}; _rtc_agent; printf '%s\\n' "\${COMPREPLY[@]}"`], { encoding: 'utf8' });
    return out.split('\n').filter(Boolean);
  };

  it('bash completes commands, their flags and flag values', async () => {
    const { stdout, code } = await run(['completion', 'bash']);
    expect(code).toBe(0);
    expect(complete(stdout, ['rtc-agent', 'se'])).toEqual(['send', 'send-file']);
    expect(complete(stdout, ['rtc-agent', 'pipe', '--wait'])).toEqual(['--wait-peers', '--wait-timeout']);
    expect(complete(stdout, ['rtc-agent', 'chat', '--log-level', 'w'])).toEqual(['warn']);
    expect(complete(stdout, ['rtc-agent', 'chat', '--ice-transport-policy', ''])).toEqual(['all', 'relay']);
    expect(complete(stdout, ['rtc-agent', 'completion', ''])).toEqual(['bash', 'zsh', 'fish']);
    expect(complete(stdout, ['rtc-agent', 'token', '--'])).toContain('--secret');
  });

  it('zsh and fish scripts are valid for their shells', async () => {
    for (const shell of ['zsh', 'fish'] as const) {
      const { stdout, code } = await run(['completion', shell]);
      expect(code).toBe(0);
      expect(stdout).toContain('send-file');
      if (spawnSync(shell, ['--version']).status !== 0) {
        console.warn(`${shell} completion: syntax not checked, ${shell} is not installed`);
        continue;
      }
      const check = spawnSync(shell, ['-n'], { input: stdout, encoding: 'utf8' });
      expect(check.status, check.stderr).toBe(0);
    }
    const bad = await run(['completion', 'tcsh']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("'tcsh' is invalid for argument 'shell'. Allowed choices are bash, zsh, fish.");
  });
});
