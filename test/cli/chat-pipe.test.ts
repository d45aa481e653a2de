/**
 * The terminal commands as people use them: two `chat`s in real terminals (tmux), and `pipe`
 * processes for scripts, plain and --json.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, expect, it, onTestFinished } from 'vitest';
import { useHub } from '../helpers/hub.js';
import { waitUntil } from '../helpers/wait.js';
import { BIN, NO_TMUX, ROOT, Terminal, cleanEnv, freePort, hasTmux } from './helpers.js';

if (!hasTmux) console.warn(NO_TMUX);

describe.skipIf(!hasTmux)('rtc-agent chat in two terminals', () => {
  it('hosts a hub when none answers, then two chats talk P2P and /peers shows it', async () => {
    // A free loopback port stands in for the default 127.0.0.1:8080: same code path, no collisions.
    const port = await freePort();
    const hub = `http://127.0.0.1:${port}/hub`;
    const tag = `${process.pid}-${port}`;
    const alice = Terminal.open(`alice-${tag}`, `node ${BIN} chat --room lobby --name alice --hub ${hub}`, cleanEnv());
    await alice.waitFor(/hosting one here/);
    await alice.waitFor(/joined 'lobby' as alice/);
    const bob = Terminal.open(`bob-${tag}`, `node ${BIN} chat --room lobby --name bob --hub ${hub}`, cleanEnv());
    await bob.waitFor(/here: alice/);
    await alice.waitFor(/bob: relay → p2p/);

    alice.type('hello bob');
    await bob.waitFor(/alice \[p2p\]: hello bob/);
    bob.type('/peers');
    await bob.waitFor(/alice\s+p2p\s+\d+ ms\s+yes/);
    // A direct message is marked as one on both sides.
    bob.type('/msg alice psst');
    await alice.waitFor(/bob → you \(DM\) \[p2p\]: psst/);
    await bob.waitFor(/you → alice \(DM\): psst/);
    // Escape sequences from a peer (here a script piping raw bytes into the room) are shown inert.
    const sender = spawn(process.execPath, [BIN, 'pipe', '--room', 'lobby', '--hub', hub, '--name', 'mallory', '--wait-peers', '2'], { env: cleanEnv(), cwd: ROOT });
    sender.stdin.end('evil \u001b]0;pwned\u0007 title \u001b[2J end\n');
    // Whole escape sequences are removed (nothing of the title or the clear is left), not just their ESC.
    await alice.waitFor(/mallory \[(p2p|relay)\]: evil  title  end/);
    expect(alice.screen()).not.toContain('pwned');
    expect(alice.screen()).toContain('hello bob'); // the screen was not cleared

    bob.type('/quit');
    await alice.waitFor(/bob left \(left\)/);
    await waitUntil(() => !bob.alive(), { what: "bob's chat (and its tmux session) to end after /quit", intervalMs: 100 });
  });
});

describe.skipIf(!hasTmux)('rtc-agent chat with E2EE', () => {
  it('shows lock marks, matching fingerprints in /verify, and delivers a verified /file', async () => {
    const { mkdtempSync, writeFileSync, readFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { createHash, randomBytes } = await import('node:crypto');
    const hub = await useHub();
    const base = mkdtempSync(join(tmpdir(), 'rtc-chat-e2ee-'));
    const data = randomBytes(2_000_000);
    writeFileSync(join(base, 'report.bin'), data);
    const tag = `${process.pid}-${hub.port}`;
    const flags = `--room r --e2ee --room-secret s3cret --hub ${hub.url}`;
    const alice = Terminal.open(`ea-${tag}`, `node ${BIN} chat ${flags} --name alice --download-dir ${base}/a`, cleanEnv({ XDG_CONFIG_HOME: `${base}/cfg-a` }));
    const aliceScreen = await alice.waitFor(/your fingerprint: ([0-9A-F]{4} ){7}[0-9A-F]{4}/);
    const aliceFp = /your fingerprint: ((?:[0-9A-F]{4} ?){8})/.exec(aliceScreen)![1]!.trim();
    const bob = Terminal.open(`eb-${tag}`, `node ${BIN} chat ${flags} --name bob --download-dir ${base}/b`, cleanEnv({ XDG_CONFIG_HOME: `${base}/cfg-b` }));
    await bob.waitFor(/here: alice/);
    alice.type('sealed hello');
    await bob.waitFor(/alice \[(p2p|relay)\] 🔒: sealed hello/);
    bob.type('/verify alice');
    await bob.waitFor(new RegExp(`\\* alice: ${aliceFp}`));
    // Each side has its own identity (its own XDG_CONFIG_HOME): the two fingerprints differ.
    const bobFp = /\* you: +((?:[0-9A-F]{4} ?){8})/.exec(await bob.waitFor(/\* you: /))![1]!.trim();
    expect(bobFp).not.toBe(aliceFp);
    alice.type(`/file ${base}/report.bin`);
    // Chat asks before a file lands on disk.
    await bob.waitFor(/alice offers report\.bin \(1\.9 MiB\): \/accept to take it/);
    bob.type('/accept');
    await bob.waitFor(/received report\.bin from alice: .*SHA-256 verified/);
    await alice.waitFor(/sent report\.bin .* to bob/);
    expect(createHash('sha256').update(readFileSync(join(base, 'b', 'report.bin'))).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
  });
});

describe('rtc-agent pipe', () => {
  function pipe(args: string[], env = cleanEnv()) {
    const child = spawn(process.execPath, [BIN, 'pipe', ...args], { env, cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    onTestFinished(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    const lines: string[] = [];
    const waiters: (() => void)[] = [];
    createInterface({ input: child.stdout }).on('line', (l) => {
      lines.push(l);
      for (const w of waiters.splice(0)) w();
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exit = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? `${signal}: ${stderr.slice(-1500)}`)));
    return {
      child,
      lines,
      exit,
      stderr: () => stderr,
      async waitFor(match: (l: string) => boolean, ms = 15_000): Promise<string> {
        const deadline = Date.now() + ms;
        for (;;) {
          const hit = lines.find(match);
          if (hit) return hit;
          if (Date.now() > deadline) throw new Error(`no matching line; got ${JSON.stringify(lines)}; stderr ${stderr}`);
          await new Promise<void>((r) => {
            const t = setTimeout(r, deadline - Date.now());
            waiters.push(() => {
              clearTimeout(t);
              r();
            });
          });
        }
      },
    };
  }

  it('sends stdin lines to the room and prints what arrives, plain and --json; EOF delivers, leaves and exits 0', async () => {
    const hub = await useHub();
    const receiver = pipe(['--room', 'p', '--hub', hub.url, '--name', 'rx', '--json', '--keep-open']);
    const plain = pipe(['--room', 'p', '--hub', hub.url, '--name', 'rx2', '--keep-open']);
    const sender = pipe(['--room', 'p', '--hub', hub.url, '--name', 'tx', '--wait-peers', '2']);
    sender.child.stdin.write('first line\n');
    sender.child.stdin.write('second line\n');
    sender.child.stdin.end();
    expect(await sender.exit).toBe(0);

    const first = JSON.parse(await receiver.waitFor((l) => l.includes('first line')));
    expect(first).toMatchObject({ type: 'message', room: 'p', name: 'tx', text: 'first line', encrypted: false });
    expect(['p2p', 'relay']).toContain(first.path);
    await receiver.waitFor((l) => l.includes('second line'));
    const messages = receiver.lines.map((l) => JSON.parse(l)).filter((e) => e.type === 'message');
    expect(messages.map((m) => m.text)).toEqual(['first line', 'second line']);
    expect(receiver.lines.map((l) => JSON.parse(l).type)).toEqual(expect.arrayContaining(['peer-joined', 'message', 'peer-left']));
    await plain.waitFor((l) => l === 'tx: second line');
    expect(plain.lines.filter((l) => l.startsWith('tx: '))).toEqual(['tx: first line', 'tx: second line']);

    receiver.child.kill('SIGTERM');
    plain.child.kill('SIGINT');
    expect(await receiver.exit).toBe(0);
    expect(await plain.exit).toBe(0);
  });

  it('fails clearly on bad flags, bad config and an unreachable hub', async () => {
    const noRoom = pipe(['--hub', 'http://127.0.0.1:9/hub']);
    expect(await noRoom.exit).toBe(2);
    expect(noRoom.stderr()).toContain("required option '--room <room>' not specified");

    const badTimeout = pipe(['--room', 'x', '--ice-timeout', 'soon']);
    expect(await badTimeout.exit).toBe(2);
    expect(badTimeout.stderr()).toContain("option '--ice-timeout <ms>' argument 'soon' is invalid");

    const badEnv = pipe(['--room', 'x'], cleanEnv({ RTC_AGENT_HEARTBEAT_INTERVAL_MS: 'often' }));
    expect(await badEnv.exit).toBe(2);
    expect(badEnv.stderr()).toMatch(/RTC_ERR_CONFIG: setting 'heartbeatIntervalMs' from env RTC_AGENT_HEARTBEAT_INTERVAL_MS/);

    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const file = join(mkdtempSync(join(tmpdir(), 'rtc-cfg-')), 'bad.json');
    writeFileSync(file, '{"hubUlr": "http://x"}');
    const badFile = pipe(['--room', 'x', '--config', file]);
    expect(await badFile.exit).toBe(2);
    expect(badFile.stderr()).toContain("unknown setting 'hubUlr' (did you mean 'hubUrl'?)");

    const port = await freePort();
    const unreachable = pipe(['--room', 'x', '--hub', `http://127.0.0.1:${port}/hub`]);
    unreachable.child.stdin.end();
    expect(await unreachable.exit).toBe(3);
    expect(unreachable.stderr()).toContain(`RTC_ERR_HUB_UNREACHABLE: cannot reach hub http://127.0.0.1:${port}/hub: nothing is listening on 127.0.0.1:${port}: start a hub there`);
  });
});
