/**
 * Where the daemon listens and how it starts and stops: socket claims, TCP with a token (one token
 * file per daemon address), signals. Daemons are real `rtc-agent daemon` processes.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useHub } from '../helpers/hub.js';
import { childEnv, http, readEvents, runCli, spawnCli, startDaemonProc, useTmpDir, within } from './helpers.js';

describe('rtc-agent daemon lifecycle', () => {
  it('refuses a second daemon on a live socket, and replaces a stale one', async () => {
    const hub = await useHub();
    const first = await startDaemonProc(hub.url, ['--room', 'r']);
    const second = await runCli(['daemon', '--hub', hub.url, '--room', 'r', '--socket', first.socket]);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`another daemon is running at ${first.socket}`);
    expect(second.stdout).toBe('');
    expect((await http(first.socket, 'GET', '/status')).status).toBe(200);

    // SIGKILL leaves the socket file behind: a stale socket that the next daemon replaces.
    first.child.kill('SIGKILL');
    await within(first.exit, 5_000, 'kill');
    expect(statSync(first.socket).isSocket()).toBe(true);
    const third = spawnCli(['daemon', '--hub', hub.url, '--room', 'r', '--socket', first.socket]);
    expect(await third.firstLine).toBe(first.socket);
    expect((await http(first.socket, 'GET', '/status')).body.rooms).toEqual([{ room: 'r', self: expect.any(String), peers: expect.any(Number) }]); // the killed one may linger until the hub notices

    // A path that is not a socket is left alone.
    const dir = useTmpDir();
    const file = join(dir, 'not-a-socket');
    await import('node:fs/promises').then((fs) => fs.writeFile(file, 'keep me'));
    const onFile = await runCli(['daemon', '--hub', hub.url, '--socket', file]);
    expect(onFile.code).toBe(1);
    expect(onFile.stderr).toContain(`${file} exists and is not a socket`);
    expect(readFileSync(file, 'utf8')).toBe('keep me');
  });

  it('uses $XDG_RUNTIME_DIR/rtc-agent/daemon.sock by default (directory 0700) and clients find it', async () => {
    const hub = await useHub();
    const runtime = useTmpDir();
    const env = childEnv({ XDG_RUNTIME_DIR: runtime });
    const d = spawnCli(['daemon', '--hub', hub.url, '--room', 'r'], env);
    const socket = join(runtime, 'rtc-agent', 'daemon.sock');
    expect(await d.firstLine).toBe(socket);
    expect(statSync(join(runtime, 'rtc-agent')).mode & 0o777).toBe(0o700);
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    const status = await runCli(['status', '--json'], { env });
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ control: { socketPath: socket }, rooms: [{ room: 'r' }] });
    d.child.kill('SIGINT');
    expect(await within(d.exit, 10_000, 'exit')).toBe(0);
    expect(existsSync(socket)).toBe(false);
  });

  it('serves loopback TCP only with the bearer token (401 otherwise)', async () => {
    const hub = await useHub();
    const token = 'a-test-token-that-is-long-enough';
    const env = childEnv({ RTC_AGENT_DAEMON_TOKEN: token, XDG_RUNTIME_DIR: useTmpDir() });
    const d = spawnCli(['daemon', '--hub', hub.url, '--room', 'r', '--listen', '127.0.0.1:0'], env);
    const url = await d.firstLine;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const none = await http({ url }, 'GET', '/status');
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer');
    expect(none.body.error.code).toBe('RTC_ERR_UNAUTHORIZED');
    expect((await http({ url, token: 'wrong-token-wrong-token' }, 'GET', '/metrics')).status).toBe(401);
    expect((await http({ url, token: 'wrong' }, 'POST', '/stop')).status).toBe(401);
    // A token from the environment is the user's own: no file is written for it.
    const dir = join(env.XDG_RUNTIME_DIR!, 'rtc-agent');
    expect(existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.token')) : []).toEqual([]);
    const ok = await http({ url, token }, 'GET', '/status');
    expect(ok.status).toBe(200);
    expect(ok.body.control).toEqual({ url });
    const stream = await readEvents({ url, token });
    expect(stream.events[0].type).toBe('ready');

    // The CLI clients: token from the env var, from --token; none → exit 4 (auth refused).
    expect((await runCli(['status', '--url', url], { env })).code).toBe(0);
    const noToken = await runCli(['peers', '--url', url], { env: childEnv({ XDG_RUNTIME_DIR: useTmpDir() }) });
    expect(noToken.code).toBe(4);
    expect(noToken.stderr).toContain('RTC_ERR_UNAUTHORIZED');
    expect((await runCli(['stop', '--url', url, '--token', token], { env: childEnv() })).code).toBe(0);
    expect(await within(d.exit, 10_000, 'exit')).toBe(0);
  });

  it('gives each --listen daemon its own 0600 token file named by its address; a second daemon never invalidates the first', async () => {
    const hub = await useHub();
    const runtime = useTmpDir();
    const env = childEnv({ XDG_RUNTIME_DIR: runtime });
    const dir = join(runtime, 'rtc-agent');
    const first = spawnCli(['daemon', '--hub', hub.url, '--name', 'first', '--listen', '127.0.0.1:0'], env);
    const url1 = await first.firstLine;
    const second = spawnCli(['daemon', '--hub', hub.url, '--name', 'second', '--listen', 'localhost:0'], env);
    const url2 = await second.firstLine;
    const file1 = join(dir, `daemon-127.0.0.1-${portOf(url1)}.token`);
    const file2 = join(dir, `daemon-localhost-${portOf(url2)}.token`);
    expect(readdirSync(dir).filter((f) => f.endsWith('.token')).sort()).toEqual([`daemon-127.0.0.1-${portOf(url1)}.token`, `daemon-localhost-${portOf(url2)}.token`].sort());
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const token1 = readFileSync(file1, 'utf8').trim();
    const token2 = readFileSync(file2, 'utf8').trim();
    for (const [d, file, token] of [[first, file1, token1], [second, file2, token2]] as const) {
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(token.length).toBeGreaterThanOrEqual(40);
      expect(d.stderr()).toContain(`control API token written to ${file}`);
      expect(d.stderr()).not.toContain(token);
    }
    expect(token1).not.toBe(token2);

    // Each token opens its own daemon only; the second daemon's start changed nothing for the first.
    expect((await http({ url: url1, token: token1 }, 'GET', '/status')).status).toBe(200);
    expect((await http({ url: url2, token: token2 }, 'GET', '/status')).status).toBe(200);
    expect((await http({ url: url1, token: token2 }, 'GET', '/status')).status).toBe(401);
    expect((await http({ url: url2, token: token1 }, 'GET', '/status')).status).toBe(401);
    // Clients given only --url find the file of that address.
    for (const [url, name] of [[url1, 'first'], [url2, 'second']] as const) {
      const status = await runCli(['status', '--url', url, '--json'], { env });
      expect(status.code, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout)).toMatchObject({ name, control: { url } });
    }
    expect((await runCli(['status', '--url', url1, '--token-file', file1], { env: childEnv() })).code).toBe(0);

    // SIGTERM removes the first daemon's file and nothing else; the second keeps working.
    first.child.kill('SIGTERM');
    expect(await within(first.exit, 10_000, 'first exit')).toBe(0);
    expect(existsSync(file1)).toBe(false);
    expect(readFileSync(file2, 'utf8').trim()).toBe(token2);
    expect((await runCli(['peers', '--url', url2], { env })).code).toBe(0);
    // POST /stop (rtc-agent stop) removes the second's.
    const stop = await runCli(['stop', '--url', url2], { env });
    expect(stop.code, stop.stderr).toBe(0);
    expect(await within(second.exit, 10_000, 'second exit')).toBe(0);
    expect(readdirSync(dir).filter((f) => f.endsWith('.token'))).toEqual([]);
  });

  it("replaces a killed daemon's stale token file; a daemon refused on a taken port leaves the holder's file alone", async () => {
    const hub = await useHub();
    const runtime = useTmpDir();
    const env = childEnv({ XDG_RUNTIME_DIR: runtime });
    const d = spawnCli(['daemon', '--hub', hub.url, '--listen', '127.0.0.1:0'], env);
    const url = await d.firstLine;
    const port = portOf(url);
    const file = join(runtime, 'rtc-agent', `daemon-127.0.0.1-${port}.token`);
    const token = readFileSync(file, 'utf8').trim();

    // Another daemon on the same address is refused before it touches anything.
    const clash = await runCli(['daemon', '--hub', hub.url, '--listen', `127.0.0.1:${port}`], { env });
    expect(clash.code).toBe(1);
    expect(clash.stderr).toContain(`another process is listening on 127.0.0.1:${port}`);
    expect(clash.stdout).toBe('');
    expect(readFileSync(file, 'utf8').trim()).toBe(token);
    expect((await runCli(['status', '--url', url], { env })).code).toBe(0);

    // SIGKILL leaves the file behind; the next daemon on that port writes a fresh token over it.
    d.child.kill('SIGKILL');
    await within(d.exit, 5_000, 'kill');
    expect(readFileSync(file, 'utf8').trim()).toBe(token);
    const next = spawnCli(['daemon', '--hub', hub.url, '--listen', `127.0.0.1:${port}`], env);
    expect(await next.firstLine).toBe(url);
    const fresh = readFileSync(file, 'utf8').trim();
    expect(fresh).not.toBe(token);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect((await http({ url, token: fresh }, 'GET', '/status')).status).toBe(200);
    expect((await http({ url, token }, 'GET', '/status')).status).toBe(401);
    expect((await runCli(['status', '--url', url], { env })).code).toBe(0);
    // SIGINT removes it.
    next.child.kill('SIGINT');
    expect(await within(next.exit, 10_000, 'exit')).toBe(0);
    expect(existsSync(file)).toBe(false);
  });

  it('refuses non-loopback --listen and conflicting flags with exit 2', async () => {
    const bad = await runCli(['daemon', '--listen', '0.0.0.0:7070']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('the control API only listens on loopback');
    const both = await runCli(['daemon', '--listen', '127.0.0.1:0', '--socket', '/tmp/x.sock']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('give either --socket or --listen');
    const junk = await runCli(['daemon', '--listen', 'nonsense']);
    expect(junk.code).toBe(2);
    expect(junk.stderr).toContain('expected HOST:PORT');
  });
});

function portOf(url: string): number {
  return Number(new URL(url).port);
}
